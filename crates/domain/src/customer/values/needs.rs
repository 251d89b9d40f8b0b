//! The set [`Needs`] of [`CustomerNeed`]s.

use std::fmt;

use super::{CustomerNeed, InvalidValue, invalid};

impl CustomerNeed {
    /// The need's bit in a [`Needs`] bitmask: bit `code - 1`.
    const fn bit(self) -> u8 {
        1 << (self.code() - 1)
    }
}

/// A set of [`CustomerNeed`]s, stored as a bitmask in which need `n` is bit `n.code() - 1`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Needs(u8);

impl Needs {
    /// Every bit that stands for a need.
    const KNOWN_BITS: u8 = 0b1111;

    /// Returns the empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Accepts a bitmask read back from storage.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when a bit is set that stands for no need.
    pub fn from_bits(bits: u8) -> Result<Self, InvalidValue> {
        if bits & !Self::KNOWN_BITS == 0 {
            Ok(Self(bits))
        } else {
            Err(invalid(format!(
                "must only set the bits of known needs ({:#010b}), got {bits:#010b}",
                Self::KNOWN_BITS
            )))
        }
    }

    /// Returns the bitmask, for storage.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether `need` is in the set.
    pub const fn contains(self, need: CustomerNeed) -> bool {
        self.0 & need.bit() != 0
    }

    /// Adds `need` to the set.
    pub fn insert(&mut self, need: CustomerNeed) {
        self.0 |= need.bit();
    }

    /// Removes `need` from the set.
    pub fn remove(&mut self, need: CustomerNeed) {
        self.0 &= !need.bit();
    }

    /// Returns whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Iterates over the needs in the set, in [`CustomerNeed::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = CustomerNeed> + use<> {
        let needs = *self;
        CustomerNeed::ALL.into_iter().filter(move |need| needs.contains(*need))
    }
}

impl FromIterator<CustomerNeed> for Needs {
    fn from_iter<I: IntoIterator<Item = CustomerNeed>>(iter: I) -> Self {
        let mut needs = Self::empty();
        needs.extend(iter);
        needs
    }
}

impl Extend<CustomerNeed> for Needs {
    fn extend<I: IntoIterator<Item = CustomerNeed>>(&mut self, iter: I) {
        for need in iter {
            self.insert(need);
        }
    }
}

impl fmt::Debug for Needs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn needs_bits_round_trip() {
        for bits in 0..=0b1111 {
            let needs = Needs::from_bits(bits).unwrap();
            assert_eq!(needs.bits(), bits);
            assert_eq!(needs.iter().collect::<Needs>(), needs);
        }
        let needs: Needs = [CustomerNeed::QualityFocused, CustomerNeed::PriceSensitive]
            .into_iter()
            .collect();
        assert_eq!(needs.bits(), 0b0101);
        assert_eq!(
            needs.iter().collect::<Vec<_>>(),
            [CustomerNeed::PriceSensitive, CustomerNeed::QualityFocused]
        );
        assert_eq!(format!("{needs:?}"), "{PriceSensitive, QualityFocused}");
    }

    #[test]
    fn needs_reject_unknown_bits() {
        for bits in [0b1_0000, 0b1000_0000, 0b1111_1111, 0b0001_0001] {
            assert!(Needs::from_bits(bits).is_err(), "{bits:#b}");
        }
    }

    #[test]
    fn needs_insert_contains_and_remove() {
        let mut needs = Needs::default();
        assert_eq!(needs, Needs::empty());
        assert!(needs.is_empty());
        needs.insert(CustomerNeed::ServiceFocused);
        needs.insert(CustomerNeed::ServiceFocused);
        assert!(needs.contains(CustomerNeed::ServiceFocused));
        assert!(!needs.contains(CustomerNeed::FunctionFocused));
        assert_eq!(needs.bits(), 0b1000);
        needs.remove(CustomerNeed::ServiceFocused);
        assert!(needs.is_empty());
    }
}
