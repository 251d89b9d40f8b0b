//! Labels: the [`Industry`] code list.

use std::fmt;

use super::{InvalidValue, invalid};

/// The industry a customer works in, from a small documented code list.
///
/// Each industry has a lowercase `snake_case` code, such as `manufacturing` or
/// `professional_services`; the proto documents the same list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Industry {
    /// Farming, forestry and fishing (`agriculture`).
    Agriculture,
    /// Building and civil engineering (`construction`).
    Construction,
    /// Schools, universities and training (`education`).
    Education,
    /// Power, oil, gas and utilities (`energy`).
    Energy,
    /// Banking, insurance and investment (`finance`).
    Finance,
    /// Public administration (`government`).
    Government,
    /// Hospitals, clinics and pharmaceuticals (`healthcare`).
    Healthcare,
    /// Hotels, restaurants and travel (`hospitality`).
    Hospitality,
    /// Transport, shipping and warehousing (`logistics`).
    Logistics,
    /// Making physical goods (`manufacturing`).
    Manufacturing,
    /// Publishing, broadcasting and entertainment (`media`).
    Media,
    /// Consulting, legal, accounting and agencies (`professional_services`).
    ProfessionalServices,
    /// Property development and management (`real_estate`).
    RealEstate,
    /// Shops and e-commerce (`retail`).
    Retail,
    /// Software, hardware and IT services (`technology`).
    Technology,
    /// Telephone, internet and network operators (`telecommunications`).
    Telecommunications,
    /// Anything not listed above (`other`).
    Other,
}

impl Industry {
    /// Every industry, in declaration order.
    pub const ALL: [Self; 17] = [
        Self::Agriculture,
        Self::Construction,
        Self::Education,
        Self::Energy,
        Self::Finance,
        Self::Government,
        Self::Healthcare,
        Self::Hospitality,
        Self::Logistics,
        Self::Manufacturing,
        Self::Media,
        Self::ProfessionalServices,
        Self::RealEstate,
        Self::Retail,
        Self::Technology,
        Self::Telecommunications,
        Self::Other,
    ];

    /// Accepts an industry code, such as `retail` or `real_estate` (exact, lowercase).
    ///
    /// # Errors
    /// Returns [`InvalidValue`] listing the accepted codes when `raw` is not one of them.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|industry| industry.code() == raw)
            .ok_or_else(|| {
                let codes = Self::ALL.map(Self::code).join(", ");
                invalid(format!("must be one of: {codes}"))
            })
    }

    /// Returns the industry's code, such as `professional_services`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Agriculture => "agriculture",
            Self::Construction => "construction",
            Self::Education => "education",
            Self::Energy => "energy",
            Self::Finance => "finance",
            Self::Government => "government",
            Self::Healthcare => "healthcare",
            Self::Hospitality => "hospitality",
            Self::Logistics => "logistics",
            Self::Manufacturing => "manufacturing",
            Self::Media => "media",
            Self::ProfessionalServices => "professional_services",
            Self::RealEstate => "real_estate",
            Self::Retail => "retail",
            Self::Technology => "technology",
            Self::Telecommunications => "telecommunications",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Industry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn industry_round_trips_through_its_code() {
        for industry in Industry::ALL {
            assert_eq!(Industry::parse(industry.code()).unwrap(), industry);
            assert_eq!(industry.to_string(), industry.code());
        }
        assert_eq!(
            Industry::parse("professional_services").unwrap(),
            Industry::ProfessionalServices
        );
        assert_eq!(Industry::parse("real_estate").unwrap(), Industry::RealEstate);
    }

    #[test]
    fn industry_error_lists_the_accepted_codes() {
        let error = Industry::parse("Retail").unwrap_err().to_string();
        assert!(
            error.starts_with("must be one of: agriculture, construction"),
            "{error}"
        );
        assert!(error.ends_with("telecommunications, other"), "{error}");
        assert!(Industry::parse("").is_err());
    }
}
