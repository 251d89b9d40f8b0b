//! Classification (DESIGN.md §2.2–2.5): the six [`dimension`]s, the [`policy`] that holds every
//! threshold, the [`activity`] that feeds it, the pure [`engine`] that classifies, and the stored
//! [`record`] of a customer's classes with overrides and history.

pub mod activity;
pub mod dimension;
pub mod engine;
pub mod policy;
pub mod record;
pub mod service;

pub use activity::{ActivitySummary, Interaction, InteractionChannel, InteractionId, OrderRef, Purchase};
pub use dimension::{Behaviour, ClassValue, Dimension, Grade, LifecycleStage, RankTier, SizeSegment, ValueTier};
pub use engine::{Assessment, ClassificationInput, RuleClass, classify};
pub use policy::{ClassificationPolicy, Money, PolicyVersion, PolicyVersionId, ServicePlan};
pub use record::{
    ClassChange, ClassOverride, ClassSource, Classification, DimensionClass, HistoryEntry, HistoryId, HistorySource,
    Rfm, plan_for,
};
pub use service::{
    BATCH_SIZE, ClassificationService, Classifier, MAX_REPORTED_CUSTOMERS, NewPurchase, PolicyPreview, PreviewSample,
    ReclassifyProgress, ReclassifyReport, RecordedPurchase,
};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
