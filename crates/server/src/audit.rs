//! The audit writer: handlers hand it events, and one background task appends them to the
//! audit log in batches, so an audited request (a denied check on the hot path, say) costs a
//! channel send rather than a database round trip.
//!
//! Nothing is dropped: the channel is bounded, and when it is full a handler waits for room
//! (back-pressure) rather than lose an event. A failed batch is retried until it is written.
//! [`AuditLog::flush`] waits until everything recorded before it is stored; `ListAuditEvents`
//! calls it, so a caller always reads the events of its own earlier requests. On shutdown the
//! writer drains the channel before the database closes.
//!
//! Refused requests (no key, or a key that does not authenticate) are recorded by
//! [`RefusalAudit`], rate-limited and without ever waiting: a flood of them must not turn into a
//! flood of database writes, nor slow the authentication layer down.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crm_domain::{
    access::{AuditEvent, AuditOutcome, Denial},
    caller::Caller,
    customer::now,
    error::CustomerError,
    ports::AccessRepository,
};
use crm_persistence::SqlAccessRepository;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

/// How many events may wait for the writer before handlers wait.
const CAPACITY: usize = 8192;
/// The most events written in one statement.
const BATCH: usize = 500;

enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

/// A handle for recording audit events; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    sender: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Event(event) => f.debug_tuple("Event").field(event).finish(),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl AuditLog {
    /// Starts the writer over `repository`. The task ends once every handle is dropped and the
    /// channel is drained.
    pub(crate) fn start(repository: SqlAccessRepository) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(write_events(repository, receiver));
        (Self { sender }, task)
    }

    /// Records one event if the writer has room for it now; `false` when it has not.
    fn try_record(&self, event: AuditEvent) -> bool {
        self.sender.try_send(Message::Event(event)).is_ok()
    }

    /// Records one event.
    pub(crate) async fn record(&self, event: AuditEvent) {
        if self.sender.send(Message::Event(event)).await.is_err() {
            tracing::error!("audit writer stopped; an audit event could not be recorded");
        }
    }

    /// Records that `caller` did `action` on `resource` with `outcome`.
    pub(crate) async fn note(
        &self,
        caller: &Caller,
        action: &str,
        resource: impl Into<String>,
        outcome: AuditOutcome,
        detail: impl Into<String>,
    ) {
        let event = AuditEvent::new(now(), Some(caller.principal.clone()), action, resource, outcome, detail);
        self.record(event).await;
    }

    /// Records a denial.
    pub(crate) async fn denied(&self, caller: &Caller, action: &str, denial: &Denial) {
        self.note(
            caller,
            action,
            denial.resource.clone(),
            AuditOutcome::Denied,
            format!("{}: {}", denial.permission, denial.reason.code()),
        )
        .await;
    }

    /// Records the outcome of a customer RPC: every outcome of a mutation, and denials of reads.
    pub(crate) async fn customer_outcome<T>(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        mutation: bool,
        result: &Result<T, CustomerError>,
    ) {
        match result {
            Err(CustomerError::PermissionDenied(denial)) => self.denied(caller, action, denial).await,
            Err(CustomerError::ContactFieldHidden(field)) => {
                self.note(
                    caller,
                    action,
                    resource,
                    AuditOutcome::Denied,
                    format!("customers.read_contact: filter on {field}"),
                )
                .await;
            }
            Ok(_) if mutation => self.note(caller, action, resource, AuditOutcome::Allowed, "").await,
            Err(error) if mutation => {
                let detail = match error {
                    CustomerError::Unexpected(_) => "internal error".to_owned(),
                    CustomerError::Unavailable(_) => "storage unavailable".to_owned(),
                    other => other.to_string(),
                };
                self.note(caller, action, resource, AuditOutcome::Failed, detail).await;
            }
            _ => {}
        }
    }

    /// Waits until every event recorded before this call is stored.
    pub(crate) async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

/// How many refused requests [`RefusalAudit`] records at once, before it falls back to its rate.
const REFUSAL_BURST: f64 = 10.0;
/// How many refused requests per second [`RefusalAudit`] records after a burst.
const REFUSALS_PER_SECOND: f64 = 1.0;

/// Records requests the authentication layer refused: outcome DENIED, no actor, the RPC's name
/// as the action, an empty resource (the request was not read) and what was presented as the
/// detail. At most [`REFUSAL_BURST`] at once and [`REFUSALS_PER_SECOND`] after that (a token
/// bucket shared by all callers); the refusals left out are counted in the detail of the next
/// one recorded, so the log still says how many there were. Never waits: when the writer is
/// busy the refusal is counted as left out.
#[derive(Debug, Clone)]
pub(crate) struct RefusalAudit {
    log: AuditLog,
    bucket: Arc<Mutex<RefusalBucket>>,
}

#[derive(Debug)]
struct RefusalBucket {
    tokens: f64,
    refilled: Instant,
    left_out: u64,
}

impl RefusalAudit {
    /// Records refusals into `log`.
    pub(crate) fn new(log: AuditLog) -> Self {
        Self {
            log,
            bucket: Arc::new(Mutex::new(RefusalBucket {
                tokens: REFUSAL_BURST,
                refilled: Instant::now(),
                left_out: 0,
            })),
        }
    }

    /// Notes that a request for the gRPC `path` was refused; `key_prefix` is the prefix of the
    /// key presented, if one of the right form was.
    pub(crate) fn refused(&self, path: &str, key_prefix: Option<&str>) {
        let Ok(mut bucket) = self.bucket.lock() else {
            return;
        };
        let instant = Instant::now();
        let elapsed = instant.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * REFUSALS_PER_SECOND).min(REFUSAL_BURST);
        bucket.refilled = instant;
        if bucket.tokens < 1.0 {
            bucket.left_out += 1;
            return;
        }
        let mut detail = match key_prefix {
            None => "not authenticated: no API key, or not one of the form crm_<prefix>_<secret>".to_owned(),
            Some(prefix) => {
                format!("not authenticated: key {prefix} is unknown, revoked or expired, or its principal is disabled")
            }
        };
        if bucket.left_out > 0 {
            detail.push_str(&format!(
                "; {} more refused requests since the last one recorded were not recorded (rate limit)",
                bucket.left_out
            ));
        }
        let method = path.rsplit('/').next().unwrap_or_default();
        let event = AuditEvent::new(now(), None, method, "", AuditOutcome::Denied, detail);
        if self.log.try_record(event) {
            bucket.tokens -= 1.0;
            bucket.left_out = 0;
        } else {
            bucket.left_out += 1;
        }
    }
}

async fn write_events(repository: SqlAccessRepository, mut receiver: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut messages, BATCH).await > 0 {
        let mut events = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => flushes.push(done),
            }
        }
        let mut delay = Duration::from_millis(100);
        while let Err(error) = repository.append_audit_events(&events).await {
            tracing::error!(%error, events = events.len(), "cannot write audit events; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
