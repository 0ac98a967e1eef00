//! One complete tag, `<` to `>`: its name and attributes, read into what it
//! means.

use super::{MalformedReason, OpenOperation, Operation, Parsed};
use crate::projects::FilePath;

/// The protocol tags that hold a body up to their closing tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Write,
    Edit,
    Summary,
}

impl BodyKind {
    pub(super) fn tag_name(self) -> &'static str {
        match self {
            Self::Write => "devora-write",
            Self::Edit => "devora-edit",
            Self::Summary => "devora-summary",
        }
    }

    pub(super) fn closing_tag(self) -> &'static str {
        match self {
            Self::Write => "</devora-write>",
            Self::Edit => "</devora-edit>",
            Self::Summary => "</devora-summary>",
        }
    }
}

/// Why a tag is malformed, before we know its name for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub reason: MalformedReason,
    pub detail: String,
}

impl Problem {
    pub(super) fn new(reason: MalformedReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }

    pub(super) fn into_parsed(self, tag: &str) -> Parsed {
        Parsed::Malformed { tag: tag.to_owned(), reason: self.reason, detail: self.detail }
    }
}

/// What a complete tag means.
#[derive(Debug)]
pub(super) enum TagOutcome {
    /// Nothing follows that belongs to it.
    Done(Parsed),
    /// A body follows up to `kind`'s closing tag. A header that failed still
    /// takes its body, so a file with a bad path is not shown as prose.
    Open { kind: BodyKind, header: Result<OpenOperation, Problem> },
}

const KNOWN: [&str; 5] = ["devora-write", "devora-edit", "devora-delete", "devora-rename", "devora-summary"];

/// The name at the start of `raw`: ASCII letters, digits, `-` and `_`.
pub(super) fn leading_name(raw: &str) -> &str {
    let end = raw.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))).unwrap_or(raw.len());
    &raw[..end]
}

/// Reads `tag`, which runs from `<` to its first `>` and starts with `<devora`
/// or `</devora`.
pub(super) fn interpret(tag: &str) -> TagOutcome {
    let inner = tag.strip_prefix('<').unwrap_or(tag);
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    if let Some(inner) = inner.strip_prefix('/') {
        let name = leading_name(inner);
        let shown = format!("/{name}");
        let problem = if KNOWN.contains(&name) {
            Problem::new(MalformedReason::UnexpectedClosingTag, format!("</{name}> closes nothing"))
        } else {
            unknown(name)
        };
        return TagOutcome::Done(problem.into_parsed(&shown));
    }
    let name = leading_name(inner);
    let rest = &inner[name.len()..];
    let (rest, self_closing) = match rest.trim_end().strip_suffix('/') {
        Some(attrs) => (attrs, true),
        None => (rest, false),
    };
    let kind = match name {
        "devora-write" => BodyKind::Write,
        "devora-edit" => BodyKind::Edit,
        "devora-summary" => BodyKind::Summary,
        "devora-delete" => {
            let op = attributes(rest).and_then(|attrs| path(&attrs, "path")).map(|path| Operation::Delete { path });
            return TagOutcome::Done(done(name, op));
        }
        "devora-rename" => {
            let op = attributes(rest)
                .and_then(|attrs| Ok(Operation::Rename { from: path(&attrs, "from")?, to: path(&attrs, "to")? }));
            return TagOutcome::Done(done(name, op));
        }
        _ => return TagOutcome::Done(unknown(name).into_parsed(name)),
    };
    if self_closing {
        let problem = Problem::new(MalformedReason::MissingBody, format!("<{name}/> needs a body and </{name}>"));
        return TagOutcome::Done(problem.into_parsed(name));
    }
    let header = attributes(rest).and_then(|attrs| match kind {
        BodyKind::Write => Ok(OpenOperation::Write { path: path(&attrs, "path")? }),
        BodyKind::Edit => Ok(OpenOperation::Edit { path: path(&attrs, "path")? }),
        BodyKind::Summary => Ok(OpenOperation::Summary),
    });
    TagOutcome::Open { kind, header }
}

fn done(name: &str, op: Result<Operation, Problem>) -> Parsed {
    match op {
        Ok(op) => Parsed::Operation(op),
        Err(problem) => problem.into_parsed(name),
    }
}

fn unknown(name: &str) -> Problem {
    Problem::new(
        MalformedReason::UnknownTag,
        format!(
            "<{name}> is not a protocol tag (devora-write, devora-edit, devora-delete, devora-rename, devora-summary)"
        ),
    )
}

fn invalid(detail: String) -> Problem {
    Problem::new(MalformedReason::InvalidAttribute, detail)
}

/// `name="value"` pairs, values unescaped; whitespace around `=` and between
/// pairs is optional.
fn attributes(raw: &str) -> Result<Vec<(&str, String)>, Problem> {
    let mut attrs: Vec<(&str, String)> = Vec::new();
    let mut rest = raw.trim_start();
    while let Some(first) = rest.chars().next() {
        let name_len =
            rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))).unwrap_or(rest.len());
        if name_len == 0 {
            return Err(invalid(format!("unexpected {first:?} where an attribute name belongs")));
        }
        let (name, after) = rest.split_at(name_len);
        let Some(after) = after.trim_start().strip_prefix('=') else {
            return Err(invalid(format!("attribute {name} has no value")));
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            return Err(invalid(format!("the value of {name} must be quoted")));
        };
        let after = &after[quote.len_utf8()..];
        let Some(end) = after.find(quote) else {
            return Err(invalid(format!("the value of {name} has no closing quote")));
        };
        let value = unescape(&after[..end])
            .map_err(|reference| invalid(format!("the value of {name} holds {reference}, which is not a character")))?;
        if attrs.iter().any(|(seen, _)| *seen == name) {
            return Err(invalid(format!("attribute {name} appears twice")));
        }
        attrs.push((name, value));
        rest = after[end + quote.len_utf8()..].trim_start();
    }
    Ok(attrs)
}

fn path(attrs: &[(&str, String)], name: &str) -> Result<FilePath, Problem> {
    let Some((_, value)) = attrs.iter().find(|(seen, _)| *seen == name) else {
        return Err(Problem::new(MalformedReason::MissingAttribute, format!("the {name} attribute is missing")));
    };
    FilePath::parse(value).map_err(|err| Problem::new(MalformedReason::InvalidPath, format!("{name} {value:?}: {err}")))
}

/// Replaces XML character references. An `&` that starts none is kept as
/// written; a numeric reference to no character is an error (the reference).
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // The longest reference is `&#x10FFFF;`.
        let reference = rest.find(';').filter(|&semi| semi <= 10).map(|semi| &rest[..=semi]);
        match reference.and_then(|r| decode(r).map(|c| (r, c))) {
            Some((r, Ok(c))) => {
                out.push(c);
                rest = &rest[r.len()..];
            }
            Some((r, Err(()))) => return Err(r.to_owned()),
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `None` when `reference` (`&...;`) is not one; `Err` for a numeric one naming
/// no character.
fn decode(reference: &str) -> Option<Result<char, ()>> {
    let name = reference.strip_prefix('&')?.strip_suffix(';')?;
    let c = match name {
        "quot" => '"',
        "apos" => '\'',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => number.parse::<u32>(),
            };
            return Some(code.ok().filter(|&code| code != 0).and_then(char::from_u32).ok_or(()));
        }
    };
    Some(Ok(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_unescaped_and_a_stray_ampersand_is_kept() {
        assert_eq!(unescape("a&amp;b&lt;&gt;&quot;&apos;").unwrap(), "a&b<>\"'");
        assert_eq!(unescape("&#233;&#xE9;&#X1F600;").unwrap(), "éé😀");
        assert_eq!(unescape("R&D & more&;").unwrap(), "R&D & more&;");
        assert_eq!(unescape("&#xD800;").unwrap_err(), "&#xD800;");
        assert_eq!(unescape("&#0;").unwrap_err(), "&#0;");
        assert_eq!(unescape("&#12a;").unwrap_err(), "&#12a;");
    }

    #[test]
    fn attributes_allow_spacing_and_either_quote() {
        let attrs = attributes(" from = 'a.ts'to=\"b&amp;c.ts\"  ").unwrap();
        assert_eq!(attrs, vec![("from", "a.ts".to_owned()), ("to", "b&c.ts".to_owned())]);
        assert_eq!(attributes("").unwrap(), vec![]);
    }

    #[test]
    fn broken_attributes_are_invalid() {
        for raw in ["path=x", "path", "path=\"x", "path=\"a\" path=\"b\"", "=\"x\"", "path=\"&#xD800;\""] {
            let problem = attributes(raw).unwrap_err();
            assert_eq!(problem.reason, MalformedReason::InvalidAttribute, "{raw}");
        }
    }
}
