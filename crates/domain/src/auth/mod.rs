//! Accounts: users, their credentials and sessions.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use crate::{Invalid, Violation};

pub mod refresh;

uuid_id!(UserId, "A user's id.");
uuid_id!(SessionId, "A session's id: one sign-in on one device, and its refresh-token family.");

/// An email address, normalised (trimmed, lower-case) so that uniqueness is
/// case-insensitive. Checked for shape only; ownership is proven elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// # Errors
    /// What is wrong (code `invalid`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid::new(Violation::Invalid, "is required"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(Invalid::new(Violation::Invalid, "must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(Invalid::new(Violation::Invalid, "must be an email address"));
        };
        let bad_char = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '@' | '<' | '>' | '(' | ')' | ',' | ';' | ':' | '\\' | '"' | '[' | ']')
        };
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(bad_char)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(Invalid::new(Violation::Invalid, "must be an email address"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) || labels.last().is_some_and(|tld| tld.len() < 2) {
            return Err(Invalid::new(Violation::Invalid, "must be an email address"));
        }
        Ok(Self(email))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1..=100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 100;

    /// # Errors
    /// What is wrong (code `invalid`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new(Violation::Invalid, "is required"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(Violation::Invalid, "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(Violation::Invalid, "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// A name derived from an email's local part, for accounts created by OAuth
    /// providers that share no name.
    #[must_use]
    pub fn from_email(email: &Email) -> Self {
        let local = email.as_str().split('@').next().unwrap_or("user");
        let name: String = local.chars().take(Self::MAX_CHARS).collect();
        Self(if name.is_empty() { "user".to_owned() } else { name })
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which rule a candidate password broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    TooShort,
    TooLong,
    Common,
}

impl From<PasswordRule> for Invalid {
    fn from(rule: PasswordRule) -> Self {
        match rule {
            PasswordRule::TooShort => Self::new(Violation::TooShort, "must be at least 8 characters"),
            PasswordRule::TooLong => Self::new(Violation::TooLong, "must be at most 128 characters"),
            PasswordRule::Common => Self::new(Violation::TooCommon, "is too common; choose another"),
        }
    }
}

impl fmt::Display for PasswordRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Invalid::from(*self).fmt(f)
    }
}

impl std::error::Error for PasswordRule {}

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../data/common-passwords.txt").lines().collect());

/// A new password that meets the rules: 8..=128 characters and not among the
/// 8,000+ most common passwords of that length (compared case-insensitively).
/// Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// # Errors
    /// The rule the candidate broke.
    pub fn parse(raw: &str) -> Result<Self, PasswordRule> {
        let chars = raw.chars().count();
        if chars < 8 {
            return Err(PasswordRule::TooShort);
        }
        if chars > 128 {
            return Err(PasswordRule::TooLong);
        }
        if COMMON_PASSWORDS.contains(raw.to_lowercase().as_str()) {
            return Err(PasswordRule::Common);
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Suspended,
}

impl UserStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// A user as the core sees it. The password hash is not part of it: it is read
/// only by the credential check, so it cannot leak through a user value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified: bool,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A sign-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityProviderId {
    Google,
    GitHub,
}

impl IdentityProviderId {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::GitHub => "github",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "google" => Some(Self::Google),
            "github" => Some(Self::GitHub),
            _ => None,
        }
    }

    #[must_use]
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Google => "Google",
            Self::GitHub => "GitHub",
        }
    }
}

/// Who a provider says signed in, after its token was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub provider: IdentityProviderId,
    /// The provider's stable id for the account (`sub`, GitHub's numeric id).
    pub subject: String,
    pub email: Email,
    /// Whether the provider vouches that the person controls `email`.
    pub email_verified: bool,
    pub name: Option<UserName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert!(Email::parse("first.last+tag@sub.example.co").is_ok());
        for bad in [
            "",
            "plain",
            "a@b",
            "a@b.c",
            "@example.com",
            "a@.com",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            "a@-x.com",
            "a@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn passwords_follow_the_rules() {
        assert_eq!(Password::parse("short").unwrap_err(), PasswordRule::TooShort);
        assert_eq!(Password::parse(&"x".repeat(129)).unwrap_err(), PasswordRule::TooLong);
        assert_eq!(Password::parse("password").unwrap_err(), PasswordRule::Common);
        assert_eq!(Password::parse("PassWord123").unwrap_err(), PasswordRule::Common);
        assert_eq!(Password::parse("12345678").unwrap_err(), PasswordRule::Common);
        assert!(Password::parse("correct horse battery staple").is_ok());
        // Length counts characters, not bytes.
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert_eq!(format!("{:?}", Password::parse("correct horse battery staple").unwrap()), "Password(***)");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"n".repeat(101)).is_err());
        assert!(UserName::parse("a\u{0}b").is_err());
        assert_eq!(UserName::from_email(&Email::parse("ada@example.com").unwrap()).as_str(), "ada");
    }

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = UserId::new();
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        assert_eq!(UserId::parse("../etc/passwd"), None);
    }
}
