//! What became of each file operation a job's reply asked for: applied (with
//! the file's size and SHA-256 after), or refused with a stable reason.

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    Write,
    Edit,
    Delete,
    Rename,
    /// A tag the protocol does not have, or one too broken to tell.
    Unknown,
}

impl OperationKind {
    pub const ALL: [Self; 5] = [Self::Write, Self::Edit, Self::Delete, Self::Rename, Self::Unknown];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Rename => "rename",
            Self::Unknown => "unknown",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Why an operation was not applied. Codes never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The path breaks the files API's rules (absolute, `..`, control characters...).
    InvalidPath,
    /// The file would be larger than a file may be.
    TooLarge,
    /// The project would have more files than it may.
    TooManyFiles,
    /// The project would exceed its plan's storage.
    StorageFull,
    /// A file and a directory would share a path.
    PathConflict,
    /// The file to edit, delete or rename is not there.
    NotFound,
    /// A rename onto a file that exists.
    AlreadyExists,
    /// An edit's SEARCH text is not in the file.
    SearchNotFound,
    /// An edit's SEARCH text matches more than once.
    SearchAmbiguous,
    /// An edit of a file that is not UTF-8 text.
    NotText,
    /// The tag broke the protocol (unknown tag, missing attribute, bad block...).
    Malformed,
    /// The reply ended (after its continuations) with the operation still open.
    Truncated,
}

impl RefusalReason {
    pub const ALL: [Self; 12] = [
        Self::InvalidPath,
        Self::TooLarge,
        Self::TooManyFiles,
        Self::StorageFull,
        Self::PathConflict,
        Self::NotFound,
        Self::AlreadyExists,
        Self::SearchNotFound,
        Self::SearchAmbiguous,
        Self::NotText,
        Self::Malformed,
        Self::Truncated,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPath => "invalid-path",
            Self::TooLarge => "too-large",
            Self::TooManyFiles => "too-many-files",
            Self::StorageFull => "storage-full",
            Self::PathConflict => "path-conflict",
            Self::NotFound => "not-found",
            Self::AlreadyExists => "already-exists",
            Self::SearchNotFound => "search-not-found",
            Self::SearchAmbiguous => "search-ambiguous",
            Self::NotText => "not-text",
            Self::Malformed => "malformed",
            Self::Truncated => "truncated",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// One operation's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationReport {
    pub kind: OperationKind,
    /// The file it wrote, edited or deleted; a rename's target. As the reply
    /// named it when it was refused for its path.
    pub path: Option<String>,
    /// A rename's source.
    pub from: Option<String>,
    /// `None`: applied.
    pub refused: Option<(RefusalReason, String)>,
    /// After an applied write, edit or rename: the file's size and SHA-256.
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

impl OperationReport {
    #[must_use]
    pub fn applied(&self) -> bool {
        self.refused.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back() {
        for kind in OperationKind::ALL {
            assert_eq!(OperationKind::parse(kind.as_str()), Some(kind));
        }
        for reason in RefusalReason::ALL {
            assert_eq!(RefusalReason::parse(reason.as_str()), Some(reason));
        }
    }
}
