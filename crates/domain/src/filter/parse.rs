//! The parser: [`Filter::parse`], a recursive-descent [`Parser`] over the filter text, and the
//! checks that turn a `field comparator value` into a typed restriction.

use chrono::{DateTime, Utc};

use super::fields::{EnumSpec, FieldKind, known_fields};
use super::{CompareOp, Filter, FilterError, FilterField, FilterValue, MAX_DEPTH, MAX_INPUT_BYTES, MAX_RESTRICTIONS};

impl Filter {
    /// Parses an AIP-160 filter. Empty or whitespace-only input means "no filter" and gives
    /// `Ok(None)`.
    ///
    /// # Errors
    ///
    /// A [`FilterError`] for any syntax error, unknown field, comparator the field does not
    /// support, value of the wrong type, or exceeded limit ([`MAX_INPUT_BYTES`],
    /// [`MAX_DEPTH`], [`MAX_RESTRICTIONS`]).
    pub fn parse(input: &str) -> Result<Option<Filter>, FilterError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(FilterError::new(
                MAX_INPUT_BYTES,
                format!(
                    "the filter is {} bytes long; at most {MAX_INPUT_BYTES} are allowed",
                    input.len()
                ),
            ));
        }
        let mut parser = Parser {
            src: input,
            pos: 0,
            depth: 0,
            restrictions: 0,
        };
        parser.skip_ws();
        if parser.at_end() {
            return Ok(None);
        }
        let filter = parser.expression()?;
        parser.skip_ws();
        match parser.peek() {
            None => Ok(Some(filter)),
            Some(')') => Err(FilterError::new(
                parser.pos,
                "unmatched `)`: there is no `(` for it to close",
            )),
            // `expression` only stops at `)` or the end; anything else is a parser bug, which
            // is reported rather than panicking.
            Some(c) => Err(FilterError::new(parser.pos, format!("unexpected `{c}`"))),
        }
    }
}

/// A comparator as written: one of the six comparisons, or `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparator {
    Compare(CompareOp),
    Has,
}

impl Comparator {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Comparator::Compare(CompareOp::Eq | CompareOp::StartsWith) => "=",
            Comparator::Compare(CompareOp::Ne) => "!=",
            Comparator::Compare(CompareOp::Lt) => "<",
            Comparator::Compare(CompareOp::Le) => "<=",
            Comparator::Compare(CompareOp::Gt) => ">",
            Comparator::Compare(CompareOp::Ge) => ">=",
            Comparator::Has => ":",
        }
    }
}

/// A value as written, before it is converted to the field's type.
#[derive(Debug)]
struct RawValue {
    /// The text with escapes resolved, including any trailing `*`.
    text: String,
    /// The text ends with a `*` that was not escaped.
    wildcard: bool,
    /// Byte offset of the value (of its opening quote, if quoted).
    position: usize,
}

/// A recursive-descent parser over the filter text. `pos` is always on a char boundary: it
/// only moves by whole characters or by the length of text it has just read.
#[derive(Debug)]
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    restrictions: usize,
}

fn is_comparator_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | ':')
}

/// Characters that may appear in a field name or keyword as scanned (anything that is not a
/// delimiter); whether the word is a known field is decided afterwards.
fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || is_comparator_char(c) || matches!(c, '(' | ')' | '"' | '\''))
}

/// One element stays itself; several are combined with `combine`.
fn collapse(mut items: Vec<Filter>, combine: fn(Vec<Filter>) -> Filter) -> Filter {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    combine(items)
}

/// `text` for an error message: control characters escaped, cut after 40 characters.
pub(super) fn excerpt(text: &str) -> String {
    crate::text::shorten(text)
}

/// The error for a control character `c` at byte offset `position` inside a value.
fn control_in_value(position: usize, c: char) -> FilterError {
    FilterError::new(
        position,
        format!(
            "a value cannot contain the control character {}: no stored value has control characters",
            crate::text::code_point(c)
        ),
    )
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The word starting at the current position (possibly empty), without consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(rest.len(), |(i, _)| i);
        rest.get(..end).unwrap_or("")
    }

    /// Consumes `keyword` if it is the next word.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_word() == keyword {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn peek_comparator(&self) -> Option<(Comparator, usize)> {
        let rest = self.rest();
        let found = [
            ("!=", Comparator::Compare(CompareOp::Ne)),
            ("<=", Comparator::Compare(CompareOp::Le)),
            (">=", Comparator::Compare(CompareOp::Ge)),
            ("=", Comparator::Compare(CompareOp::Eq)),
            ("<", Comparator::Compare(CompareOp::Lt)),
            (">", Comparator::Compare(CompareOp::Gt)),
            (":", Comparator::Has),
        ]
        .into_iter()
        .find(|(symbol, _)| rest.starts_with(symbol));
        found.map(|(symbol, comparator)| (comparator, symbol.len()))
    }

    /// `expression = sequence {"AND" sequence}`; the factors of all sequences form one `And`.
    fn expression(&mut self) -> Result<Filter, FilterError> {
        let mut items = Vec::new();
        self.sequence(&mut items)?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("AND") {
                break;
            }
            self.sequence(&mut items)?;
        }
        Ok(collapse(items, Filter::And))
    }

    /// `sequence = factor {factor}`: pushes each factor onto `items`.
    fn sequence(&mut self, items: &mut Vec<Filter>) -> Result<(), FilterError> {
        items.push(self.factor()?);
        loop {
            self.skip_ws();
            if matches!(self.peek(), None | Some(')')) || self.peek_word() == "AND" {
                return Ok(());
            }
            items.push(self.factor()?);
        }
    }

    /// `factor = term {"OR" term}`.
    fn factor(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.term()?];
        loop {
            self.skip_ws();
            if !self.eat_keyword("OR") {
                break;
            }
            terms.push(self.term()?);
        }
        Ok(collapse(terms, Filter::Or))
    }

    /// `term = ["NOT" | "-"] simple`.
    fn term(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
            if self.peek().is_none_or(char::is_whitespace) {
                return Err(FilterError::new(
                    start,
                    "`-` must be written directly before what it negates, e.g. -churned = true",
                ));
            }
        } else if self.eat_keyword("NOT") {
            self.skip_ws();
        } else {
            return self.simple();
        }
        if self.peek() == Some('-') || self.peek_word() == "NOT" {
            return Err(FilterError::new(
                self.pos,
                "a negation cannot directly follow another; use parentheses: NOT (NOT ...)",
            ));
        }
        Ok(Filter::Not(Box::new(self.simple()?)))
    }

    /// `simple = restriction | "(" expression ")"`.
    fn simple(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return self.restriction();
        }
        let open = self.pos;
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                open,
                format!("parentheses are nested too deeply; at most {MAX_DEPTH} levels are allowed"),
            ));
        }
        self.bump();
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(FilterError::new(
                open,
                "empty parentheses: write at least one restriction inside ( )",
            ));
        }
        self.depth += 1;
        let inner = self.expression()?;
        self.depth -= 1;
        self.skip_ws();
        if self.bump() != Some(')') {
            return Err(FilterError::new(
                self.src.len(),
                format!("missing `)` to close the `(` at position {open}"),
            ));
        }
        Ok(inner)
    }

    /// `restriction = field comparator value`.
    fn restriction(&mut self) -> Result<Filter, FilterError> {
        let start = self.pos;
        match self.peek() {
            None => {
                return Err(FilterError::new(
                    start,
                    "expected a restriction such as display_name = \"Acme\", found the end of the filter",
                ));
            }
            Some(')') if self.depth == 0 => {
                return Err(FilterError::new(
                    start,
                    "unmatched `)`: there is no `(` for it to close",
                ));
            }
            Some(')') => {
                return Err(FilterError::new(
                    start,
                    "expected a restriction such as display_name = \"Acme\", found `)`",
                ));
            }
            Some('"' | '\'') => {
                return Err(FilterError::new(
                    start,
                    "a bare value (global text search) is not supported: name the field to \
                     match, e.g. display_name = \"Acme\"",
                ));
            }
            Some(c) if is_comparator_char(c) => {
                return Err(FilterError::new(start, format!("expected a field name before `{c}`")));
            }
            Some(_) => {}
        }

        let word = self.peek_word();
        if matches!(word, "AND" | "OR" | "NOT") {
            return Err(FilterError::new(
                start,
                format!("expected a restriction such as display_name = \"Acme\", found the keyword {word}"),
            ));
        }
        if ["and", "or", "not"]
            .iter()
            .any(|keyword| word.eq_ignore_ascii_case(keyword))
        {
            return Err(FilterError::new(
                start,
                format!(
                    "`{word}` is not a keyword: write AND, OR and NOT in uppercase, e.g. {}",
                    word.to_ascii_uppercase()
                ),
            ));
        }
        self.pos += word.len();
        self.skip_ws();

        let comparator_pos = self.pos;
        let Some((comparator, len)) = self.peek_comparator() else {
            if self.peek() == Some('!') {
                return Err(FilterError::new(
                    comparator_pos,
                    "unknown comparator `!`; use =, !=, <, <=, >, >= or :",
                ));
            }
            let message = match FilterField::from_path(word) {
                Some(field) => format!(
                    "`{word}` needs a comparator and a value; {} supports {}",
                    field.path(),
                    field.kind().comparators()
                ),
                None => format!(
                    "`{shown}` has no comparator: a bare value (global text search) is not \
                     supported; name the field to match, e.g. display_name = \"{shown}\"",
                    shown = excerpt(word)
                ),
            };
            return Err(FilterError::new(start, message));
        };

        let Some(field) = FilterField::from_path(word) else {
            return Err(FilterError::new(
                start,
                format!(
                    "unknown field `{}`; the fields you can filter on are: {}",
                    excerpt(word),
                    known_fields()
                ),
            ));
        };
        self.restrictions += 1;
        if self.restrictions > MAX_RESTRICTIONS {
            return Err(FilterError::new(
                start,
                format!("too many restrictions; a filter may contain at most {MAX_RESTRICTIONS}"),
            ));
        }
        check_comparator(field, comparator, comparator_pos)?;
        self.pos += len;
        self.skip_ws();
        let raw = self.value(comparator)?;
        restriction(field, comparator, raw)
    }

    /// A quoted or bare value after `comparator`.
    fn value(&mut self, comparator: Comparator) -> Result<RawValue, FilterError> {
        let start = self.pos;
        let symbol = comparator.symbol();
        match self.peek() {
            None => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found the end of the filter"),
            )),
            Some(quote @ ('"' | '\'')) => {
                let value = self.quoted(quote)?;
                if self.peek().is_some_and(|c| !c.is_whitespace() && c != ')') {
                    return Err(FilterError::new(
                        self.pos,
                        "expected whitespace, `)` or the end of the filter after the closing quote",
                    ));
                }
                Ok(value)
            }
            Some(c @ ('(' | ')')) => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found `{c}`; quote values that contain parentheses"),
            )),
            Some(c) if is_comparator_char(c) => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found `{c}`"),
            )),
            Some(_) => {
                let rest = self.rest();
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| c.is_whitespace() || matches!(c, '(' | ')'))
                    .map_or(rest.len(), |(i, _)| i);
                let text = rest.get(..end).unwrap_or("");
                if let Some((offset, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
                    return Err(control_in_value(start + offset, c));
                }
                if matches!(text, "AND" | "OR" | "NOT") {
                    return Err(FilterError::new(
                        start,
                        format!(
                            "expected a value after `{symbol}`, found the keyword {text}; \
                             write \"{text}\" to use it as a value"
                        ),
                    ));
                }
                self.pos += end;
                if self.peek() == Some('(') {
                    return Err(FilterError::new(
                        self.pos,
                        "unexpected `(` after the value; quote values that contain parentheses",
                    ));
                }
                Ok(RawValue {
                    text: text.to_owned(),
                    wildcard: text.ends_with('*'),
                    position: start,
                })
            }
        }
    }

    /// A string in `quote`s, with backslash escapes; the current character is the opening
    /// quote.
    fn quoted(&mut self, quote: char) -> Result<RawValue, FilterError> {
        let start = self.pos;
        self.bump();
        let mut text = String::new();
        let mut wildcard = false;
        let unterminated = || {
            FilterError::new(
                start,
                format!("unterminated string: the {quote} opened here is never closed"),
            )
        };
        loop {
            let here = self.pos;
            let c = self.bump().ok_or_else(unterminated)?;
            if c == quote {
                break;
            }
            if c.is_control() {
                return Err(control_in_value(here, c));
            }
            wildcard = c == '*';
            if c != '\\' {
                text.push(c);
                continue;
            }
            let escaped = self.bump().ok_or_else(unterminated)?;
            text.push(match escaped {
                '"' | '\'' | '\\' | '*' => escaped,
                other => {
                    return Err(FilterError::new(
                        here,
                        format!(
                            "unknown escape `\\{}`; the escapes are \\\", \\', \\\\ and \\* (values cannot \
                             contain line breaks, tabs or other control characters)",
                            excerpt(&other.to_string())
                        ),
                    ));
                }
            });
        }
        Ok(RawValue {
            text,
            wildcard,
            position: start,
        })
    }
}

/// Checks that `field` supports `comparator`, before its value is read.
fn check_comparator(field: FilterField, comparator: Comparator, position: usize) -> Result<(), FilterError> {
    let kind = field.kind();
    let path = field.path();
    let supported = match (kind, comparator) {
        (FieldKind::RepeatedString | FieldKind::RepeatedEnum(_), Comparator::Has) => true,
        (FieldKind::RepeatedString | FieldKind::RepeatedEnum(_), Comparator::Compare(_)) => {
            return Err(FilterError::new(
                position,
                format!("{path} is a repeated field: test membership with `:`, e.g. {path}:value"),
            ));
        }
        (_, Comparator::Has) => {
            return Err(FilterError::new(
                position,
                format!(
                    "`:` (has) applies only to the repeated fields tags and needs; \
                     {path} is {} and supports {}",
                    kind.describe(),
                    kind.comparators()
                ),
            ));
        }
        (FieldKind::String | FieldKind::Int | FieldKind::Timestamp, Comparator::Compare(_)) => true,
        (FieldKind::Enum(_) | FieldKind::Bool, Comparator::Compare(op)) => {
            matches!(op, CompareOp::Eq | CompareOp::Ne)
        }
    };
    if supported {
        Ok(())
    } else {
        Err(FilterError::new(
            position,
            format!(
                "`{}` does not apply to {path}, which is {} and supports only {}",
                comparator.symbol(),
                kind.describe(),
                kind.comparators()
            ),
        ))
    }
}

/// Builds the restriction, converting `raw` to the type of `field`. The comparator has been
/// checked by [`check_comparator`].
fn restriction(field: FilterField, comparator: Comparator, raw: RawValue) -> Result<Filter, FilterError> {
    let path = field.path();
    let compare = |op: CompareOp, value: FilterValue| Filter::Compare { field, op, value };
    // `:` reaches only the repeated-field arms, which do not use `op`.
    let op = match comparator {
        Comparator::Compare(op) => op,
        Comparator::Has => CompareOp::Eq,
    };
    match field.kind() {
        FieldKind::String => {
            if !raw.wildcard {
                return Ok(compare(op, FilterValue::String(raw.text)));
            }
            if op != CompareOp::Eq {
                return Err(wildcard_error(&raw, comparator));
            }
            let mut prefix = raw.text;
            prefix.pop();
            Ok(compare(CompareOp::StartsWith, FilterValue::String(prefix)))
        }
        FieldKind::RepeatedString => {
            if raw.wildcard {
                return Err(wildcard_error(&raw, comparator));
            }
            Ok(Filter::Has {
                field,
                value: FilterValue::String(raw.text),
            })
        }
        FieldKind::Enum(spec) => Ok(compare(op, FilterValue::Enum(enum_value(spec, field, &raw)?))),
        FieldKind::RepeatedEnum(spec) => Ok(Filter::Has {
            field,
            value: FilterValue::Enum(enum_value(spec, field, &raw)?),
        }),
        FieldKind::Int => match raw.text.parse::<i64>() {
            Ok(number) => Ok(compare(op, FilterValue::Int(number))),
            Err(error) => {
                let reason = match error.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        "is out of range for a 64-bit integer"
                    }
                    _ => "is not an integer",
                };
                Err(FilterError::new(
                    raw.position,
                    format!(
                        "`{}` {reason}; {path} takes a whole number such as 42",
                        excerpt(&raw.text)
                    ),
                ))
            }
        },
        FieldKind::Bool => match raw.text.as_str() {
            "true" => Ok(compare(op, FilterValue::Bool(true))),
            "false" => Ok(compare(op, FilterValue::Bool(false))),
            _ => Err(FilterError::new(
                raw.position,
                format!("`{}` is not a boolean; {path} takes true or false", excerpt(&raw.text)),
            )),
        },
        FieldKind::Timestamp => match DateTime::parse_from_rfc3339(&raw.text) {
            Ok(time) => Ok(compare(op, FilterValue::Timestamp(time.with_timezone(&Utc)))),
            Err(error) => Err(FilterError::new(
                raw.position,
                format!(
                    "`{}` is not an RFC 3339 timestamp ({error}); {path} takes a time such as \
                     2026-01-01T00:00:00Z",
                    excerpt(&raw.text)
                ),
            )),
        },
    }
}

fn wildcard_error(raw: &RawValue, comparator: Comparator) -> FilterError {
    FilterError::new(
        raw.position,
        format!(
            "a trailing `*` (prefix match) works only with `=` on string fields, not with `{}`; \
             to match a literal asterisk, quote the value and write \\*",
            comparator.symbol()
        ),
    )
}

/// The canonical name of the enum value `raw`, written bare or with the proto prefix.
fn enum_value(spec: EnumSpec, field: FilterField, raw: &RawValue) -> Result<&'static str, FilterError> {
    let name = raw.text.strip_prefix(spec.prefix).unwrap_or(&raw.text);
    spec.names
        .iter()
        .copied()
        .find(|allowed| *allowed == name)
        .ok_or_else(|| {
            FilterError::new(
                raw.position,
                format!(
                    "`{}` is not a valid {}; allowed values are {} (optionally prefixed with {})",
                    excerpt(&raw.text),
                    field.path(),
                    spec.names.join(", "),
                    spec.prefix
                ),
            )
        })
}
