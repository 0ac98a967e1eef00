//! The incremental reader: the reply arrives in pieces cut anywhere, and what
//! it yields does not depend on where the cuts fall.

use super::body;
use super::tag::{self, BodyKind, Problem, TagOutcome};
use super::{MAX_TAG_BYTES, MalformedReason, OpenOperation, Parsed};

/// Reads a model's reply in the file protocol as it streams in.
///
/// Outside an operation it holds back at most the text that could still be the
/// start of a tag (at most [`MAX_TAG_BYTES`]); inside one it holds the body
/// until the closing tag arrives.
#[derive(Debug, Default)]
pub struct ProtocolParser {
    /// Text not yet decided; outside a body, only a suffix that may start a tag.
    pending: String,
    open: Option<OpenBody>,
}

#[derive(Debug)]
struct OpenBody {
    kind: BodyKind,
    header: Result<OpenOperation, Problem>,
    body: String,
    /// Where the next search for the closing tag starts.
    searched: usize,
}

impl OpenBody {
    /// Where the closing tag starts, if it arrived; searches only what is new.
    fn find_close(&mut self) -> Option<usize> {
        let close = self.kind.closing_tag();
        let mut from = self.searched.min(self.body.len());
        while !self.body.is_char_boundary(from) {
            from -= 1;
        }
        let found = self.body[from..].find(close).map(|at| from + at);
        if found.is_none() {
            // The tag may be cut: keep its possible start for next time.
            self.searched = self.body.len().saturating_sub(close.len() - 1);
        }
        found
    }
}

/// What a `<` in prose starts.
enum Candidate {
    /// Not a protocol tag: the `<` is prose.
    Prose,
    /// It may still become a tag; `tag_started` once `<devora-` (or the like) is complete.
    Partial { tag_started: bool },
    /// A complete tag of this many bytes.
    Tag(usize),
    /// No `>` within [`MAX_TAG_BYTES`].
    TooLong,
}

fn candidate(rest: &str) -> Candidate {
    let prefix = if rest.starts_with("</") { "</devora" } else { "<devora" };
    if rest.len() <= prefix.len() {
        return if prefix.starts_with(rest) { Candidate::Partial { tag_started: false } } else { Candidate::Prose };
    }
    if !rest.starts_with(prefix) {
        return Candidate::Prose;
    }
    // `<devorable>` is somebody else's tag; `<devora-x`, `<devora >` are ours.
    let next = rest.as_bytes()[prefix.len()];
    if !(matches!(next, b'-' | b'/' | b'>') || next.is_ascii_whitespace()) {
        return Candidate::Prose;
    }
    let window = &rest.as_bytes()[..rest.len().min(MAX_TAG_BYTES)];
    match window.iter().position(|&b| b == b'>') {
        Some(end) => Candidate::Tag(end + 1),
        None if rest.len() >= MAX_TAG_BYTES => Candidate::TooLong,
        None => Candidate::Partial { tag_started: true },
    }
}

/// Adds prose to `out`, joining it to prose just before.
fn emit_prose(out: &mut Vec<Parsed>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Parsed::Prose(prose)) = out.last_mut() {
        prose.push_str(text);
    } else {
        out.push(Parsed::Prose(text.to_owned()));
    }
}

/// The name a would-be tag starting at `rest` has, for reports.
fn shown_name(rest: &str) -> String {
    match rest.strip_prefix("</") {
        Some(closing) => format!("/{}", tag::leading_name(closing)),
        None => tag::leading_name(rest.strip_prefix('<').unwrap_or(rest)).to_owned(),
    }
}

impl ProtocolParser {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the reply, cut anywhere; returns what became
    /// complete, in order.
    pub fn push(&mut self, chunk: &str) -> Vec<Parsed> {
        let mut out = Vec::new();
        match &mut self.open {
            Some(open) => open.body.push_str(chunk),
            None => self.pending.push_str(chunk),
        }
        self.advance(&mut out, false);
        out
    }

    /// The operation (or summary) whose opening tag arrived but not its closing
    /// tag. `None` inside a body whose opening tag was malformed: it can never
    /// become an operation.
    #[must_use]
    pub fn open_operation(&self) -> Option<OpenOperation> {
        self.open.as_ref().and_then(|open| open.header.as_ref().ok().cloned())
    }

    /// The reply is over: yields the prose held back (a tag cut off by the end
    /// is [`MalformedReason::UnterminatedTag`]) and the operation left open, whose
    /// body is dropped: it is never applied half.
    #[must_use]
    pub fn finish(mut self) -> (Vec<Parsed>, Option<OpenOperation>) {
        let mut out = Vec::new();
        self.advance(&mut out, true);
        let open = match self.open.take() {
            None => None,
            Some(OpenBody { header: Ok(open), .. }) => Some(open),
            Some(OpenBody { kind, header: Err(problem), .. }) => {
                let detail = format!("{}; the reply ended before {}", problem.detail, kind.closing_tag());
                out.push(Problem::new(problem.reason, detail).into_parsed(kind.tag_name()));
                None
            }
        };
        (out, open)
    }

    fn advance(&mut self, out: &mut Vec<Parsed>, at_end: bool) {
        loop {
            if let Some(open) = &mut self.open {
                let Some(at) = open.find_close() else { return };
                self.pending = open.body.split_off(at + open.kind.closing_tag().len());
                open.body.truncate(at);
                if let Some(done) = self.open.take() {
                    out.push(match done.header {
                        Ok(header) => body::complete(header, &done.body),
                        Err(problem) => problem.into_parsed(done.kind.tag_name()),
                    });
                }
            } else if !self.scan_prose(out, at_end) {
                return;
            }
        }
    }

    /// Reads `pending` as prose and tags; true when a body opened (what follows
    /// its opening tag is then in the body).
    fn scan_prose(&mut self, out: &mut Vec<Parsed>, at_end: bool) -> bool {
        let mut at = 0;
        let mut opened = None;
        loop {
            let Some(found) = self.pending[at..].find('<') else {
                emit_prose(out, &self.pending[at..]);
                at = self.pending.len();
                break;
            };
            emit_prose(out, &self.pending[at..at + found]);
            at += found;
            let rest = &self.pending[at..];
            match candidate(rest) {
                Candidate::Prose => {
                    emit_prose(out, "<");
                    at += 1;
                }
                Candidate::Partial { .. } if !at_end => break,
                Candidate::Partial { tag_started: false } => {
                    emit_prose(out, rest);
                    at = self.pending.len();
                    break;
                }
                Candidate::Partial { tag_started: true } => {
                    let detail = "the reply ended inside this tag";
                    out.push(Problem::new(MalformedReason::UnterminatedTag, detail).into_parsed(&shown_name(rest)));
                    at = self.pending.len();
                    break;
                }
                Candidate::Tag(len) => {
                    at += len;
                    match tag::interpret(&rest[..len]) {
                        TagOutcome::Done(parsed) => out.push(parsed),
                        TagOutcome::Open { kind, header } => {
                            opened = Some(OpenBody { kind, header, body: String::new(), searched: 0 });
                            break;
                        }
                    }
                }
                Candidate::TooLong => {
                    let detail = format!("no '>' within {MAX_TAG_BYTES} bytes; taken as prose");
                    out.push(Problem::new(MalformedReason::TagTooLong, detail).into_parsed(&shown_name(rest)));
                    emit_prose(out, "<");
                    at += 1;
                }
            }
        }
        match opened {
            Some(mut open) => {
                open.body = self.pending.split_off(at);
                self.pending.clear();
                self.open = Some(open);
                true
            }
            None => {
                self.pending.drain(..at);
                false
            }
        }
    }
}
