//! Projects, their files and their conversation.

use chrono::{DateTime, Utc};

use crate::{Invalid, Violation};

use crate::UserId;

mod revisions;

pub use revisions::{RecordedChange, Revision, RevisionChange, RevisionKind, state_after};

uuid_id!(ProjectId, "A project's id.");

/// 1..=100 characters once trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// # Errors
    /// What is wrong (code `invalid`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid::new(Violation::Invalid, "is required"));
        }
        if name.chars().count() > 100 {
            return Err(Invalid::new(Violation::Invalid, "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(Violation::Invalid, "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 2,000 characters; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDescription(String);

impl ProjectDescription {
    /// `None` for an empty (after trimming) description.
    ///
    /// # Errors
    /// What is wrong (code `invalid`).
    pub fn parse(raw: &str) -> Result<Option<Self>, Invalid> {
        let text = raw.trim();
        if text.chars().count() > 2000 {
            return Err(Invalid::new(Violation::Invalid, "must be at most 2000 characters"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(Invalid::new(Violation::Invalid, "must not contain control characters"));
        }
        Ok((!text.is_empty()).then(|| Self(text.to_owned())))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            #[must_use]
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

string_enum!(
    /// The stack a project is built with.
    Framework {
        React => "react",
        NextJs => "nextjs",
        Vue => "vue",
        Nuxt => "nuxt",
        Svelte => "svelte",
        SvelteKit => "sveltekit",
        Angular => "angular",
        Astro => "astro",
        Remix => "remix",
        Solid => "solid",
        Express => "express",
        FastApi => "fastapi",
        Django => "django",
        Flask => "flask",
        Rails => "rails",
        Laravel => "laravel",
        Static => "static",
    }
);

string_enum!(
    /// Who wrote a conversation message.
    MessageRole {
        User => "user",
        Assistant => "assistant",
        System => "system",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub owner_id: UserId,
    pub name: ProjectName,
    pub description: Option<ProjectDescription>,
    pub framework: Option<Framework>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A partial update: `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub description: Option<Option<ProjectDescription>>,
    pub framework: Option<Option<Framework>>,
}

impl ProjectPatch {
    /// `project` with the patch applied and stamped `now`, or `None` when the
    /// patch changes nothing (so `updated_at` does not move).
    #[must_use]
    pub fn apply(&self, project: &Project, now: DateTime<Utc>) -> Option<Project> {
        let mut patched = project.clone();
        if let Some(name) = &self.name {
            patched.name = name.clone();
        }
        if let Some(description) = &self.description {
            patched.description.clone_from(description);
        }
        if let Some(framework) = self.framework {
            patched.framework = framework;
        }
        (patched != *project).then_some(Project { updated_at: now, ..patched })
    }
}

/// Why a file path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePathError {
    Empty,
    TooLong,
    TooDeep,
    Absolute,
    Backslash,
    ControlCharacter,
    DotSegment,
    SegmentTooLong,
}

impl From<FilePathError> for Invalid {
    fn from(err: FilePathError) -> Self {
        use Violation as V;
        let (violation, message) = match err {
            FilePathError::Empty => (V::Required, "is required"),
            FilePathError::TooLong => (V::TooLong, "must be at most 512 bytes"),
            FilePathError::TooDeep => (V::TooDeep, "must be at most 16 directories deep"),
            FilePathError::Absolute => (V::Absolute, "must be relative (no leading /)"),
            FilePathError::Backslash => (V::Backslash, "must use / as separator (no backslashes)"),
            FilePathError::ControlCharacter => {
                (V::ControlCharacter, "must not contain control or invisible (bidirectional, zero-width) characters")
            }
            FilePathError::DotSegment => (V::DotSegment, "must not contain . or .. segments"),
            FilePathError::SegmentTooLong => (V::TooLong, "each segment must be at most 255 bytes"),
        };
        Self::new(violation, message)
    }
}

impl std::fmt::Display for FilePathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Invalid::from(*self).fmt(f)
    }
}

impl std::error::Error for FilePathError {}

/// Format characters that make a path read differently from what it is:
/// bidirectional overrides and isolates, zero-width characters, the BOM.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A file's path inside a project: relative, `/`-separated, normalised (empty
/// segments dropped), with no `.` or `..` segments, backslashes or control
/// characters, at most 512 bytes and 16 levels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

impl std::fmt::Display for FilePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FilePath {
    pub const MAX_LEN: usize = 512;
    pub const MAX_DEPTH: usize = 16;

    /// # Errors
    /// The rule the path broke.
    pub fn parse(raw: &str) -> Result<Self, FilePathError> {
        if raw.is_empty() {
            return Err(FilePathError::Empty);
        }
        // A cheap bound on the work below; the limit itself applies to the
        // normalised path (`a//b` counts as `a/b`).
        if raw.len() > 4 * Self::MAX_LEN {
            return Err(FilePathError::TooLong);
        }
        if raw.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(FilePathError::ControlCharacter);
        }
        if raw.contains('\\') {
            return Err(FilePathError::Backslash);
        }
        if raw.starts_with('/') {
            return Err(FilePathError::Absolute);
        }
        let segments: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() {
            return Err(FilePathError::Empty);
        }
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(FilePathError::DotSegment);
        }
        if segments.iter().any(|s| s.len() > 255) {
            return Err(FilePathError::SegmentTooLong);
        }
        if segments.len() > Self::MAX_DEPTH {
            return Err(FilePathError::TooDeep);
        }
        let path = segments.join("/");
        if path.len() > Self::MAX_LEN {
            return Err(FilePathError::TooLong);
        }
        Ok(Self(path))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file's metadata: what lists show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub path: FilePath,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub updated_at: DateTime<Utc>,
}

uuid_id!(MessageId, "A conversation message's id.");

/// A conversation message's text: 1..=32,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub const MAX_CHARS: usize = 32_000;

    /// # Errors
    /// What is wrong (code `invalid`).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Err(Invalid::new(Violation::Invalid, "is required"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(Violation::Invalid, "must be at most 32000 characters"));
        }
        if raw.contains('\0') {
            return Err(Invalid::new(Violation::Invalid, "must not contain NUL characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub project_id: ProjectId,
    pub role: MessageRole,
    pub content: MessageContent,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_that_changes_nothing_leaves_the_project_as_it_is() {
        let then = Utc::now() - chrono::Duration::hours(1);
        let project = Project {
            id: crate::ProjectId::new(),
            owner_id: UserId::new(),
            name: ProjectName::parse("Recipes").unwrap(),
            description: ProjectDescription::parse("Save them").unwrap(),
            framework: Some(Framework::parse("nextjs").unwrap()),
            created_at: then,
            updated_at: then,
        };
        let now = Utc::now();
        assert_eq!(ProjectPatch::default().apply(&project, now), None);
        let same = ProjectPatch {
            name: Some(project.name.clone()),
            description: Some(project.description.clone()),
            framework: Some(project.framework),
        };
        assert_eq!(same.apply(&project, now), None, "the same values are no change");
        let renamed = ProjectPatch { name: Some(ProjectName::parse("Recipe box").unwrap()), ..ProjectPatch::default() };
        let patched = renamed.apply(&project, now).unwrap();
        assert_eq!((patched.name.as_str(), patched.updated_at, patched.created_at), ("Recipe box", now, then));
        let cleared = ProjectPatch { description: Some(None), framework: Some(None), ..ProjectPatch::default() };
        let patched = cleared.apply(&project, now).unwrap();
        assert_eq!((patched.description, patched.framework), (None, None));
    }

    #[test]
    fn file_paths_are_normalised() {
        assert_eq!(FilePath::parse("src//app/./x.ts").map(|p| p.0), Err(FilePathError::DotSegment));
        assert_eq!(FilePath::parse("src//app///main.rs").unwrap().as_str(), "src/app/main.rs");
        assert_eq!(FilePath::parse("src/").unwrap().as_str(), "src");
        assert_eq!(FilePath::parse("ünïcødé/файл.txt").unwrap().as_str(), "ünïcødé/файл.txt");
    }

    #[test]
    fn file_path_attacks_are_refused() {
        let cases = [
            ("../x", FilePathError::DotSegment),
            ("a/../../etc/passwd", FilePathError::DotSegment),
            ("/etc/passwd", FilePathError::Absolute),
            ("a\\b", FilePathError::Backslash),
            ("..\\..\\windows", FilePathError::Backslash),
            ("a\0b", FilePathError::ControlCharacter),
            ("a\nb", FilePathError::ControlCharacter),
            ("evil\u{202E}gpj.exe", FilePathError::ControlCharacter),
            ("zero\u{200B}width", FilePathError::ControlCharacter),
            ("", FilePathError::Empty),
            ("//", FilePathError::Absolute),
            (".", FilePathError::DotSegment),
        ];
        for (raw, expected) in cases {
            assert_eq!(FilePath::parse(raw), Err(expected), "{raw:?}");
        }
        assert_eq!(FilePath::parse(&"a".repeat(10_000)), Err(FilePathError::TooLong));
        assert_eq!(FilePath::parse(&"a/".repeat(17)), Err(FilePathError::TooDeep));
        assert_eq!(FilePath::parse(&"b".repeat(256)), Err(FilePathError::SegmentTooLong));
        let long = vec!["c".repeat(40); 13].join("/");
        assert_eq!(long.len(), 532);
        assert_eq!(FilePath::parse(&long), Err(FilePathError::TooLong));
    }

    #[test]
    fn the_length_limit_applies_to_the_normalised_path() {
        let raw = format!("{}{}y", "x".repeat(200), "/".repeat(400));
        assert!(raw.len() > FilePath::MAX_LEN);
        assert_eq!(FilePath::parse(&raw).unwrap().as_str(), format!("{}/y", "x".repeat(200)));
        let at_limit = format!("{}/{}", "d".repeat(255), "e".repeat(256 - 1));
        assert_eq!(at_limit.len(), FilePath::MAX_LEN - 1);
        assert!(FilePath::parse(&at_limit).is_ok());
    }

    #[test]
    fn names_descriptions_and_messages_are_bounded() {
        assert_eq!(ProjectName::parse("  My app ").unwrap().as_str(), "My app");
        assert!(ProjectName::parse(" ").is_err());
        assert!(ProjectName::parse(&"n".repeat(101)).is_err());
        assert_eq!(ProjectDescription::parse("  ").unwrap(), None);
        assert!(ProjectDescription::parse(&"d".repeat(2001)).is_err());
        assert!(MessageContent::parse("").is_err());
        assert!(MessageContent::parse(&"m".repeat(32_001)).is_err());
        assert_eq!(Framework::parse("nextjs"), Some(Framework::NextJs));
        assert_eq!(Framework::parse("NextJS"), None);
    }
}
