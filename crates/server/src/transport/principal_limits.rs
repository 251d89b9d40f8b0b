//! Per-principal limits, so that one caller cannot take the whole service: how many calls one
//! principal may have in flight at once, and how many it may start per second.
//!
//! **Settings** ([`PrincipalLimitSettings`]): a default for every principal
//! (`--principal-max-concurrent`, `--principal-rate`, `--principal-rate-burst`) and overrides in
//! the config file, keyed by role (`roles/{id}`) or by principal (`principals/{id}`), each
//! setting any of `max_concurrent`, `rate` and `rate_burst`. For each limit the most specific
//! setting wins: the principal's own, else the most generous of those of the roles it holds
//! through a live binding, else the default ([`PrincipalLimitSettings::effective`]). A rate and
//! its burst are one setting: an override that sets `rate` sets both (the burst defaults to the
//! rate), so a burst is never combined with another level's rate.
//!
//! **Enforcement** ([`PrincipalLimiter::admit`]), in the authentication layer once the caller is
//! known, before the global limit (so a principal at its own limit takes no global slot):
//! - concurrency: a count of calls in flight per principal, under one mutex, held by a
//!   [`PrincipalSlot`] until the response's last frame (a server-streaming call counts until it
//!   ends, like the global limit) and removed when it drops to zero, so memory is bounded by the
//!   principals with calls in flight. A count rather than a `Semaphore` per principal: admission
//!   never waits, so there is nothing to wake, and a limit that changes (a role granted or
//!   revoked) applies to the next call without swapping semaphores that old permits still point
//!   to.
//! - rate: `governor`'s GCRA, one keyed limiter (keyed by principal) per distinct configured
//!   rate, since a keyed limiter has a single quota. Keys whose state is indistinguishable from a
//!   fresh one are swept every minute ([`SWEEP_EVERY`]).
//!
//! A refused call is answered RESOURCE_EXHAUSTED at once, never queued, with a `RetryInfo` (the
//! time until the rate allows the next call, or [`CONCURRENCY_RETRY_DELAY`]) and a `QuotaFailure`
//! naming the limit, and counted in `crm_limited_requests_total{limit=...}`. Health and
//! reflection have no caller and are never limited per principal.

use std::{
    collections::HashMap,
    fmt,
    num::NonZeroU32,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use crm_api::{convert::ProtoEnum as _, crm::v1 as pb, proto_enum};
use crm_domain::{
    access::{AccessSnapshot, RoleName},
    customer::values::PrincipalName,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use serde::Deserialize;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, QuotaViolation, StatusExt as _};

use crate::{
    metrics::{Limit, Metrics},
    transport::body::BodyGuard,
};

/// The default most calls one principal may have in flight.
pub const DEFAULT_PRINCIPAL_MAX_CONCURRENT: u32 = 64;

/// How long a caller refused by a concurrency limit is told to wait: how long the calls in flight
/// take is unknown, and a second is long next to a typical call.
pub(crate) const CONCURRENCY_RETRY_DELAY: Duration = Duration::from_secs(1);

/// How often rate limiter keys that hold no state worth keeping are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Where an effective limit was set (the proto's `LimitSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// The server's default for every principal.
    Default,
    /// An override for a role the principal holds.
    Role,
    /// An override for the principal itself.
    Principal,
}

/// A rate limit: `per_second` calls per second on average, up to `burst` at once. A
/// `per_second` of 0 means no limit (and a burst of 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rate {
    per_second: u32,
    burst: u32,
}

impl Rate {
    /// No rate limit.
    pub const OFF: Self = Self {
        per_second: 0,
        burst: 0,
    };

    /// `per_second` calls per second with a burst of `burst` (`None` or 0: as many as
    /// `per_second`); a `per_second` of 0 is no limit.
    pub fn new(per_second: u32, burst: Option<u32>) -> Self {
        if per_second == 0 {
            return Self::OFF;
        }
        Self {
            per_second,
            burst: burst.filter(|burst| *burst > 0).unwrap_or(per_second),
        }
    }

    /// Calls per second; 0 when off.
    pub fn per_second(self) -> u32 {
        self.per_second
    }

    /// The burst; 0 when off.
    pub fn burst(self) -> u32 {
        self.burst
    }

    /// The governor quota, `None` when off.
    fn quota(self) -> Option<Quota> {
        Some(Quota::per_second(NonZeroU32::new(self.per_second)?).allow_burst(NonZeroU32::new(self.burst)?))
    }

    /// Orders rates from the strictest to the most generous: no limit above every limit, then by
    /// rate, then by burst.
    fn generosity(self) -> (bool, u32, u32) {
        (self.per_second == 0, self.per_second, self.burst)
    }
}

/// Orders concurrency limits from the strictest to the most generous (0, no limit, last).
fn concurrency_generosity(limit: u32) -> (bool, u32) {
    (limit == 0, limit)
}

/// What a config file override sets; unset limits fall through to the next less specific level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawOverride")]
pub struct LimitOverride {
    /// The most calls in flight; 0 means no limit.
    pub max_concurrent: Option<u32>,
    /// The rate and its burst.
    pub rate: Option<Rate>,
}

/// An override as written in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    max_concurrent: Option<u32>,
    rate: Option<u32>,
    rate_burst: Option<u32>,
}

impl TryFrom<RawOverride> for LimitOverride {
    type Error = String;

    fn try_from(raw: RawOverride) -> Result<Self, Self::Error> {
        if raw.rate.is_none() && raw.rate_burst.is_some() {
            return Err(
                "`rate_burst` needs a `rate` beside it (a burst applies to the rate it is set with)".to_owned(),
            );
        }
        Ok(Self {
            max_concurrent: raw.max_concurrent,
            rate: raw.rate.map(|rate| Rate::new(rate, raw.rate_burst)),
        })
    }
}

/// Whom a config file override is for: the key of a `[principal_limits."..."]` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum LimitTarget {
    /// Every principal holding this role (`roles/{id}`).
    Role(RoleName),
    /// This principal (`principals/{id}`).
    Principal(PrincipalName),
}

impl TryFrom<String> for LimitTarget {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if raw.starts_with(RoleName::PREFIX) {
            RoleName::parse(&raw)
                .map(Self::Role)
                .map_err(|e| format!("limit override `{raw}`: {e}"))
        } else if raw.starts_with(PrincipalName::PREFIX) {
            PrincipalName::parse(&raw)
                .map(Self::Principal)
                .map_err(|e| format!("limit override `{raw}`: {e}"))
        } else {
            Err(format!(
                "limit override `{raw}`: the key must be a role (`roles/{{id}}`) or a principal (`principals/{{id}}`)"
            ))
        }
    }
}

/// The per-principal limits a server is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalLimitSettings {
    /// The default most calls in flight per principal; 0 means no limit.
    pub max_concurrent: u32,
    /// The default rate.
    pub rate: Rate,
    /// Overrides for the principals holding a role.
    pub roles: HashMap<RoleName, LimitOverride>,
    /// Overrides for single principals.
    pub principals: HashMap<PrincipalName, LimitOverride>,
}

impl Default for PrincipalLimitSettings {
    fn default() -> Self {
        Self {
            max_concurrent: DEFAULT_PRINCIPAL_MAX_CONCURRENT,
            rate: Rate::OFF,
            roles: HashMap::new(),
            principals: HashMap::new(),
        }
    }
}

/// Where one effective limit was set, with the role when a role set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Default,
    Role(RoleName),
    Principal,
}

impl Origin {
    pub(crate) fn source(&self) -> LimitSource {
        match self {
            Self::Default => LimitSource::Default,
            Self::Role(_) => LimitSource::Role,
            Self::Principal => LimitSource::Principal,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the server's default"),
            Self::Role(role) => write!(f, "set for {role}"),
            Self::Principal => f.write_str("set for this principal"),
        }
    }
}

/// The limits in force for one principal, each with where it was set. The authentication layer
/// attaches them to the request (WhoAmI reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EffectiveLimits {
    /// The most calls in flight; 0 means no limit.
    pub(crate) max_concurrent: u32,
    pub(crate) max_concurrent_origin: Origin,
    pub(crate) rate: Rate,
    pub(crate) rate_origin: Origin,
}

proto_enum!(LimitSource => LimitSource {
    Default = Default,
    Role = Role,
    Principal = Principal,
});

impl EffectiveLimits {
    /// The limits a caller is held to, with where each was set, as `WhoAmI` shows them.
    pub(crate) fn to_proto(&self) -> pb::CallerLimits {
        pb::CallerLimits {
            max_concurrent: self.max_concurrent,
            max_concurrent_source: self.max_concurrent_origin.source().to_number(),
            rate_per_second: self.rate.per_second(),
            rate_burst: self.rate.burst(),
            rate_source: self.rate_origin.source().to_number(),
        }
    }
}

impl PrincipalLimitSettings {
    /// Adds the overrides of a config file.
    pub fn with_overrides(mut self, overrides: impl IntoIterator<Item = (LimitTarget, LimitOverride)>) -> Self {
        for (target, limits) in overrides {
            match target {
                LimitTarget::Role(role) => self.roles.insert(role, limits),
                LimitTarget::Principal(principal) => self.principals.insert(principal, limits),
            };
        }
        self
    }

    /// The limits of `principal`, which holds `roles`: for each limit the principal's own
    /// override, else the most generous override among its roles, else the default.
    pub(crate) fn effective<'a>(
        &self,
        principal: &PrincipalName,
        roles: impl IntoIterator<Item = &'a RoleName>,
    ) -> EffectiveLimits {
        let own = self.principals.get(principal);
        let mut concurrent = own
            .and_then(|o| o.max_concurrent)
            .map(|limit| (limit, Origin::Principal));
        let mut rate = own.and_then(|o| o.rate).map(|rate| (rate, Origin::Principal));
        if (concurrent.is_none() || rate.is_none()) && !self.roles.is_empty() {
            let mut role_concurrent: Option<(u32, Origin)> = None;
            let mut role_rate: Option<(Rate, Origin)> = None;
            for role in roles {
                let Some(set) = self.roles.get(role) else {
                    continue;
                };
                if let Some(limit) = set.max_concurrent
                    && role_concurrent
                        .as_ref()
                        .is_none_or(|(best, _)| concurrency_generosity(limit) > concurrency_generosity(*best))
                {
                    role_concurrent = Some((limit, Origin::Role(role.clone())));
                }
                if let Some(candidate) = set.rate
                    && role_rate
                        .as_ref()
                        .is_none_or(|(best, _)| candidate.generosity() > best.generosity())
                {
                    role_rate = Some((candidate, Origin::Role(role.clone())));
                }
            }
            concurrent = concurrent.or(role_concurrent);
            rate = rate.or(role_rate);
        }
        let (max_concurrent, max_concurrent_origin) = concurrent.unwrap_or((self.max_concurrent, Origin::Default));
        let (rate, rate_origin) = rate.unwrap_or((self.rate, Origin::Default));
        EffectiveLimits {
            max_concurrent,
            max_concurrent_origin,
            rate,
            rate_origin,
        }
    }

    /// Every distinct rate these settings can give a principal (each needs its own limiter).
    fn rates(&self) -> impl Iterator<Item = Rate> + '_ {
        std::iter::once(self.rate)
            .chain(self.roles.values().filter_map(|o| o.rate))
            .chain(self.principals.values().filter_map(|o| o.rate))
    }
}

/// RESOURCE_EXHAUSTED for `limit` (whose value is `value`), with a `RetryInfo` of `retry_after`
/// and a `QuotaFailure` violation naming the limit (subject and quota id) and describing it.
pub(crate) fn limit_reached(limit: Limit, value: u32, description: String, retry_after: Duration) -> Status {
    let message = format!("{description}; retry after the delay in RetryInfo, with exponential backoff");
    let mut violation = QuotaViolation::new(limit.name(), description);
    violation.quota_id = limit.name().to_owned();
    violation.quota_value = i64::from(value);
    let mut details = ErrorDetails::with_retry_info(Some(retry_after));
    details.set_quota_failure(vec![violation]);
    Status::with_error_details(Code::ResourceExhausted, message, details)
}

/// Enforces [`PrincipalLimitSettings`]; one per server, shared by every connection.
pub(crate) struct PrincipalLimiter {
    settings: PrincipalLimitSettings,
    /// Calls in flight per principal; a principal without any has no entry.
    in_flight: Mutex<HashMap<PrincipalName, u32>>,
    /// One keyed limiter per distinct configured rate.
    rates: HashMap<Rate, DefaultKeyedRateLimiter<PrincipalName>>,
    metrics: Arc<Metrics>,
    started: Instant,
    /// When (seconds after `started`) the rate limiters are next swept.
    next_sweep: AtomicU64,
}

impl fmt::Debug for PrincipalLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalLimiter")
            .field("settings", &self.settings)
            .field("rates", &self.rates.len())
            .finish_non_exhaustive()
    }
}

impl PrincipalLimiter {
    pub(crate) fn new(settings: PrincipalLimitSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        let rates = settings
            .rates()
            .filter_map(|rate| rate.quota().map(|quota| (rate, RateLimiter::keyed(quota))))
            .collect();
        Arc::new(Self {
            settings,
            in_flight: Mutex::new(HashMap::new()),
            rates,
            metrics,
            started: Instant::now(),
            next_sweep: AtomicU64::new(SWEEP_EVERY.as_secs()),
        })
    }

    /// The limits of `principal` now.
    pub(crate) fn effective(
        &self,
        snapshot: &AccessSnapshot,
        principal: &PrincipalName,
        now: DateTime<Utc>,
    ) -> EffectiveLimits {
        if self.settings.roles.is_empty() {
            // No role can matter: do not walk the bindings.
            return self.settings.effective(principal, std::iter::empty());
        }
        self.settings.effective(principal, snapshot.live_roles(principal, now))
    }

    /// Admits a call of `principal` under `limits`, or refuses it (and counts the refusal) with
    /// the answer to send. The slot counts the call until it is dropped.
    pub(crate) fn admit(
        self: &Arc<Self>,
        principal: &PrincipalName,
        limits: &EffectiveLimits,
    ) -> Result<PrincipalSlot, Status> {
        self.sweep_if_due();
        // Concurrency first: a call refused for it must not spend a rate token.
        let slot = if limits.max_concurrent == 0 {
            PrincipalSlot::none()
        } else {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            let count = in_flight.entry(principal.clone()).or_insert(0);
            if *count >= limits.max_concurrent {
                let count = *count;
                drop(in_flight);
                return Err(self.refuse(
                    Limit::PrincipalConcurrency,
                    limits.max_concurrent,
                    format!(
                        "{principal} has {count} calls in flight, the most it may have at once ({})",
                        limits.max_concurrent_origin
                    ),
                    CONCURRENCY_RETRY_DELAY,
                ));
            }
            *count += 1;
            PrincipalSlot {
                held: Some((Arc::clone(self), principal.clone())),
            }
        };
        if let Some(limiter) = self.rates.get(&limits.rate)
            && let Err(not_until) = limiter.check_key(principal)
        {
            // A zero wait would invite an immediate retry that may well be refused again.
            let wait = not_until
                .wait_time_from(limiter.clock().now())
                .max(Duration::from_millis(1));
            drop(slot);
            return Err(self.refuse(
                Limit::PrincipalRate,
                limits.rate.per_second,
                format!(
                    "{principal} is over its rate of {} calls per second, burst {} ({})",
                    limits.rate.per_second, limits.rate.burst, limits.rate_origin
                ),
                wait,
            ));
        }
        Ok(slot)
    }

    fn refuse(&self, limit: Limit, value: u32, description: String, retry_after: Duration) -> Status {
        self.metrics.limited(limit);
        // Debug only: the call's "rpc finished" line already reports it, and a caller over its
        // limit should not make the server write two lines per refused call.
        tracing::debug!(limit = limit.name(), %description, "request refused: a per-principal limit is reached");
        limit_reached(limit, value, description, ceil_millis(retry_after))
    }

    /// Forgets rate limiter keys whose state equals a fresh one, at most once per
    /// [`SWEEP_EVERY`], so that principals that stopped calling cost no memory.
    fn sweep_if_due(&self) {
        let now = self.started.elapsed().as_secs();
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now < due
            || self
                .next_sweep
                .compare_exchange(due, now + SWEEP_EVERY.as_secs(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for limiter in self.rates.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shrink_to_fit();
    }

    /// How many principals have calls in flight (for tests).
    #[cfg(test)]
    fn principals_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn release(&self, principal: &PrincipalName) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(principal);
            }
        }
    }
}

/// A delay rounded up to whole milliseconds (RetryInfo's precision that clients act on).
fn ceil_millis(delay: Duration) -> Duration {
    let millis = delay.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// One call of a principal counted against its concurrency limit, until dropped (at the end of
/// the response's last frame, or when the call is abandoned).
#[derive(Debug)]
pub(crate) struct PrincipalSlot {
    held: Option<(Arc<PrincipalLimiter>, PrincipalName)>,
}

impl PrincipalSlot {
    /// A slot that counts nothing (no limit, or no caller).
    pub(crate) fn none() -> Self {
        Self { held: None }
    }
}

impl Drop for PrincipalSlot {
    fn drop(&mut self) {
        if let Some((limiter, principal)) = self.held.take() {
            limiter.release(&principal);
        }
    }
}

impl BodyGuard for PrincipalSlot {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn role(id: &str) -> RoleName {
        RoleName::from_id(id).unwrap()
    }

    fn principal(id: &str) -> PrincipalName {
        PrincipalName::from_id(id).unwrap()
    }

    fn settings() -> PrincipalLimitSettings {
        let file: HashMap<LimitTarget, LimitOverride> = toml::from_str(
            r#"
            "roles/importer" = { max_concurrent = 4, rate = 10, rate_burst = 20 }
            "roles/analyst" = { max_concurrent = 8, rate = 5 }
            "roles/unlimited" = { max_concurrent = 0 }
            "principals/bulk" = { rate = 2 }
            "#,
        )
        .unwrap();
        PrincipalLimitSettings::default().with_overrides(file)
    }

    #[test]
    fn without_overrides_every_principal_gets_the_defaults() {
        let limits = settings().effective(&principal("alice"), &[role("sales_rep")]);
        assert_eq!(limits.max_concurrent, DEFAULT_PRINCIPAL_MAX_CONCURRENT);
        assert_eq!(limits.max_concurrent_origin, Origin::Default);
        assert_eq!(limits.rate, Rate::OFF);
        assert_eq!(limits.rate_origin, Origin::Default);
    }

    #[test]
    fn the_most_generous_role_wins_limit_by_limit() {
        let limits = settings().effective(&principal("alice"), &[role("importer"), role("analyst")]);
        assert_eq!(limits.max_concurrent, 8);
        assert_eq!(limits.max_concurrent_origin, Origin::Role(role("analyst")));
        assert_eq!(limits.rate, Rate::new(10, Some(20)));
        assert_eq!(limits.rate_origin, Origin::Role(role("importer")));

        // 0 is no limit, more generous than any number.
        let limits = settings().effective(&principal("alice"), &[role("analyst"), role("unlimited")]);
        assert_eq!(limits.max_concurrent, 0);
        assert_eq!(limits.max_concurrent_origin, Origin::Role(role("unlimited")));
        assert_eq!(limits.rate, Rate::new(5, None));
    }

    #[test]
    fn the_principals_own_setting_beats_its_roles_and_the_rest_falls_through() {
        let limits = settings().effective(&principal("bulk"), &[role("importer")]);
        assert_eq!(limits.rate, Rate::new(2, Some(2)));
        assert_eq!(limits.rate_origin, Origin::Principal);
        assert_eq!(limits.max_concurrent, 4);
        assert_eq!(limits.max_concurrent_origin, Origin::Role(role("importer")));
    }

    #[test]
    fn the_burst_defaults_to_the_rate_and_zero_is_off() {
        assert_eq!(Rate::new(7, None).burst(), 7);
        assert_eq!(Rate::new(7, Some(0)).burst(), 7);
        assert_eq!(Rate::new(0, Some(9)), Rate::OFF);
    }

    #[test]
    fn bad_override_keys_and_a_burst_without_a_rate_are_rejected() {
        for bad in [
            r#""sales_rep" = { rate = 1 }"#,
            r#""roles/X" = { rate = 1 }"#,
            r#""principals/" = { rate = 1 }"#,
            r#""roles/ok" = { rate_burst = 5 }"#,
            r#""roles/ok" = { burst = 5 }"#,
        ] {
            assert!(
                toml::from_str::<HashMap<LimitTarget, LimitOverride>>(bad).is_err(),
                "{bad}"
            );
        }
    }

    fn metrics() -> Arc<Metrics> {
        Metrics::new(&[])
    }

    #[test]
    fn a_principal_at_its_concurrency_limit_is_refused_and_a_released_slot_is_forgotten() {
        let limiter = PrincipalLimiter::new(settings(), metrics());
        let alice = principal("alice");
        let limits = limiter.settings.effective(&alice, &[role("importer")]);
        let slots: Vec<_> = (0..4).map(|_| limiter.admit(&alice, &limits).unwrap()).collect();
        let refused = limiter.admit(&alice, &limits).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let details = refused.get_error_details();
        assert_eq!(details.retry_info().unwrap().retry_delay, Some(CONCURRENCY_RETRY_DELAY));
        let violation = &details.quota_failure().unwrap().violations[0];
        assert_eq!(violation.subject, "principal_concurrency");
        assert_eq!(violation.quota_value, 4);
        // Another principal is not affected.
        let bob = principal("bob");
        drop(limiter.admit(&bob, &limiter.settings.effective(&bob, &[])).unwrap());
        drop(slots);
        assert_eq!(limiter.principals_in_flight(), 0, "idle principals cost no memory");
        assert!(limiter.admit(&alice, &limits).is_ok());
    }

    #[test]
    fn a_principal_over_its_rate_is_refused_with_the_time_to_wait() {
        let limiter = PrincipalLimiter::new(settings(), metrics());
        let bulk = principal("bulk");
        let limits = limiter.settings.effective(&bulk, &[]);
        assert!(limiter.admit(&bulk, &limits).is_ok());
        assert!(limiter.admit(&bulk, &limits).is_ok());
        let refused = limiter.admit(&bulk, &limits).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let details = refused.get_error_details();
        let wait = details.retry_info().unwrap().retry_delay.unwrap();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500), "{wait:?}");
        assert_eq!(details.quota_failure().unwrap().violations[0].subject, "principal_rate");
        assert_eq!(
            limiter.principals_in_flight(),
            0,
            "the refused call's slot was given back"
        );
    }
}
