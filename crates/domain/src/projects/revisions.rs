//! Revisions: every change to a project's files, numbered, so any state can be
//! restored. A job's applied operations are one revision; each change through
//! the files API is one; a restore is one too (so it can be undone in turn).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::FilePath;
use crate::JobId;

/// What made a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevisionKind {
    /// A generation job's operations.
    Job,
    /// A change through the files API.
    Files,
    /// The files as they were after an earlier revision.
    Restore,
}

impl RevisionKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Files => "files",
            Self::Restore => "restore",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "job" => Some(Self::Job),
            "files" => Some(Self::Files),
            "restore" => Some(Self::Restore),
            _ => None,
        }
    }
}

/// One path a revision changed: its content's SHA-256 before and after (`None`:
/// the file did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionChange {
    pub path: FilePath,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// 1, 2, ... within its project.
    pub number: u64,
    pub kind: RevisionKind,
    pub job_id: Option<JobId>,
    pub summary: Option<String>,
    /// For a restore: the revision whose state it brought back.
    pub restored_from: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub changes: Vec<RevisionChange>,
}

/// A change recorded after revision `number`, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChange {
    pub number: u64,
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The state to bring back for a restore to revision `target`: for every path
/// changed by a later revision, its content (by SHA-256) as it was right after
/// `target`, which is what the earliest later change found before it (`None`:
/// the file did not exist then). Paths no later revision touched are as they were.
#[must_use]
pub fn state_after(target: u64, later: &[RecordedChange]) -> BTreeMap<String, Option<String>> {
    let mut earliest: BTreeMap<&str, &RecordedChange> = BTreeMap::new();
    for change in later.iter().filter(|c| c.number > target) {
        let entry = earliest.entry(change.path.as_str()).or_insert(change);
        if change.number < entry.number {
            *entry = change;
        }
    }
    earliest.into_iter().map(|(path, change)| (path.to_owned(), change.before.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(number: u64, path: &str, before: Option<&str>, after: Option<&str>) -> RecordedChange {
        RecordedChange {
            number,
            path: path.to_owned(),
            before: before.map(str::to_owned),
            after: after.map(str::to_owned),
        }
    }

    #[test]
    fn the_state_after_a_revision_is_what_the_first_later_change_found() {
        let log = [
            change(1, "a", None, Some("a1")),
            change(2, "a", Some("a1"), Some("a2")),
            change(2, "b", None, Some("b1")),
            change(3, "a", Some("a2"), None),
            change(3, "c", Some("c0"), Some("c1")),
        ];
        let after_1 = state_after(1, &log);
        assert_eq!(after_1.get("a"), Some(&Some("a1".to_owned())));
        assert_eq!(after_1.get("b"), Some(&None), "b did not exist after 1");
        assert_eq!(after_1.get("c"), Some(&Some("c0".to_owned())), "c predates the history");
        let after_2 = state_after(2, &log);
        assert_eq!(after_2.len(), 2);
        assert_eq!(after_2.get("a"), Some(&Some("a2".to_owned())));
        assert!(state_after(3, &log).is_empty(), "nothing changed after the newest");
        assert_eq!(state_after(0, &log).get("a"), Some(&None));
    }

    #[test]
    fn kinds_read_back() {
        for kind in [RevisionKind::Job, RevisionKind::Files, RevisionKind::Restore] {
            assert_eq!(RevisionKind::parse(kind.as_str()), Some(kind));
        }
    }
}
