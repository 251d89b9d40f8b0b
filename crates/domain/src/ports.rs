//! The ports the domain needs from the outside world, as traits. Persistence implements them;
//! the domain's services use them. Each method's error contract is part of the port: an adapter
//! must turn its driver's errors into exactly these [`CustomerError`] cases.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{
    access::{
        AccessSnapshot, ApiKeyId, ApiKeyPrefix, ApiKeyRecord, AuditEvent, AuditQuery, BindingId, CustomerFacts,
        Principal, Role, RoleBinding, RoleName,
    },
    classification::{
        ClassValue, ClassificationPolicy, Dimension, HistoryEntry, HistoryId, Interaction, InteractionId, Money,
        OrderRef, PolicyVersion, PolicyVersionId, Purchase,
    },
    customer::values::Department,
    customer::{
        Customer, RequestId, Version,
        values::{CustomerId, PrincipalName},
    },
    error::CustomerError,
    listing::ListQuery,
};

/// Where customers are stored.
///
/// Every method may fail with [`CustomerError::Unexpected`] (e.g. the database is unreachable);
/// other cases are listed per method. Writes are atomic: after an error nothing was written.
pub trait CustomerRepository: Send + Sync + 'static {
    /// Stores a new customer, remembering `request_id` (if any) as the request that created it.
    ///
    /// # Errors
    /// [`CustomerError::AlreadyExists`] when a customer with this id, or a customer created by
    /// the same `request_id`, exists (deleted or not).
    ///
    /// `history` (the customer's first classification) is appended in the same transaction.
    fn insert(
        &self,
        customer: &Customer,
        request_id: Option<RequestId>,
        history: &[HistoryEntry],
    ) -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// The customer with this id, deleted or not; `None` if there is none.
    fn find(&self, id: &CustomerId) -> impl Future<Output = Result<Option<Customer>, CustomerError>> + Send;

    /// The customers with these ids that exist (deleted or not), in any order, each once.
    fn find_many(&self, ids: &[CustomerId]) -> impl Future<Output = Result<Vec<Customer>, CustomerError>> + Send;

    /// The owner, department and grade of the customer with this id (deleted or not), read by
    /// primary key without the rest of the row; `None` if there is no such customer. Access
    /// decisions need only these. An implementation may answer from a cache that its own writes
    /// keep exact and that another replica's writes reach as their notification does.
    fn find_facts(&self, id: &CustomerId) -> impl Future<Output = Result<Option<CustomerFacts>, CustomerError>> + Send;

    /// The facts of the customers with these ids that exist (deleted or not), in any order, each
    /// once, in one query.
    fn find_facts_many(
        &self,
        ids: &[CustomerId],
    ) -> impl Future<Output = Result<Vec<(CustomerId, CustomerFacts)>, CustomerError>> + Send;

    /// The customer that the create with this request id made, if any.
    fn find_by_request_id(
        &self,
        request_id: RequestId,
    ) -> impl Future<Output = Result<Option<Customer>, CustomerError>> + Send;

    /// Replaces `previous`, the customer as it was read, with `customer` if, and only if, its
    /// stored version is still `previous.version`. This compare-and-set is what keeps concurrent
    /// writers from losing updates. `history` is appended in the same transaction. Knowing what was
    /// read lets the store write only what changed (a write that leaves the tags and history
    /// alone is a single statement).
    ///
    /// # Errors
    /// [`CustomerError::EtagMismatch`] when the stored version is not `previous.version` (someone
    /// else wrote in between); [`CustomerError::NotFound`] when there is no such customer.
    fn replace(
        &self,
        previous: &Customer,
        customer: &Customer,
        history: &[HistoryEntry],
    ) -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// Up to `limit` customers matching `query` (its filter **and** its scope), in its order,
    /// starting after its cursor. [`ListScope::Nothing`](crate::access::ListScope::Nothing) returns nothing without querying.
    fn list(&self, query: &ListQuery, limit: u32) -> impl Future<Output = Result<Vec<Customer>, CustomerError>> + Send;
}

/// What recording a purchase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseWrite {
    /// The purchase was new and is stored, with the customer's new state.
    Recorded,
    /// A purchase with this order reference was recorded before (this one is returned); nothing
    /// was written.
    AlreadyRecorded(Purchase),
}

/// Which history rows to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// One customer's rows, or (`None`) every customer's within `scope`.
    pub customer: Option<CustomerId>,
    /// Whose rows may be read when `customer` is `None`.
    pub scope: Option<crate::access::ListScope>,
    /// Only this dimension's rows.
    pub dimension: Option<Dimension>,
    /// Only rows that moved to this value.
    pub to_value: Option<ClassValue>,
    /// Only rows at or after this time.
    pub start: Option<DateTime<Utc>>,
    /// Only rows before this time.
    pub end: Option<DateTime<Utc>>,
    /// Only rows older than this one (the page cursor).
    pub before: Option<HistoryId>,
}

/// The number of customers with one value of one dimension (in one department, when grouped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCount {
    /// The dimension.
    pub dimension: Dimension,
    /// The value; `None` for customers not classified yet.
    pub value: Option<ClassValue>,
    /// The department when grouped by department (`None` also for customers without one).
    pub department: Option<Department>,
    /// How many non-deleted customers.
    pub count: u64,
}

/// The window sums of one customer's purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSums {
    /// Positive purchases in the window.
    pub orders: u32,
    /// Their total, refunds subtracted.
    pub revenue: Money,
}

/// How a batch re-classification run writes, as [`Pacing::plan`] decides before each part of a
/// batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePlan {
    /// The most changed customers written by one statement (at least one).
    pub chunk: usize,
    /// How many such statements run at once (at least one).
    pub parallel: usize,
}

/// How a batch re-classification run shares the machine with the requests being served. The
/// run asks [`plan`](Pacing::plan) before writing each part of a batch and awaits
/// [`rest`](Pacing::rest) after it, so that the process it runs in can make it write in small
/// parts and pause while callers are waiting, and at full speed when nobody is.
pub trait Pacing: Send + Sync {
    /// How to write the next part of a batch.
    fn plan(&self) -> WritePlan;

    /// Returns when the run may write its next part (at once, or after a pause).
    fn rest(&self) -> impl Future<Output = ()> + Send;
}

/// [`Pacing`] that never pauses: each batch in one statement, as fast as the store goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FullSpeed;

impl Pacing for FullSpeed {
    fn plan(&self) -> WritePlan {
        WritePlan {
            chunk: usize::MAX,
            parallel: 1,
        }
    }

    fn rest(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// Where activity, policies, classifications and their history are stored.
///
/// Every method may fail with [`CustomerError::Unexpected`]; other cases are listed per method.
/// Writes are atomic.
pub trait ClassificationRepository: Send + Sync + 'static {
    /// The active policy version, if one was ever activated.
    fn active_policy(&self) -> impl Future<Output = Result<Option<PolicyVersion>, CustomerError>> + Send;

    /// The policy version with this number.
    fn find_policy(
        &self,
        version: PolicyVersionId,
    ) -> impl Future<Output = Result<Option<PolicyVersion>, CustomerError>> + Send;

    /// Up to `limit` policy versions older than `before` (all when `None`), newest first.
    fn list_policies(
        &self,
        before: Option<PolicyVersionId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PolicyVersion>, CustomerError>> + Send;

    /// Stores `policy` as the next version (the highest so far + 1), active when `activate`.
    fn insert_policy(
        &self,
        policy: &ClassificationPolicy,
        description: &str,
        creator: Option<&PrincipalName>,
        time: DateTime<Utc>,
        activate: bool,
    ) -> impl Future<Output = Result<PolicyVersion, CustomerError>> + Send;

    /// Makes `version` the only active version.
    ///
    /// # Errors
    /// [`CustomerError::PolicyVersionNotFound`] when there is no such version.
    fn activate_policy(
        &self,
        version: PolicyVersionId,
        time: DateTime<Utc>,
    ) -> impl Future<Output = Result<PolicyVersion, CustomerError>> + Send;

    /// Stores `purchase` and, in the same transaction, `customer` (its new aggregates and
    /// classification) if its stored version is still `expected`, with `history`.
    ///
    /// # Errors
    /// [`CustomerError::EtagMismatch`] when the customer's version moved on (nothing written).
    fn record_purchase(
        &self,
        purchase: &Purchase,
        customer: &Customer,
        expected: Version,
        history: &[HistoryEntry],
    ) -> impl Future<Output = Result<PurchaseWrite, CustomerError>> + Send;

    /// The purchase of `customer` with this order reference.
    fn find_purchase(
        &self,
        customer: &CustomerId,
        order_ref: &OrderRef,
    ) -> impl Future<Output = Result<Option<Purchase>, CustomerError>> + Send;

    /// Up to `limit` purchases of `customer` older than `after` (by occurrence time, then order
    /// reference), newest first.
    fn list_purchases(
        &self,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, OrderRef)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Purchase>, CustomerError>> + Send;

    /// Stores an interaction.
    fn insert_interaction(&self, interaction: &Interaction) -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// Up to `limit` interactions of `customer` older than `after`, newest first.
    fn list_interactions(
        &self,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, InteractionId)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Interaction>, CustomerError>> + Send;

    /// Writes `customer`'s aggregates and classification (and bumps its version and update
    /// time as `customer` says) if its stored version is still `expected`, with `history`.
    ///
    /// # Errors
    /// [`CustomerError::EtagMismatch`] when the version moved on; [`CustomerError::NotFound`].
    fn write_classification(
        &self,
        customer: &Customer,
        expected: Version,
        history: &[HistoryEntry],
    ) -> impl Future<Output = Result<(), CustomerError>> + Send;

    /// Writes every `(customer, expected)` of a batch as [`write_classification`] would, and all
    /// of `history`, in one transaction. Returns the ids whose version had moved on: those were
    /// not written and their history rows were not appended.
    ///
    /// [`write_classification`]: ClassificationRepository::write_classification
    fn write_classifications(
        &self,
        batch: &[(Customer, Version)],
        history: &[HistoryEntry],
    ) -> impl Future<Output = Result<Vec<CustomerId>, CustomerError>> + Send;

    /// How many customers are not deleted.
    fn count_live(&self) -> impl Future<Output = Result<u64, CustomerError>> + Send;

    /// Up to `limit` non-deleted customers with ids greater than `after`, in id order.
    fn scan_live(
        &self,
        after: Option<&CustomerId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Customer>, CustomerError>> + Send;

    /// The window sums of each of `customers`' purchases at or after `window_start`; customers
    /// without such purchases are left out.
    fn window_sums(
        &self,
        customers: &[CustomerId],
        window_start: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(CustomerId, WindowSums)>, CustomerError>> + Send;

    /// Up to `limit` history rows matching `query`, newest first.
    fn list_history(
        &self,
        query: &HistoryQuery,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<HistoryEntry>, CustomerError>> + Send;

    /// Counts of non-deleted customers within `scope` per value of each dimension (and per
    /// department when `by_department`).
    fn segment_counts(
        &self,
        scope: &crate::access::ListScope,
        by_department: bool,
    ) -> impl Future<Output = Result<Vec<SegmentCount>, CustomerError>> + Send;
}

/// How an [`AccessRepository`] operation failed. Every method may fail with
/// [`AccessStoreError::Unexpected`]; the other cases are listed per method.
#[derive(Debug, thiserror::Error)]
pub enum AccessStoreError {
    /// The named principal, role, binding or key does not exist (the text is its name or id).
    #[error("not found: {0}")]
    NotFound(String),
    /// A principal, role, binding or key with this name, id or prefix already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The store cannot be used right now (unreachable, not answering in time, no free
    /// connection): nothing was done, and a retry later may succeed. Logged only.
    #[error("store unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else, such as a stored row that no longer parses. Logged only, never shown to a
    /// caller.
    #[error("unexpected: {0}")]
    Unexpected(Box<dyn std::error::Error + Send + Sync>),
}

impl AccessStoreError {
    /// Wraps any error as [`AccessStoreError::Unexpected`].
    pub fn unexpected(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unexpected(error.into())
    }

    /// Wraps any error as [`AccessStoreError::Unavailable`].
    pub fn unavailable(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(error.into())
    }
}

/// Where principals, custom roles, role bindings, API keys and the audit log are stored.
///
/// Built-in roles are never stored: they are defined in code and implied by
/// [`load_snapshot`](Self::load_snapshot). Every method may fail with
/// [`AccessStoreError::Unexpected`]; other cases are listed per method. Writes are atomic: after an
/// error nothing was written.
pub trait AccessRepository: Send + Sync + 'static {
    /// Stores a new principal.
    ///
    /// # Errors
    /// [`AccessStoreError::AlreadyExists`] when a principal has this name.
    fn insert_principal(&self, principal: &Principal) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Replaces the stored principal of the same name (every field; its create time stays).
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no principal has this name.
    fn update_principal(&self, principal: &Principal) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// The principal with this name; `None` if there is none.
    fn get_principal(
        &self,
        name: &PrincipalName,
    ) -> impl Future<Output = Result<Option<Principal>, AccessStoreError>> + Send;

    /// Deletes the principal with this name together with its role bindings and API keys (its
    /// audit events stay).
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no principal has this name.
    fn delete_principal(&self, name: &PrincipalName) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Every principal, by name.
    fn list_principals(&self) -> impl Future<Output = Result<Vec<Principal>, AccessStoreError>> + Send;

    /// Stores a new custom role (its `built_in` flag is ignored).
    ///
    /// # Errors
    /// [`AccessStoreError::AlreadyExists`] when a custom role has this name, or it is the name of
    /// a built-in role (which always exists).
    fn insert_role(&self, role: &Role) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Replaces the title and permissions of the custom role of the same name.
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no custom role has this name (built-in roles are never
    /// stored, so they cannot be updated).
    fn update_role(&self, role: &Role) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Deletes the custom role with this name. Bindings of the role stay and grant nothing.
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no custom role has this name.
    fn delete_role(&self, name: &RoleName) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Every custom role, by name; never the built-in ones.
    fn list_roles(&self) -> impl Future<Output = Result<Vec<Role>, AccessStoreError>> + Send;

    /// Stores a new role binding. Its role need not exist (a binding of an unknown role grants
    /// nothing).
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] naming the principal when it does not exist;
    /// [`AccessStoreError::AlreadyExists`] when a binding has this id.
    fn insert_binding(&self, binding: &RoleBinding) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Deletes the binding with this id.
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no binding has this id.
    fn delete_binding(&self, id: BindingId) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Every role binding, by id (which is creation order).
    fn list_bindings(&self) -> impl Future<Output = Result<Vec<RoleBinding>, AccessStoreError>> + Send;

    /// Stores a new API key.
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] naming the principal when it does not exist;
    /// [`AccessStoreError::AlreadyExists`] when a key has this id or this prefix.
    fn insert_api_key(&self, key: &ApiKeyRecord) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// The key with this prefix, revoked or expired or not; `None` if there is none.
    fn find_api_key_by_prefix(
        &self,
        prefix: &ApiKeyPrefix,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, AccessStoreError>> + Send;

    /// Revokes the key with this id at `time` and returns it as stored afterwards. Revoking a
    /// revoked key changes nothing: the first revoke time stays.
    ///
    /// # Errors
    /// [`AccessStoreError::NotFound`] when no key has this id.
    fn revoke_api_key(
        &self,
        id: ApiKeyId,
        time: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiKeyRecord, AccessStoreError>> + Send;

    /// Every key that is not revoked (expired ones too), of every principal, by id: what the
    /// server holds in memory to authenticate requests without a query per call.
    fn list_unrevoked_api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>, AccessStoreError>> + Send;

    /// Every key of the principal (revoked and expired ones too), by id (creation order).
    fn list_api_keys(
        &self,
        principal: &PrincipalName,
    ) -> impl Future<Output = Result<Vec<ApiKeyRecord>, AccessStoreError>> + Send;

    /// Appends one event to the audit log.
    ///
    /// # Errors
    /// [`AccessStoreError::AlreadyExists`] when an event has this id.
    fn append_audit_event(&self, event: &AuditEvent) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// Appends several events to the audit log in one statement (all or none).
    ///
    /// # Errors
    /// [`AccessStoreError::AlreadyExists`] when an event has one of these ids.
    fn append_audit_events(&self, events: &[AuditEvent]) -> impl Future<Output = Result<(), AccessStoreError>> + Send;

    /// The events `query` selects, newest first by `(time, id)`.
    fn list_audit_events(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, AccessStoreError>> + Send;

    /// Everything a decision needs, read with one query per table: every principal, custom role
    /// and binding, with the built-in roles implied.
    fn load_snapshot(&self) -> impl Future<Output = Result<AccessSnapshot, AccessStoreError>> + Send;
}
