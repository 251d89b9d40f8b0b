//! Macros shared by the domain's modules.

/// Defines a closed enumeration with a `SCREAMING_SNAKE` name (as in the proto, without the type
/// prefix) and a stable storage code for each value.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = ($code:literal, $label:literal)),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order, which is also storage code order.
            pub const ALL: [Self; [$($code),+].len()] = [$(Self::$variant),+];

            /// The [`name`](Self::name) of every value, in declaration order.
            pub const NAMES: [&'static str; [$($code),+].len()] = [$($label),+];

            /// Returns the value's `SCREAMING_SNAKE` name as the proto spells it, without the type
            /// prefix.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $label),+
                }
            }

            /// Returns the value whose [`name`](Self::name) is exactly `name` (case-sensitive).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($label => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// Returns the value's stable storage code; codes start at 1 and 0 is never used.
            pub const fn code(self) -> i16 {
                match self {
                    $(Self::$variant => $code),+
                }
            }

            /// Returns the value with storage code `code`, or `None` for an unknown code.
            pub const fn from_code(code: i16) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// Defines a `Copy` id type wrapping a UUID: server-assigned as v7 (so ids sort by creation
/// time), parsed only from the hyphenated form, and displayed in lowercase hyphenated form.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// Generates a new id: a UUID v7.
            pub fn generate() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            /// Accepts a UUID in hyphenated form, in either case.
            ///
            /// # Errors
            /// Returns `InvalidValue` when `raw` is not 8-4-4-4-12 hexadecimal digits.
            pub fn parse(raw: &str) -> Result<Self, $crate::customer::values::InvalidValue> {
                let hyphenated = raw.len() == 36 && raw.bytes().filter(|b| *b == b'-').count() == 4;
                ::uuid::Uuid::try_parse(raw).ok().filter(|_| hyphenated).map(Self).ok_or_else(|| {
                    $crate::customer::values::InvalidValue(
                        "must be a UUID (8-4-4-4-12 hexadecimal digits)".to_owned(),
                    )
                })
            }

            /// Wraps a UUID read back from storage.
            pub const fn from_uuid(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// Returns the UUID.
            pub const fn as_uuid(self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            /// Writes the UUID in lowercase hyphenated form.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}
