//! [`Clock`]: where the service's notion of "now" comes from. Production uses [`SystemClock`];
//! tests use a [`ManualClock`] they move forward, so that time-driven rules (a customer going
//! DORMANT after 180 days without a purchase, an override lapsing) can be tested end to end.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, truncated to whole microseconds (see [`crate::customer::now`]).
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::customer::now()
    }
}

/// A clock that runs with the system clock, shifted by an offset the owner can move forward (or
/// back): `now()` is the system time plus the offset, so time keeps passing as in production
/// while a test jumps months ahead.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset: Mutex<TimeDelta>,
}

impl ManualClock {
    /// A clock at the system time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock by `delta`.
    pub fn advance(&self, delta: TimeDelta) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += delta;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        crate::customer::now() + offset
    }
}
