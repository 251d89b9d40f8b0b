//! Labels: [`Tag`] and the set [`Tags`].

use std::collections::BTreeSet;
use std::fmt;

use super::{InvalidValue, check_label, invalid};

/// A free label on a customer: 1 to 64 characters of lowercase letters, digits, `_` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The most characters a tag may have.
    pub const MAX_CHARS: usize = 64;

    /// Accepts `raw` if it is 1 to 64 characters of `[a-z0-9_-]`; nothing is trimmed or
    /// lowercased.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` is empty, too long or has another character.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_label(raw).map(|()| Self(raw.to_owned()))
    }

    /// Returns the tag as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Tag);

/// The set of tags on a customer: at most 50 distinct tags, without duplicates, sorted ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// The most distinct tags a customer may have.
    pub const MAX_LEN: usize = 50;

    /// Parses every item into a [`Tag`], removes duplicates and sorts the result.
    ///
    /// # Errors
    /// Returns every problem at once, each with the index of the item it concerns: one entry per
    /// invalid item, and one entry at the index of the first item that would make more than
    /// [`Tags::MAX_LEN`] distinct tags. Entries are in index order.
    pub fn parse<I, S>(items: I) -> Result<Self, Vec<(usize, InvalidValue)>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut tags = BTreeSet::new();
        let mut errors = Vec::new();
        let mut over_limit = false;
        for (index, item) in items.into_iter().enumerate() {
            match Tag::parse(item.as_ref()) {
                Err(error) => errors.push((index, error)),
                Ok(tag) if tags.contains(&tag) => {}
                Ok(_) if tags.len() >= Self::MAX_LEN => {
                    if !over_limit {
                        over_limit = true;
                        errors.push((
                            index,
                            invalid(format!("a customer may have at most {} distinct tags", Self::MAX_LEN)),
                        ));
                    }
                }
                Ok(tag) => {
                    tags.insert(tag);
                }
            }
        }
        if errors.is_empty() {
            Ok(Self(tags.into_iter().collect()))
        } else {
            Err(errors)
        }
    }

    /// Iterates over the tags in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Tag> {
        self.0.iter()
    }

    /// Returns how many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the tags as a slice, in ascending order.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a Tag;
    type IntoIter = std::slice::Iter<'a, Tag>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tag_accepts_lowercase_digits_underscores_and_hyphens() {
        assert_eq!(Tag::parse("vip_2024-q1").unwrap().as_str(), "vip_2024-q1");
        assert!(Tag::parse("-").is_ok());
        assert!(Tag::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "VIP", "vip tag", " vip", "vip!", "标签", &"a".repeat(65)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_deduplicated_and_sorted() {
        let tags = Tags::parse(["vip", "b2b", "vip", "asia", "b2b"]).unwrap();
        let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["asia", "b2b", "vip"]);
        assert_eq!(tags.len(), 3);
        assert!(!tags.is_empty());
        assert_eq!(tags.as_slice().len(), 3);
        assert_eq!((&tags).into_iter().count(), 3);
    }

    #[test]
    fn tags_report_every_invalid_element_with_its_index() {
        let errors = Tags::parse(["ok", "Bad", "fine", "", "also bad"]).unwrap_err();
        let indexes: Vec<usize> = errors.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 3, 4]);
    }

    #[test]
    fn tags_allow_50_distinct_tags_but_not_51() {
        let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&fifty).unwrap().len(), 50);

        let mut with_duplicates = fifty.clone();
        with_duplicates.extend(fifty.iter().cloned());
        assert_eq!(Tags::parse(&with_duplicates).unwrap().len(), 50);

        let fifty_three: Vec<String> = (0..53).map(|i| format!("t{i}")).collect();
        let errors = Tags::parse(&fifty_three).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 50);
        assert!(errors[0].1.to_string().contains("at most 50"), "{}", errors[0].1);
    }

    #[test]
    fn tags_default_to_the_empty_set() {
        let tags = Tags::default();
        assert!(tags.is_empty());
        assert_eq!(Tags::parse(Vec::<String>::new()).unwrap(), tags);
    }

    proptest! {
        #[test]
        fn accepted_tags_reparse_to_themselves(raw in "[a-zA-Z0-9_ -]{0,70}") {
            if let Ok(tag) = Tag::parse(&raw) {
                prop_assert_eq!(Tag::parse(tag.as_str()), Ok(tag));
            }
        }

        #[test]
        fn tags_of_valid_elements_form_a_sorted_set_of_at_most_50(
            raw in prop::collection::vec("[a-z0-9_-]{1,2}", 0..120),
        ) {
            let distinct: BTreeSet<&str> = raw.iter().map(String::as_str).collect();
            match Tags::parse(&raw) {
                Ok(tags) => {
                    prop_assert!(tags.len() <= Tags::MAX_LEN);
                    prop_assert!(tags.as_slice().windows(2).all(|w| w[0] < w[1]));
                    let parsed: BTreeSet<&str> = tags.iter().map(Tag::as_str).collect();
                    prop_assert_eq!(parsed, distinct);
                }
                Err(errors) => {
                    prop_assert!(distinct.len() > Tags::MAX_LEN);
                    prop_assert_eq!(errors.len(), 1);
                    let mut seen = BTreeSet::new();
                    let first_over = raw
                        .iter()
                        .position(|tag| seen.insert(tag.as_str()) && seen.len() > Tags::MAX_LEN);
                    prop_assert_eq!(Some(errors[0].0), first_over);
                }
            }
        }
    }
}
