//! The audit writer: handlers hand it events, and one background task appends them to the
//! audit log in batches, so an audited request (a denied check on the hot path, say) costs a
//! channel send rather than a database round trip.
//!
//! Nothing is dropped: the channel is bounded, and when it is full a handler waits for room
//! (back-pressure) rather than lose an event. A failed batch is retried until it is written.
//! [`AuditLog::flush`] waits until everything recorded before it is stored; `ListAuditEvents`
//! calls it, so a caller always reads the events of its own earlier requests. On shutdown the
//! writer drains the channel before the database closes.

use std::time::Duration;

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
