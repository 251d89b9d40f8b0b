//! Where a customer is: [`CountryCode`] and [`Region`].

use std::fmt;

use super::{City, InvalidValue, Subdivision, invalid};

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted so it can be binary-searched.
const ASSIGNED_COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code, such as "CN" or "GB", in uppercase.
///
/// Reserved and user-assigned codes (such as "UK", "EU" or "XX") are rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Trims `raw` and accepts it, in any case, if it is an assigned alpha-2 code.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` is not an assigned code.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if let [first, second] = *trimmed.as_bytes() {
            let code = [first.to_ascii_uppercase(), second.to_ascii_uppercase()];
            if let Ok(upper) = std::str::from_utf8(&code)
                && ASSIGNED_COUNTRY_CODES.binary_search(&upper).is_ok()
            {
                return Ok(Self(code));
            }
        }
        Err(invalid(
            "must be an assigned ISO 3166-1 alpha-2 country code, such as CN or GB",
        ))
    }

    /// Returns the code as an uppercase string slice, such as "CN".
    pub fn as_str(&self) -> &str {
        // The bytes are always two uppercase ASCII letters, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CountryCode").field(&self.as_str()).finish()
    }
}

string_impls!(CountryCode);

/// Where a customer is: a country, and optionally a subdivision and a city within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// The country.
    pub country_code: CountryCode,
    /// The province or state, when known.
    pub subdivision: Option<Subdivision>,
    /// The city, when known.
    pub city: Option<City>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn assigned_country_codes_are_sorted_unique_and_complete() {
        assert_eq!(ASSIGNED_COUNTRY_CODES.len(), 249);
        assert!(ASSIGNED_COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ASSIGNED_COUNTRY_CODES
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn country_code_accepts_any_case_and_normalises_to_uppercase() {
        assert_eq!(CountryCode::parse("cn").unwrap().as_str(), "CN");
        assert_eq!(CountryCode::parse("Gb").unwrap().as_str(), "GB");
        assert_eq!(CountryCode::parse(" us ").unwrap().to_string(), "US");
        assert_eq!(CountryCode::parse("AD").unwrap().as_str(), "AD");
        assert_eq!(CountryCode::parse("zw").unwrap().as_str(), "ZW");
        assert_eq!(
            format!("{:?}", CountryCode::parse("cn").unwrap()),
            "CountryCode(\"CN\")"
        );
    }

    #[test]
    fn country_code_rejects_unassigned_codes() {
        for bad in ["XX", "UK", "EU", "AA", "ZZ", "", "C", "CHN", "c n", "中国", "ĉn"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn region_holds_a_country_and_optional_parts() {
        let region = Region {
            country_code: CountryCode::parse("CN").unwrap(),
            subdivision: Some(Subdivision::parse("Zhejiang").unwrap()),
            city: None,
        };
        assert_eq!(region.clone(), region);
    }
}
