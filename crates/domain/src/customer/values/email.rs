//! Contact details: [`Email`].

use std::fmt;

use super::{InvalidValue, invalid};

/// An email address, checked against a practical subset of RFC 5321.
///
/// The local part (before `@`) is kept as given, because it may be case-sensitive; the domain is
/// lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// The most characters an address may have.
    pub const MAX_CHARS: usize = 254;
    /// The most characters the local part may have.
    pub const MAX_LOCAL_CHARS: usize = 64;

    /// The address as shown to a caller who may not read contact details: the first character
    /// of the local part, `***`, and the domain, such as `j***@example.com`. The result is for
    /// display only (it is not a valid address to send to).
    pub fn masked(&self) -> Self {
        let (local, domain) = self.0.split_once('@').unwrap_or((self.0.as_str(), ""));
        let first: String = local.chars().take(1).collect();
        Self(format!("{first}***@{domain}"))
    }

    /// Trims `raw` and accepts it if it is a plausible address such as `li.lei@example.com`.
    ///
    /// The rules: at most 254 characters; exactly one `@`; a local part of 1 to 64 printable
    /// ASCII characters without spaces that neither starts nor ends with a dot nor has two dots in
    /// a row; a domain of at least two dot-separated labels, each 1 to 63 letters, digits or
    /// hyphens that neither starts nor ends with a hyphen, the last (the top-level domain) being
    /// at least two letters.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] naming the first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let count = trimmed.chars().count();
        if count > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must be at most {} characters, got {count}",
                Self::MAX_CHARS
            )));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(invalid("must contain exactly one '@', as in name@example.com"));
        };
        if domain.contains('@') {
            return Err(invalid("must contain exactly one '@', as in name@example.com"));
        }
        check_email_local(local)?;
        check_email_domain(domain)?;
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// Returns the address as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Email);

/// Checks the part of an email address before the `@`.
fn check_email_local(local: &str) -> Result<(), InvalidValue> {
    if !local.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "the part before '@' must be printable ASCII characters without spaces",
        ));
    }
    if local.is_empty() || local.len() > Email::MAX_LOCAL_CHARS {
        return Err(invalid(format!(
            "the part before '@' must be 1 to {} characters, got {}",
            Email::MAX_LOCAL_CHARS,
            local.len()
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "the part before '@' must not start or end with a dot or have two dots in a row",
        ));
    }
    Ok(())
}

/// Checks the part of an email address after the `@`.
fn check_email_domain(domain: &str) -> Result<(), InvalidValue> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "the domain after '@' must have at least two dot-separated parts, as in example.com",
        ));
    }
    let labels_ok = labels.iter().all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok {
        return Err(invalid(
            "each dot-separated part of the domain must be 1 to 63 letters, digits or hyphens \
             and must not start or end with a hyphen",
        ));
    }
    let tld_ok = labels
        .last()
        .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if !tld_ok {
        return Err(invalid(
            "the domain must end in a top-level domain of at least two letters, as in .com",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_lowercases_the_domain_and_keeps_the_local_part() {
        let email = Email::parse("  Li.Lei+crm@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Li.Lei+crm@example.com");
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("o'brien@mail.example-domain.org").is_ok());
        assert!(Email::parse("x@xn--fiqs8s.cn").is_ok());
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a@example",
            "a@.com",
            "a@example.",
            "a@example..com",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@example.c",
            "a@example.c0m",
            "a@example.123",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "李@example.com",
            "a@例子.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_local_part_is_at_most_64_characters() {
        let ok = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&ok).is_ok());
        let bad = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&bad).is_err());
    }

    #[test]
    fn email_labels_are_at_most_63_characters() {
        let ok = format!("a@{}.com", "b".repeat(63));
        assert!(Email::parse(&ok).is_ok());
        let bad = format!("a@{}.com", "b".repeat(64));
        assert!(Email::parse(&bad).is_err());
    }

    #[test]
    fn email_is_at_most_254_characters() {
        // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 1 + 3 = 254.
        let domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(57));
        let ok = format!("{}@{domain}", "a".repeat(64));
        assert_eq!(ok.len(), 254);
        assert!(Email::parse(&ok).is_ok());
        let domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(58));
        let bad = format!("{}@{domain}", "a".repeat(64));
        assert_eq!(bad.len(), 255);
        let error = Email::parse(&bad).unwrap_err();
        assert_eq!(error.to_string(), "must be at most 254 characters, got 255");
    }

    proptest! {
        #[test]
        fn accepted_emails_reparse_to_themselves(
            raw in " ?[a-zA-Z0-9.!#%+_'-]{0,66}@[a-zA-Z0-9.-]{0,20}\\.[a-zA-Z]{1,4} ?",
        ) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
            }
        }
    }
}
