//! A body between an opening and its closing tag, read into what it holds.

use super::tag::Problem;
use super::{EditBlock, MalformedReason, OpenOperation, Operation, Parsed};

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

/// The item an operation (or summary) with a complete body makes.
pub(super) fn complete(open: OpenOperation, body: &str) -> Parsed {
    match open {
        OpenOperation::Write { path } => Parsed::Operation(Operation::Write { path, content: unwrap(body).to_owned() }),
        OpenOperation::Edit { path } => match edit_blocks(body) {
            Ok(blocks) => Parsed::Operation(Operation::Edit { path, blocks }),
            Err(problem) => problem.into_parsed("devora-edit"),
        },
        OpenOperation::Summary => Parsed::Summary(unwrap(body).trim().to_owned()),
    }
}

/// Drops one newline after the opening tag and one before the closing tag, then
/// a markdown fence around what is left.
pub(super) fn unwrap(body: &str) -> &str {
    let body = body.strip_prefix("\r\n").or_else(|| body.strip_prefix('\n')).unwrap_or(body);
    let body = body.strip_suffix("\r\n").or_else(|| body.strip_suffix('\n')).unwrap_or(body);
    strip_fence(body).unwrap_or(body)
}

fn strip_fence(body: &str) -> Option<&str> {
    let (first, rest) = body.split_once('\n')?;
    if !first.starts_with("```") {
        return None;
    }
    match rest.rsplit_once('\n') {
        Some((inner, last)) if last.trim_end() == "```" => Some(inner.strip_suffix('\r').unwrap_or(inner)),
        None if rest.trim_end() == "```" => Some(""),
        _ => None,
    }
}

enum Reading {
    Between,
    Search(Vec<String>),
    Replace(Vec<String>, Vec<String>),
}

/// The SEARCH/REPLACE blocks of an edit's body; whitespace-only lines between
/// blocks are ignored, anything else there is an error.
pub(super) fn edit_blocks(body: &str) -> Result<Vec<EditBlock>, Problem> {
    let malformed = |detail: String| Problem::new(MalformedReason::MalformedEditBlock, detail);
    let mut blocks = Vec::new();
    let mut reading = Reading::Between;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let marker = line.trim();
        let number = blocks.len() + 1;
        reading = match reading {
            Reading::Between if marker.is_empty() => Reading::Between,
            Reading::Between if marker == SEARCH => Reading::Search(Vec::new()),
            Reading::Between => {
                return Err(malformed(format!("text outside a block before block {number}: {}", excerpt(marker))));
            }
            Reading::Search(search) if marker == DIVIDER => Reading::Replace(search, Vec::new()),
            Reading::Search(_) if marker == SEARCH || marker == REPLACE => {
                return Err(malformed(format!("block {number} has no {DIVIDER} line")));
            }
            Reading::Search(mut search) => {
                search.push(line.to_owned());
                Reading::Search(search)
            }
            Reading::Replace(search, replace) if marker == REPLACE => {
                blocks.push(EditBlock { search: search.join("\n"), replace: replace.join("\n") });
                Reading::Between
            }
            Reading::Replace(..) if marker == SEARCH => {
                return Err(malformed(format!("block {number} has no {REPLACE} line")));
            }
            Reading::Replace(search, mut replace) => {
                replace.push(line.to_owned());
                Reading::Replace(search, replace)
            }
        };
    }
    match reading {
        Reading::Between if blocks.is_empty() => {
            Err(Problem::new(MalformedReason::NoEditBlocks, "the edit holds no SEARCH/REPLACE block"))
        }
        Reading::Between => Ok(blocks),
        Reading::Search(_) | Reading::Replace(..) => {
            Err(malformed(format!("block {} ends before its {REPLACE} line", blocks.len() + 1)))
        }
    }
}

fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}
