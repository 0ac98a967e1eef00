//! The one shape of every refusal a domain `parse` gives: the rule broken, as a
//! stable code, and a sentence for people.

use std::fmt;

/// The rules a value can break. Their codes are what clients see in a field
/// error's `code`, so they never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Violation {
    /// Missing or empty.
    Required,
    /// Not of the expected form.
    Invalid,
    TooShort,
    TooLong,
    /// A password among the most common ones.
    TooCommon,
    /// A path nested too deep.
    TooDeep,
    /// A path that starts at the root.
    Absolute,
    /// A path with `\` as separator.
    Backslash,
    ControlCharacter,
    /// A path with `.` or `..` segments.
    DotSegment,
}

impl Violation {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Invalid => "invalid",
            Self::TooShort => "too-short",
            Self::TooLong => "too-long",
            Self::TooCommon => "too-common",
            Self::TooDeep => "too-deep",
            Self::Absolute => "absolute",
            Self::Backslash => "backslash",
            Self::ControlCharacter => "control-character",
            Self::DotSegment => "dot-segment",
        }
    }
}

/// Why a value was refused: which rule it broke and what to tell a person.
/// `Display` is the sentence, written to follow the field's name ("must be at
/// most 100 characters").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    violation: Violation,
    message: &'static str,
}

impl Invalid {
    #[must_use]
    pub const fn new(violation: Violation, message: &'static str) -> Self {
        Self { violation, message }
    }

    #[must_use]
    pub fn violation(&self) -> Violation {
        self.violation
    }

    /// The rule's stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.violation.code()
    }

    #[must_use]
    pub fn message(&self) -> &'static str {
        self.message
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Invalid {}
