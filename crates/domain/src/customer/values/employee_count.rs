//! Numbers: [`EmployeeCount`].

use std::fmt;

use super::{InvalidValue, invalid};

/// How many employees a customer organisation has: 0 to 10,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmployeeCount(u32);

impl EmployeeCount {
    /// The largest accepted count.
    pub const MAX: u32 = 10_000_000;

    /// Accepts `count` if it is 0 to [`EmployeeCount::MAX`].
    ///
    /// It takes an `i64` so that any integer a request can carry is checked here, not truncated
    /// on the way in.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `count` is negative or too large.
    pub fn new(count: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(count) {
            Ok(count) if count <= Self::MAX => Ok(Self(count)),
            _ => Err(invalid(format!("must be 0 to {}, got {count}", Self::MAX))),
        }
    }

    /// Returns the count.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for EmployeeCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn employee_count_accepts_zero_to_ten_million() {
        assert_eq!(EmployeeCount::new(0).unwrap().get(), 0);
        assert_eq!(EmployeeCount::new(10_000_000).unwrap().get(), 10_000_000);
        assert!(EmployeeCount::new(10_000_001).is_err());
        assert!(EmployeeCount::new(-1).is_err());
        assert!(EmployeeCount::new(i64::MIN).is_err());
        assert!(EmployeeCount::new(i64::MAX).is_err());
        assert!(EmployeeCount::new(i64::from(u32::MAX) + 1).is_err());
    }
}
