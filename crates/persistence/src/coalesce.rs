//! GetCustomer's read by id, coalesced: reads that arrive while earlier ones are being answered
//! go to the database together, as one `WHERE id IN (…)` statement.
//!
//! # Why
//! A point read's cost is mostly the statement's fixed cost, paid on both sides: the round trip,
//! the protocol messages, PostgreSQL's parse, plan and executor start, sqlx's and sea-orm's
//! per-statement work. Under load, several callers' reads share that cost; idle, nothing changes.
//!
//! # How
//! Each connection pool has one [`CoalescedReads`] with [`IN_FLIGHT`] slots. A read that finds a
//! free slot takes it and is sent at once (alone, if nothing else waits: an idle service adds
//! no delay). A read that finds every slot taken waits; a slot that finishes its statement takes
//! every waiting read (up to [`MAX_IDS_PER_READ`]) into its next one, and is freed when none waits.
//!
//! # What it keeps
//! - **Freshness.** A read joins only a statement sent after it arrived, so it sees every write
//!   committed before it was asked, as a statement of its own would.
//! - **Isolation of failures.** A row that cannot be decoded fails only the reads of that id. A
//!   statement that fails fails each of its reads with the same kind of error (`Unavailable`
//!   stays retryable).
//! - **Cancellation.** A caller that goes away leaves its read in the statement; its answer is
//!   dropped. Statements run on their own task, so no caller's cancellation strands the others.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crm_domain::{
    customer::{Customer, values::CustomerId},
    error::CustomerError,
};
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::oneshot;

use crate::{customers::MAX_IDS_PER_READ, database::Backend};

/// How many coalesced statements one pool runs at once. Fewer slots make larger statements:
/// measured with crm-loadgen on a 2-core machine (ARCHITECTURE.md, "Coalesced reads"), 1 and 2
/// were equally fast and 4 barely faster than no coalescing; 2 keeps reads going while one
/// statement is slow.
pub(crate) const IN_FLIGHT: usize = 2;

type Answer = Result<Option<Customer>, CustomerError>;

struct Waiting {
    id: CustomerId,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Waiting>,
    in_flight: usize,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct CoalescedReads {
    state: Mutex<State>,
}

impl std::fmt::Debug for CoalescedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("CoalescedReads")
            .field("waiting", &state.waiting.len())
            .field("in_flight", &state.in_flight)
            .finish()
    }
}

impl CoalescedReads {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement of a critical section (none panics
        // halfway), so a poisoned lock's state is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The customer with `id` (with its tags) read through `connection`, together with the
    /// reads waiting beside it.
    ///
    /// # Errors
    /// [`CustomerError::Unavailable`] or [`CustomerError::Unexpected`] as the statement's
    /// failure was; `Unexpected` for a row that cannot be decoded.
    pub(crate) async fn find(
        self: &Arc<Self>,
        connection: &DatabaseConnection,
        backend: Backend,
        id: &CustomerId,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut state = self.lock();
            state.waiting.push(Waiting { id: id.clone(), reply });
            let free = state.in_flight < IN_FLIGHT;
            if free {
                state.in_flight += 1;
            }
            free
        };
        if lead {
            tokio::spawn(Slot::new(Arc::clone(self)).serve(connection.clone(), backend));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(CustomerError::unexpected("the coalesced read ended without an answer")))
    }
}

/// One taken slot. It is freed in the same critical section that finds no read waiting, so a
/// read arriving just then either is taken or takes a slot itself. A slot dropped otherwise (its
/// task panicked or was aborted) is freed when dropped, and if it was the last one, the reads
/// still waiting fail at once rather than wait forever.
struct Slot {
    reads: Arc<CoalescedReads>,
    freed: bool,
}

impl Slot {
    fn new(reads: Arc<CoalescedReads>) -> Self {
        Self { reads, freed: false }
    }

    async fn serve(mut self, connection: DatabaseConnection, backend: Backend) {
        loop {
            let batch: Vec<Waiting> = {
                let mut state = self.reads.lock();
                let n = state.waiting.len().min(MAX_IDS_PER_READ);
                if n == 0 {
                    state.in_flight -= 1;
                    self.freed = true;
                    return;
                }
                state.waiting.drain(..n).collect()
            };
            answer_all(&connection, backend, batch).await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.freed {
            return;
        }
        let mut state = self.reads.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.waiting.clear();
        }
    }
}

/// Reads `batch`'s customers in one statement and answers each read.
async fn answer_all(connection: &DatabaseConnection, backend: Backend, batch: Vec<Waiting>) {
    let (asked, replies): (Vec<CustomerId>, Vec<_>) = batch.into_iter().map(|w| (w.id, w.reply)).unzip();
    let mut ids: Vec<&str> = asked.iter().map(CustomerId::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = match crate::customers::find_rows_by_ids(connection, backend, &ids).await {
        Ok(rows) => rows,
        Err(error) => {
            fail_all(replies, &error);
            return;
        }
    };
    let mut found: Vec<(String, Result<Customer, CustomerError>)> = rows
        .into_iter()
        .map(|row| (row.id().to_owned(), row.into_customer()))
        .collect();
    for (index, (id, reply)) in asked.iter().zip(replies).enumerate() {
        let answer = match found.iter().position(|(found_id, _)| found_id == id.as_str()) {
            None => Ok(None),
            // Asked more than once in this statement: every read but the last gets a copy.
            Some(at) if asked[index + 1..].contains(id) => match &found[at].1 {
                Ok(customer) => Ok(Some(customer.clone())),
                Err(error) => Err(CustomerError::unexpected(error.to_string())),
            },
            Some(at) => found.swap_remove(at).1.map(Some),
        };
        // A caller that went away no longer waits for its answer.
        let _ = reply.send(answer);
    }
}

/// Answers every read with `error`'s kind.
fn fail_all(replies: Vec<oneshot::Sender<Answer>>, error: &DbErr) {
    let unavailable = crate::errors::is_unavailable(error);
    for reply in replies {
        let message = error.to_string();
        let error = if unavailable {
            CustomerError::unavailable(message)
        } else {
            CustomerError::unexpected(message)
        };
        let _ = reply.send(Err(error));
    }
}
