//! Applies an edit's SEARCH/REPLACE blocks to a file. Models copy the lines they
//! mean to change imperfectly (trailing spaces, indentation), so matching
//! loosens in tiers, but a search that fits several places is never guessed.

use super::EditBlock;

/// Why a block could not be applied. Codes never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The search text is nowhere in the file (or is blank).
    #[error("the search text matches nothing in the file")]
    NotFound,
    /// The search text fits several places; the first tier that matched counted them.
    #[error("the search text matches {count} places in the file")]
    Ambiguous { count: usize },
}

impl EditError {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "search-not-found",
            Self::Ambiguous { .. } => "search-ambiguous",
        }
    }
}

/// Applies `blocks` in order to `content`: each sees the result of those before.
///
/// A block's search text must match exactly once, in the first tier that
/// matches at all: (1) the exact text; (2) whole lines, ignoring trailing
/// whitespace; (3) whole lines, ignoring indentation, the replacement then
/// shifted by the indentation the file's lines have over the search's (when one
/// is a prefix added to the other). The file keeps its line endings (those of
/// its first line) and whether it ends with a newline.
///
/// # Errors
/// The index of the first block that failed and why: nothing matched (or its
/// search text is blank), or several places did.
pub fn apply_edit(content: &str, blocks: &[EditBlock]) -> Result<String, (usize, EditError)> {
    let mut current = content.to_owned();
    for (index, block) in blocks.iter().enumerate() {
        current = apply_block(&current, block).map_err(|err| (index, err))?;
    }
    Ok(current)
}

#[derive(Debug, Clone, Copy)]
enum Tier {
    TrailingWhitespace,
    Indentation,
}

impl Tier {
    fn same(self, file: &str, search: &str) -> bool {
        match self {
            Self::TrailingWhitespace => file.trim_end() == search.trim_end(),
            Self::Indentation => file.trim() == search.trim(),
        }
    }
}

/// A line of the file without its ending, and its ending (`""` for a last line
/// without one).
struct Line<'a> {
    text: &'a str,
    end: &'a str,
}

fn apply_block(content: &str, block: &EditBlock) -> Result<String, EditError> {
    let search = block.search.replace("\r\n", "\n");
    let replace = block.replace.replace("\r\n", "\n");
    if search.trim().is_empty() {
        return Err(EditError::NotFound);
    }
    let eol = line_ending(content);

    let exact = search.replace('\n', eol);
    let starts = occurrences(content, &exact);
    match starts.as_slice() {
        [] => {}
        [start] => {
            let end = start + exact.len();
            return Ok(format!("{}{}{}", &content[..*start], replace.replace('\n', eol), &content[end..]));
        }
        several => return Err(EditError::Ambiguous { count: several.len() }),
    }

    let lines = split_lines(content);
    let wanted = text_lines(&search);
    for tier in [Tier::TrailingWhitespace, Tier::Indentation] {
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&start| {
                start + wanted.len() <= lines.len()
                    && wanted.iter().zip(&lines[start..]).all(|(want, line)| tier.same(line.text, want))
            })
            .collect();
        match starts.as_slice() {
            [] => {}
            [start] => {
                let new_lines = match tier {
                    Tier::TrailingWhitespace => text_lines(&replace).into_iter().map(str::to_owned).collect(),
                    Tier::Indentation => reindent(&text_lines(&replace), &lines[*start..], &wanted),
                };
                return Ok(splice_lines(&lines, *start, wanted.len(), &new_lines, eol));
            }
            several => return Err(EditError::Ambiguous { count: several.len() }),
        }
    }
    Err(EditError::NotFound)
}

/// The file's line ending: that of its first line, `\n` when it has none.
fn line_ending(content: &str) -> &'static str {
    match content.find('\n') {
        Some(at) if content[..at].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

/// Every byte offset where `needle` starts, overlapping ones included.
fn occurrences(haystack: &str, needle: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut from = 0;
    while let Some(found) = haystack[from..].find(needle) {
        let start = from + found;
        starts.push(start);
        from = start + haystack[start..].chars().next().map_or(1, char::len_utf8);
    }
    starts
}

fn split_lines(content: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let Some(newline) = rest.find('\n') else {
            lines.push(Line { text: rest, end: "" });
            break;
        };
        let (line, after) = rest.split_at(newline + 1);
        lines.push(match line.strip_suffix("\r\n") {
            Some(text) => Line { text, end: "\r\n" },
            None => Line { text: &line[..newline], end: "\n" },
        });
        rest = after;
    }
    lines
}

/// The lines of a search or replace text (`\n`-separated); a final newline ends
/// the last line rather than starting an empty one.
fn text_lines(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Shifts the replacement by the indentation the matched file lines have over
/// the search lines, measured on the first non-blank search line.
fn reindent(replace: &[&str], matched: &[Line<'_>], wanted: &[&str]) -> Vec<String> {
    let as_given = || replace.iter().map(|line| (*line).to_owned()).collect();
    let Some((search_line, file_line)) = wanted.iter().zip(matched).find(|(want, _)| !want.trim().is_empty()) else {
        return as_given();
    };
    let (file_indent, search_indent) = (indentation(file_line.text), indentation(search_line));
    if let Some(added) = file_indent.strip_suffix(search_indent) {
        replace
            .iter()
            .map(|line| if line.trim().is_empty() { (*line).to_owned() } else { format!("{added}{line}") })
            .collect()
    } else if let Some(removed) = search_indent.strip_suffix(file_indent) {
        replace.iter().map(|line| line.strip_prefix(removed).unwrap_or(line).to_owned()).collect()
    } else {
        as_given()
    }
}

/// The file with `count` lines from `start` replaced by `new_lines`.
fn splice_lines(lines: &[Line<'_>], start: usize, count: usize, new_lines: &[String], eol: &str) -> String {
    let mut out = String::new();
    for line in &lines[..start] {
        out.push_str(line.text);
        out.push_str(line.end);
    }
    let last_end = lines[start + count - 1].end;
    if new_lines.is_empty() {
        // Removing the unterminated last line makes the line before it last.
        if last_end.is_empty() && start > 0 {
            out.truncate(out.len() - lines[start - 1].end.len());
        }
    }
    for (index, line) in new_lines.iter().enumerate() {
        out.push_str(line);
        out.push_str(if index + 1 == new_lines.len() { last_end } else { eol });
    }
    for line in &lines[start + count..] {
        out.push_str(line.text);
        out.push_str(line.end);
    }
    out
}
