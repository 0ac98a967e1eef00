//! An incremental `text/event-stream` parser, by the WHATWG standard: bytes in
//! (split anywhere by the network), the `data` of each dispatched event out.
//!
//! Only `data` matters to a chat completion: `event`, `id` and `retry` fields are
//! read and ignored, and so are comments (`: OPENROUTER PROCESSING`).

use std::collections::VecDeque;

/// Parses an event stream fed in arbitrary byte slices.
///
/// Bytes are buffered until a line is complete and only then decoded, so a
/// multi-byte UTF-8 character split between two network chunks survives: line
/// ends are ASCII and never fall inside one.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The bytes of the line being read.
    line: Vec<u8>,
    /// The data buffer of the event being read (each `data` line plus `\n`).
    data: String,
    /// The last byte fed was a `\r`: a `\n` right after it (maybe in the next
    /// chunk) ends no further line.
    after_cr: bool,
    /// The stream's first line was read (a leading BOM is dropped from it only).
    started: bool,
    events: VecDeque<String>,
}

impl SseParser {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Reads `bytes`; completed events are then available from [`Self::next_event`].
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            match byte {
                b'\n' if self.after_cr => {
                    self.after_cr = false;
                    start = i + 1;
                }
                b'\r' | b'\n' => {
                    self.line.extend_from_slice(&bytes[start..i]);
                    self.after_cr = byte == b'\r';
                    start = i + 1;
                    self.end_line();
                }
                _ => self.after_cr = false,
            }
        }
        self.line.extend_from_slice(&bytes[start..]);
    }

    /// The data of the next dispatched event, oldest first.
    pub(crate) fn next_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.line);
        let mut line: &[u8] = &raw;
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        if field == b"data" {
            self.data.push_str(&String::from_utf8_lossy(value));
            self.data.push('\n');
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        self.events.push_back(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk);
            while let Some(event) = parser.next_event() {
                events.push(event);
            }
        }
        events
    }

    /// Every feature at once: all three line ends (a CRLF among them), comments,
    /// ignored fields, `data:` with and without its space, multi-line data,
    /// multi-byte characters, and an unfinished event at the end.
    const SAMPLE: &str = "\u{feff}: OPENROUTER PROCESSING\n\n\
        event: message\nid: 7\nretry: 100\ndata: {\"a\":\"héllo 世界 🦀\"}\r\n\r\n\
        data:{\"b\":1}\r\r\
        data: first\ndata:  second keeps a space\ndata\n\n\
        : keep-alive\r\n\
        data: ünïcödé\n\n\
        data: [DONE]\n\n\
        data: never dispatched";

    fn expected() -> Vec<String> {
        vec![
            "{\"a\":\"héllo 世界 🦀\"}".to_owned(),
            "{\"b\":1}".to_owned(),
            "first\n second keeps a space\n".to_owned(),
            "ünïcödé".to_owned(),
            "[DONE]".to_owned(),
        ]
    }

    #[test]
    fn the_sample_in_one_piece_gives_its_events() {
        assert_eq!(events_of(&[SAMPLE.as_bytes()]), expected());
    }

    #[test]
    fn the_sample_split_at_every_byte_offset_gives_the_same_events() {
        let bytes = SAMPLE.as_bytes();
        for at in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(at);
            assert_eq!(events_of(&[head, tail]), expected(), "split at byte {at}");
        }
    }

    #[test]
    fn the_sample_split_at_every_pair_of_offsets_gives_the_same_events() {
        let bytes = SAMPLE.as_bytes();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                assert_eq!(events_of(&[&bytes[..a], &bytes[a..b], &bytes[b..]]), expected(), "split at {a} and {b}");
            }
        }
    }

    #[test]
    fn the_sample_fed_one_byte_at_a_time_gives_the_same_events() {
        let chunks: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(events_of(&chunks), expected());
    }

    #[test]
    fn a_cr_at_a_chunk_end_and_its_lf_in_the_next_make_one_line_end() {
        assert_eq!(events_of(&[b"data: x\r", b"\n\r", b"\ndata: y\r", b"\r"]), ["x", "y"]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_empty_data_is() {
        assert_eq!(events_of(&[b"event: ping\n\nid: 3\n\ndata:\n\n"]), [""]);
    }

    #[test]
    fn an_invalid_utf8_byte_becomes_a_replacement_character() {
        assert_eq!(events_of(&[b"data: a\xffb\n\n"]), ["a\u{fffd}b"]);
    }
}
