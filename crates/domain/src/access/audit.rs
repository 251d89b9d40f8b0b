//! The audit log: one append-only [`AuditEvent`] per mutation and per denied request or check,
//! read newest first with an [`AuditQuery`].

use chrono::{DateTime, SubsecRound, Utc};

use crate::customer::values::PrincipalName;

coded_enum!(
    /// How an audited request ended.
    AuditOutcome {
        /// The request was allowed (and, for a mutation, carried out) (`ALLOWED`).
        Allowed = (1, "ALLOWED"),
        /// The request was denied by access control (`DENIED`).
        Denied = (2, "DENIED"),
        /// The request was allowed but failed for another reason (`FAILED`).
        Failed = (3, "FAILED"),
    }
);

uuid_id!(
    /// The id of an audit event: a UUID v7, so that ids sort by creation time.
    AuditEventId
);

/// One entry of the audit log: who did what to which resource, and how it ended. Never holds a
/// key secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The event's id.
    pub id: AuditEventId,
    /// When it happened, in whole microseconds (what both databases store).
    pub time: DateTime<Utc>,
    /// Who asked; `None` when the caller was not authenticated.
    pub actor: Option<PrincipalName>,
    /// What was asked, such as `customers.update` or the RPC's name.
    pub action: String,
    /// The resource name acted on, such as `customers/acme`.
    pub resource: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Free text for people, such as the deny reason.
    pub detail: String,
}

impl AuditEvent {
    /// The longest `action` stored, in characters; longer ones are cut.
    pub const MAX_ACTION_CHARS: usize = 100;
    /// The longest `resource` stored, in characters; longer ones are cut.
    pub const MAX_RESOURCE_CHARS: usize = 300;
    /// The longest `detail` stored, in characters; longer ones are cut.
    pub const MAX_DETAIL_CHARS: usize = 2000;

    /// A new event with a fresh id, at `time` truncated to whole microseconds.
    ///
    /// The texts are made safe to store whatever a request put into them: control characters
    /// are written as escapes (`\0`; PostgreSQL cannot store NUL, and one event it refuses
    /// would stall the audit writer, which retries a batch until it is stored) and each text is
    /// cut to its maximum, ending in `…`.
    pub fn new(
        time: DateTime<Utc>,
        actor: Option<PrincipalName>,
        action: impl Into<String>,
        resource: impl Into<String>,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            id: AuditEventId::generate(),
            time: time.trunc_subsecs(6),
            actor,
            action: storable(action.into(), Self::MAX_ACTION_CHARS),
            resource: storable(resource.into(), Self::MAX_RESOURCE_CHARS),
            outcome,
            detail: storable(detail.into(), Self::MAX_DETAIL_CHARS),
        }
    }

    /// The position of this event in the log, to continue listing after it.
    pub const fn cursor(&self) -> AuditCursor {
        AuditCursor {
            time: self.time,
            id: self.id,
        }
    }
}

/// `text` with control characters escaped and cut to `max_chars` characters (the last being `…`
/// when it was cut). Text that needs neither is returned as it is, without copying.
fn storable(text: String, max_chars: usize) -> String {
    if !text.chars().any(char::is_control) && text.chars().nth(max_chars).is_none() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if out.chars().nth(max_chars).is_some() {
        let end = out
            .char_indices()
            .nth(max_chars.saturating_sub(1))
            .map_or(out.len(), |(i, _)| i);
        out.truncate(end);
        out.push('…');
    }
    out
}

/// A position in the audit log, which is ordered newest first by `(time, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuditCursor {
    /// The time of the last event seen.
    pub time: DateTime<Utc>,
    /// The id of the last event seen.
    pub id: AuditEventId,
}

/// Which audit events to list: the newest `limit` events matching every given filter and older
/// than `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events of this actor.
    pub actor: Option<PrincipalName>,
    /// Only events on exactly this resource.
    pub resource: Option<String>,
    /// Only events with exactly this action.
    pub action: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events strictly after this position in newest-first order (that is, older).
    pub after: Option<AuditCursor>,
    /// At most this many events.
    pub limit: u32,
}

impl AuditQuery {
    /// The newest `limit` events, unfiltered.
    pub const fn newest(limit: u32) -> Self {
        Self {
            actor: None,
            resource: None,
            action: None,
            since: None,
            until: None,
            after: None,
            limit,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_made_storable_escaped_and_cut() {
        let time = Utc::now();
        let event = AuditEvent::new(
            time,
            None,
            "Get\u{0}",
            "x".repeat(1000),
            AuditOutcome::Denied,
            "line\nbreak",
        );
        assert_eq!(event.action, "Get\\0");
        assert_eq!(event.resource.chars().count(), AuditEvent::MAX_RESOURCE_CHARS);
        assert!(event.resource.ends_with("x…"), "{}", event.resource);
        assert_eq!(event.detail, "line\\nbreak");
        let fits = "y".repeat(AuditEvent::MAX_ACTION_CHARS);
        let event = AuditEvent::new(time, None, fits.clone(), "customers/acme", AuditOutcome::Allowed, "");
        assert_eq!(event.action, fits);
        assert_eq!(event.resource, "customers/acme");
    }

    #[test]
    fn outcome_round_trips_name_and_code() {
        for outcome in AuditOutcome::ALL {
            assert_eq!(AuditOutcome::from_name(outcome.name()), Some(outcome));
            assert_eq!(AuditOutcome::from_code(outcome.code()), Some(outcome));
        }
        assert_eq!(
            AuditOutcome::ALL.map(AuditOutcome::name),
            ["ALLOWED", "DENIED", "FAILED"]
        );
    }

    #[test]
    fn new_events_have_v7_ids_and_microsecond_times() {
        let time = DateTime::from_timestamp(1_750_000_000, 123_456_789).unwrap();
        let event = AuditEvent::new(time, None, "customers.get", "customers/acme", AuditOutcome::Denied, "");
        assert_eq!(event.id.as_uuid().get_version_num(), 7);
        assert_eq!(event.time.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(event.cursor().id, event.id);
        assert_eq!(AuditEventId::parse(&event.id.to_string()), Ok(event.id));
        assert!(AuditEventId::parse("nope").is_err());
    }
}
