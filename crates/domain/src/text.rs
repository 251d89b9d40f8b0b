//! Text from callers: one rule for every free-text field, and one way to show caller input in
//! an error message.
//!
//! # Control characters
//!
//! Control characters (Unicode category Cc: U+0000 to U+001F and U+007F to U+009F) make no sense
//! in a name, a title, a reason, a keyword or a filter value, and NUL cannot even be stored by
//! PostgreSQL (SQLite would store it, so a backend would decide what is valid). So:
//!
//! - a **line** ([`TextRule::line`]), such as a display name, a job title, an override reason or
//!   a policy keyword, holds none at all;
//! - **prose** ([`TextRule::prose`]), an interaction note or a policy description, may hold line
//!   breaks (`\n`, `\r`) and tabs (`\t`), and no other control character.
//!
//! Either is trimmed of surrounding whitespace and measured in characters, not bytes. Other
//! characters (formatting characters, emoji, any script) are accepted: they are text.
//!
//! # Echoing input
//!
//! An error message that repeats what the caller sent uses [`echo`] (or [`shorten`]), which
//! writes control characters as escapes and cuts it to [`ECHO_MAX_CHARS`] characters, so that a
//! 10,000-character value cannot turn into a 30 KB error (HTTP/2 clients refuse trailers past
//! 8 to 16 KiB and report RESOURCE_EXHAUSTED instead of the error).

use std::fmt::Write as _;

use crate::customer::values::InvalidValue;

/// The most characters of caller input [`echo`] repeats.
pub const ECHO_MAX_CHARS: usize = 40;

/// Whether a text field is a single line or prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control character at all.
    One,
    /// Prose: line breaks (`\n`, `\r`) and tabs allowed, no other control character.
    Many,
}

/// The rule of one free-text field: how long it may be, whether it may be empty, and whether it
/// is one line or prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// The most characters after trimming.
    pub max_chars: usize,
    /// Whether empty (after trimming) is an error.
    pub required: bool,
    /// One line or prose.
    pub lines: Lines,
}

impl TextRule {
    /// A required single line of 1 to `max_chars` characters after trimming.
    pub const fn line(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: true,
            lines: Lines::One,
        }
    }

    /// Optional prose of at most `max_chars` characters after trimming.
    pub const fn prose(max_chars: usize) -> Self {
        Self {
            max_chars,
            required: false,
            lines: Lines::Many,
        }
    }

    /// The same rule, with empty allowed.
    #[must_use]
    pub const fn optional(self) -> Self {
        Self {
            required: false,
            ..self
        }
    }

    /// Trims `raw` and returns it if it keeps this rule.
    ///
    /// # Errors
    /// [`InvalidValue`] saying what is expected when the trimmed text is empty (and required),
    /// too long, or holds a control character the rule does not allow (naming the character by
    /// its code point and where it is, never repeating the text, which may be personal data).
    pub fn parse(&self, raw: &str) -> Result<String, InvalidValue> {
        let trimmed = raw.trim();
        let count = trimmed.chars().count();
        if count > self.max_chars || (self.required && count == 0) {
            let min = usize::from(self.required);
            return Err(InvalidValue(format!(
                "must be {min} to {} characters after trimming, got {count}",
                self.max_chars
            )));
        }
        check_controls(trimmed, self.lines)?;
        Ok(trimmed.to_owned())
    }
}

/// Whether `c` may appear in text of this kind.
pub fn allowed(c: char, lines: Lines) -> bool {
    !c.is_control() || (lines == Lines::Many && matches!(c, '\n' | '\r' | '\t'))
}

/// The first character of `text` that text of this kind may not hold, with its position in
/// characters (0-based).
pub fn first_forbidden(text: &str, lines: Lines) -> Option<(usize, char)> {
    text.chars().enumerate().find(|&(_, c)| !allowed(c, lines))
}

/// Fails when `text` holds a character text of this kind may not hold.
///
/// # Errors
/// [`InvalidValue`] naming the first such character as `U+XXXX` and its position.
pub fn check_controls(text: &str, lines: Lines) -> Result<(), InvalidValue> {
    match first_forbidden(text, lines) {
        None => Ok(()),
        Some((index, c)) => Err(InvalidValue(format!(
            "{} (found {} at character {})",
            match lines {
                Lines::One => "must not contain control characters such as line breaks, tabs or NUL",
                Lines::Many => "must not contain control characters other than line breaks and tabs",
            },
            code_point(c),
            index + 1
        ))),
    }
}

/// `c` as `U+XXXX`.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Caller input as an error message may show it, without quotes: control characters written as
/// escapes (`\0`, `\u{7}`, `\n`), cut after [`ECHO_MAX_CHARS`] characters with `…`.
pub fn shorten(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(4 * ECHO_MAX_CHARS) + 3);
    for (i, c) in raw.chars().enumerate() {
        if i == ECHO_MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`shorten`]ed caller input in double quotes, as error messages show it.
pub fn echo(raw: &str) -> String {
    format!("\"{}\"", shorten(raw))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_line_is_trimmed_and_holds_no_control_character() {
        let rule = TextRule::line(10);
        assert_eq!(rule.parse("  Acme  ").unwrap(), "Acme");
        for bad in [
            "a\u{0}b", "a\nb", "a\tb", "a\rb", "\u{7}", "a\u{7f}", "a\u{85}b", "a\u{9f}",
        ] {
            let error = rule.parse(bad).unwrap_err().to_string();
            assert!(
                error.starts_with("must not contain control characters"),
                "{bad:?}: {error}"
            );
        }
        assert_eq!(
            rule.parse("ab\u{0}").unwrap_err().to_string(),
            "must not contain control characters such as line breaks, tabs or NUL (found U+0000 at character 3)"
        );
    }

    #[test]
    fn prose_keeps_line_breaks_and_tabs_but_nothing_else() {
        let rule = TextRule::prose(100);
        assert_eq!(
            rule.parse(" line one\r\n\tline two\n").unwrap(),
            "line one\r\n\tline two"
        );
        assert_eq!(rule.parse("   ").unwrap(), "");
        assert_eq!(
            rule.parse("call\u{0}back").unwrap_err().to_string(),
            "must not contain control characters other than line breaks and tabs (found U+0000 at character 5)"
        );
        assert!(rule.parse("bell\u{7}").is_err());
        assert!(rule.parse("escape\u{1b}[31m").is_err());
    }

    #[test]
    fn lengths_count_characters_after_trimming() {
        let rule = TextRule::line(3);
        assert_eq!(rule.parse(" 客户名 ").unwrap(), "客户名");
        assert_eq!(
            rule.parse("abcd").unwrap_err().to_string(),
            "must be 1 to 3 characters after trimming, got 4"
        );
        assert_eq!(
            rule.parse(" ").unwrap_err().to_string(),
            "must be 1 to 3 characters after trimming, got 0"
        );
        assert_eq!(rule.optional().parse(" ").unwrap(), "");
        assert_eq!(
            TextRule::prose(2).parse("abc").unwrap_err().to_string(),
            "must be 0 to 2 characters after trimming, got 3"
        );
    }

    #[test]
    fn other_characters_are_text() {
        let rule = TextRule::line(50);
        for fine in [
            "Zoë & Co. 🚀",
            "\u{200b}zero width",
            "a\u{2028}b",
            "right\u{202e}left",
            "ÿ\u{a0}",
        ] {
            assert!(rule.parse(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn echo_quotes_escapes_control_characters_and_cuts() {
        assert_eq!(echo("name"), "\"name\"");
        assert_eq!(echo("a\u{0}b\tc"), "\"a\\0b\\tc\"");
        assert_eq!(shorten("\u{7}客"), "\\u{7}客");
        let long = "x".repeat(10_000);
        let shown = echo(&long);
        assert_eq!(shown.chars().count(), ECHO_MAX_CHARS + 3);
        assert!(shown.ends_with("x…\""), "{shown}");
        assert_eq!(echo(&"x".repeat(ECHO_MAX_CHARS)).chars().count(), ECHO_MAX_CHARS + 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsed_text_reparses_to_itself_and_holds_only_allowed_characters(
            raw in any::<String>(),
            many in any::<bool>(),
        ) {
            let rule = if many { TextRule::prose(50) } else { TextRule::line(50) };
            if let Ok(text) = rule.parse(&raw) {
                prop_assert!(text.chars().all(|c| allowed(c, rule.lines)));
                prop_assert!(text.chars().count() <= 50);
                prop_assert_eq!(rule.parse(&text), Ok(text.clone()));
            }
        }

        #[test]
        fn echo_is_bounded_and_free_of_control_characters(raw in any::<String>()) {
            let shown = echo(&raw);
            prop_assert!(!shown.chars().any(char::is_control));
            // Each character escapes to at most 10 (`\u{10ffff}`).
            prop_assert!(shown.chars().count() <= 10 * ECHO_MAX_CHARS + 3);
        }
    }
}
