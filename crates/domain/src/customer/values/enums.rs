//! Closed enumerations with stable storage codes: [`CustomerKind`], [`JobRank`],
//! [`DecisionRole`] and [`CustomerNeed`].

coded_enum!(
    /// Whether a customer is an organisation or a person.
    CustomerKind {
        /// A company or other organisation (`ORGANIZATION`).
        Organization = (1, "ORGANIZATION"),
        /// A private person (`INDIVIDUAL`).
        Individual = (2, "INDIVIDUAL"),
    }
);

coded_enum!(
    /// The contact's level in their own organisation (高层 / 中层 / 基层).
    JobRank {
        /// Senior management (`EXECUTIVE`, 高层).
        Executive = (1, "EXECUTIVE"),
        /// Middle management (`MIDDLE`, 中层).
        Middle = (2, "MIDDLE"),
        /// Front-line staff (`FRONTLINE`, 基层).
        Frontline = (3, "FRONTLINE"),
    }
);

coded_enum!(
    /// The contact's part in buying decisions (决策权).
    DecisionRole {
        /// Makes the buying decision (`DECISION_MAKER`).
        DecisionMaker = (1, "DECISION_MAKER"),
        /// Shapes the decision without making it (`INFLUENCER`).
        Influencer = (2, "INFLUENCER"),
        /// Uses the product (`USER`).
        User = (3, "USER"),
    }
);

coded_enum!(
    /// What a customer cares about most when buying (需求特点).
    CustomerNeed {
        /// Price comes first (`PRICE_SENSITIVE`).
        PriceSensitive = (1, "PRICE_SENSITIVE"),
        /// Features come first (`FUNCTION_FOCUSED`).
        FunctionFocused = (2, "FUNCTION_FOCUSED"),
        /// Quality comes first (`QUALITY_FOCUSED`).
        QualityFocused = (3, "QUALITY_FOCUSED"),
        /// Service comes first (`SERVICE_FOCUSED`).
        ServiceFocused = (4, "SERVICE_FOCUSED"),
    }
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Checks that every value of a coded enum round-trips its name and code, with codes 1..=N.
    macro_rules! assert_round_trips {
        ($ty:ty) => {
            for (index, value) in <$ty>::ALL.into_iter().enumerate() {
                let expected_code = i16::try_from(index + 1).unwrap();
                assert_eq!(value.code(), expected_code);
                assert_eq!(<$ty>::from_code(value.code()), Some(value));
                assert_eq!(<$ty>::from_name(value.name()), Some(value));
                assert_eq!(value.to_string(), value.name());
                assert_eq!(<$ty>::from_name(&value.name().to_lowercase()), None);
            }
            assert_eq!(<$ty>::from_code(0), None);
            assert_eq!(<$ty>::from_code(-1), None);
            let past_end = i16::try_from(<$ty>::ALL.len() + 1).unwrap();
            assert_eq!(<$ty>::from_code(past_end), None);
            assert_eq!(<$ty>::from_name(""), None);
        };
    }

    #[test]
    fn coded_enums_round_trip_name_and_code() {
        assert_round_trips!(CustomerKind);
        assert_round_trips!(JobRank);
        assert_round_trips!(DecisionRole);
        assert_round_trips!(CustomerNeed);
    }

    #[test]
    fn coded_enum_names_have_no_type_prefix() {
        assert_eq!(CustomerKind::Organization.name(), "ORGANIZATION");
        assert_eq!(CustomerKind::Individual.name(), "INDIVIDUAL");
        assert_eq!(JobRank::Frontline.name(), "FRONTLINE");
        assert_eq!(DecisionRole::DecisionMaker.name(), "DECISION_MAKER");
        assert_eq!(CustomerNeed::PriceSensitive.name(), "PRICE_SENSITIVE");
        assert_eq!(CustomerNeed::ServiceFocused.code(), 4);
        assert_eq!(CustomerKind::from_name("CUSTOMER_KIND_ORGANIZATION"), None);
    }
}
