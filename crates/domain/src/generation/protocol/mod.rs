//! The file protocol the model answers in (version 1), read as the reply streams
//! in, and the matcher that applies its edits.
//!
//! ```text
//! <devora-write path="src/App.tsx">
//! ...the whole file...
//! </devora-write>
//! <devora-edit path="src/App.tsx">
//! <<<<<<< SEARCH
//! lines as they are now
//! =======
//! lines as they should be
//! >>>>>>> REPLACE
//! </devora-edit>
//! <devora-delete path="src/old.css"/>
//! <devora-rename from="src/a.ts" to="src/b.ts"/>
//! <devora-summary>one paragraph for the conversation</devora-summary>
//! ```
//!
//! Text outside tags is the assistant's prose. Clients rely on these tags, so
//! they never change within a version.
//!
//! Rules a reader of the model's output should know:
//! - Attribute values are quoted (`"` or `'`) and XML-escaped (`&quot;`
//!   `&apos;` `&amp;` `&lt;` `&gt;`, `&#NN;`, `&#xHH;`; an `&` that starts none
//!   of these is kept as written). A tag ends at its first `>`, so a `>` inside
//!   a value must be written `&gt;`. Unknown attributes are ignored.
//! - Paths must be valid [`FilePath`]s; any other path makes the tag
//!   [`MalformedReason::InvalidPath`].
//! - A body (write, summary) loses one newline right after its opening tag and
//!   one right before its closing tag; a body wrapped in a markdown fence
//!   (first line starts with `` ``` ``, last line is `` ``` ``) loses those two
//!   lines. (The job that applies a write adds a final newline to a non-empty
//!   file that lacks one.)
//! - Everything up to the first `</devora-write>` is the file: a file cannot
//!   contain that literal (likewise `</devora-edit>` in an edit and
//!   `</devora-summary>` in a summary).
//! - In an edit, the first line that is `=======` (trimmed) ends the search
//!   lines, so a search cannot contain such a line; replace lines can.
//! - A would-be tag longer than [`MAX_TAG_BYTES`] without its `>` is reported as
//!   [`MalformedReason::TagTooLong`] and its text stays prose, so the parser
//!   never holds more than that outside an operation. An open operation's body
//!   is held whole until its closing tag: a file is never written half.

mod body;
mod edit;
mod parser;
mod tag;

#[cfg(test)]
mod tests;

pub use edit::{EditError, apply_edit};
pub use parser::ProtocolParser;

use crate::projects::FilePath;

/// The protocol's version, for prompts and stored replies.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most bytes a tag (from `<` to `>`) may take.
pub const MAX_TAG_BYTES: usize = 4096;

/// A change to a project's files the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Creates or replaces the whole file.
    Write {
        path: FilePath,
        content: String,
    },
    /// Replaces parts of an existing file, block after block (see [`apply_edit`]).
    Edit {
        path: FilePath,
        blocks: Vec<EditBlock>,
    },
    Delete {
        path: FilePath,
    },
    Rename {
        from: FilePath,
        to: FilePath,
    },
}

/// One SEARCH/REPLACE pair of an edit: lines joined with `\n`, no final newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditBlock {
    pub search: String,
    pub replace: String,
}

/// Something the parser recognised, in the reply's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The assistant's text outside tags; never empty. Consecutive pieces belong
    /// together (how the text is cut depends on how the reply arrived).
    Prose(String),
    /// A complete operation: its closing tag arrived.
    Operation(Operation),
    /// The reply's summary for the conversation, trimmed.
    Summary(String),
    /// A tag that cannot be an operation.
    Malformed {
        /// The tag's name as written: `devora-foo`, or `/devora-write` for a closing tag.
        tag: String,
        reason: MalformedReason,
        /// A sentence for logs and for telling the model what went wrong.
        detail: String,
    },
}

/// Why a tag was not taken as an operation. Codes never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedReason {
    /// `<devora-...>` with a name that is not one of the protocol's.
    UnknownTag,
    /// A required attribute (`path`, `from`, `to`) is absent.
    MissingAttribute,
    /// Attributes that do not parse: unquoted, unterminated, duplicated, a bad
    /// character reference.
    InvalidAttribute,
    /// A path that is not a valid project file path.
    InvalidPath,
    /// A write, edit or summary written as a self-closing tag.
    MissingBody,
    /// A closing tag with no opening one.
    UnexpectedClosingTag,
    /// An edit without any SEARCH/REPLACE block.
    NoEditBlocks,
    /// An edit block missing a marker, or text between blocks.
    MalformedEditBlock,
    /// A would-be tag longer than [`MAX_TAG_BYTES`] without its `>`.
    TagTooLong,
    /// The reply ended inside a tag.
    UnterminatedTag,
}

impl MalformedReason {
    pub const ALL: [Self; 10] = [
        Self::UnknownTag,
        Self::MissingAttribute,
        Self::InvalidAttribute,
        Self::InvalidPath,
        Self::MissingBody,
        Self::UnexpectedClosingTag,
        Self::NoEditBlocks,
        Self::MalformedEditBlock,
        Self::TagTooLong,
        Self::UnterminatedTag,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownTag => "unknown-tag",
            Self::MissingAttribute => "missing-attribute",
            Self::InvalidAttribute => "invalid-attribute",
            Self::InvalidPath => "invalid-path",
            Self::MissingBody => "missing-body",
            Self::UnexpectedClosingTag => "unexpected-closing-tag",
            Self::NoEditBlocks => "no-edit-blocks",
            Self::MalformedEditBlock => "malformed-edit-block",
            Self::TagTooLong => "tag-too-long",
            Self::UnterminatedTag => "unterminated-tag",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// An operation (or the summary) whose opening tag arrived but not its closing
/// tag: what a continuation prompt or a "truncated" report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOperation {
    Write { path: FilePath },
    Edit { path: FilePath },
    Summary,
}

impl OpenOperation {
    /// `write`, `edit` or `summary`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Write { .. } => "write",
            Self::Edit { .. } => "edit",
            Self::Summary => "summary",
        }
    }

    #[must_use]
    pub fn path(&self) -> Option<&FilePath> {
        match self {
            Self::Write { path } | Self::Edit { path } => Some(path),
            Self::Summary => None,
        }
    }
}
