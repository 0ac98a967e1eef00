//! A scripted reply of the OpenAI-compatible stand-in: its text, how it ends,
//! and how its bytes are cut and paced on the wire.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

/// How the SSE bytes of a reply are cut into network chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// One chunk per event (and per comment).
    Events,
    /// Chunks of this many bytes (1: a byte per chunk).
    Size(usize),
    /// Cut at these byte offsets of the whole body.
    At(Vec<usize>),
}

/// How a reply's usage chunk is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Counted from the text: characters / 4, rounded up, at least 1.
    Computed,
    Exact {
        prompt: u64,
        completion: u64,
    },
    /// No usage chunk at all.
    Omitted,
}

/// How a reply's stream ends, after its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The finish chunk, the usage chunk, `data: [DONE]`.
    Done,
    /// The finish chunk and the usage chunk, then the body ends cleanly without `[DONE]`.
    WithoutDone,
    /// The body is cut abruptly: no finish reason, no `[DONE]`.
    Drop,
    /// OpenAI's and OpenRouter's `{"error": {"message", "code", "type"}}`, then the body ends.
    OpenAiError { code: Value, message: String },
    /// vLLM's `{"object": "error", "message", "code"}`, then the body ends.
    VllmError { code: Value, message: String },
}

/// An HTTP failure answered instead of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFailure {
    /// 429 with `Retry-After: <seconds>` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 500 with an `{"error": ...}` body.
    ServerError,
}

/// One scripted answer to a chat completion.
#[derive(Debug, Clone)]
pub struct ScriptedReply {
    /// The text, one delta each.
    pub deltas: Vec<String>,
    /// `None`: the finish chunk is left out (the stream still ends as [`Ending`] says).
    pub finish_reason: Option<String>,
    pub usage: Usage,
    pub ending: Ending,
    pub split: Split,
    /// A `: OPENROUTER PROCESSING` comment before every event.
    pub comments: bool,
    /// `data:{json}` instead of `data: {json}`.
    pub data_without_space: bool,
    /// Each JSON chunk pretty-printed over several `data:` lines.
    pub multiline_data: bool,
    /// Before the answer's headers.
    pub wait_before_headers: Duration,
    /// After the role chunk, before the first byte of text.
    pub wait_before_first_token: Duration,
    /// Before every network chunk after the first.
    pub delay_between_chunks: Duration,
    /// Answered, in order, to the requests before this reply is streamed.
    pub failures_first: VecDeque<HttpFailure>,
}

impl ScriptedReply {
    /// `text` in word-sized deltas, finish reason `stop`, computed usage, `[DONE]`.
    #[must_use]
    pub fn text(text: &str) -> Self {
        Self::deltas(text.split_inclusive(' ').map(str::to_owned).collect())
    }

    #[must_use]
    pub fn deltas(deltas: Vec<String>) -> Self {
        Self {
            deltas,
            finish_reason: Some("stop".to_owned()),
            usage: Usage::Computed,
            ending: Ending::Done,
            split: Split::Events,
            comments: false,
            data_without_space: false,
            multiline_data: false,
            wait_before_headers: Duration::ZERO,
            wait_before_first_token: Duration::ZERO,
            delay_between_chunks: Duration::ZERO,
            failures_first: VecDeque::new(),
        }
    }

    /// A long, slow reply for cancel tests: `n` deltas, `delay` before each network chunk.
    #[must_use]
    pub fn slow(n: usize, delay: Duration) -> Self {
        Self::deltas((0..n).map(|i| format!("word{i} ")).collect()).delay_between_chunks(delay)
    }

    #[must_use]
    pub fn finish_reason(mut self, reason: &str) -> Self {
        self.finish_reason = Some(reason.to_owned());
        self
    }

    #[must_use]
    pub fn without_finish_reason(mut self) -> Self {
        self.finish_reason = None;
        self
    }

    #[must_use]
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = Usage::Exact { prompt, completion };
        self
    }

    #[must_use]
    pub fn without_usage(mut self) -> Self {
        self.usage = Usage::Omitted;
        self
    }

    #[must_use]
    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    #[must_use]
    pub fn without_done(self) -> Self {
        self.ending(Ending::WithoutDone)
    }

    /// The text, then the connection cut: no finish reason, no `[DONE]`.
    #[must_use]
    pub fn drop_mid_stream(self) -> Self {
        self.ending(Ending::Drop)
    }

    #[must_use]
    pub fn openai_error_mid_stream(self, code: Value, message: &str) -> Self {
        self.ending(Ending::OpenAiError { code, message: message.to_owned() })
    }

    #[must_use]
    pub fn vllm_error_mid_stream(self, code: Value, message: &str) -> Self {
        self.ending(Ending::VllmError { code, message: message.to_owned() })
    }

    #[must_use]
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.split = Split::Size(size.max(1));
        self
    }

    #[must_use]
    pub fn split_at(mut self, offsets: Vec<usize>) -> Self {
        self.split = Split::At(offsets);
        self
    }

    #[must_use]
    pub fn with_comments(mut self) -> Self {
        self.comments = true;
        self
    }

    #[must_use]
    pub fn data_without_space(mut self) -> Self {
        self.data_without_space = true;
        self
    }

    #[must_use]
    pub fn multiline_data(mut self) -> Self {
        self.multiline_data = true;
        self
    }

    #[must_use]
    pub fn wait_before_headers(mut self, wait: Duration) -> Self {
        self.wait_before_headers = wait;
        self
    }

    #[must_use]
    pub fn wait_before_first_token(mut self, wait: Duration) -> Self {
        self.wait_before_first_token = wait;
        self
    }

    #[must_use]
    pub fn delay_between_chunks(mut self, delay: Duration) -> Self {
        self.delay_between_chunks = delay;
        self
    }

    /// Answers `failure` to the next `n` requests, then this reply.
    #[must_use]
    pub fn after_failures(mut self, n: usize, failure: HttpFailure) -> Self {
        self.failures_first.extend(std::iter::repeat_n(failure, n));
        self
    }

    /// The reply's text, all deltas joined.
    #[must_use]
    pub fn full_text(&self) -> String {
        self.deltas.concat()
    }

    /// The whole SSE body and, for each event (comments included), the offset
    /// where it starts; also the offset where the first text starts.
    #[must_use]
    pub fn sse_body(&self, prompt_chars: usize) -> (Vec<u8>, Vec<usize>, Option<usize>) {
        let id = "chatcmpl-standin";
        let created = super::super::unix_now();
        let model = "standin-model";
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
        };
        let mut events: Vec<(Value, bool)> = vec![(chunk(json!({ "role": "assistant", "content": "" }), None), false)];
        for delta in &self.deltas {
            events.push((chunk(json!({ "content": delta }), None), true));
        }
        let text_chars = self.full_text().chars().count();
        let tail: Vec<Value> = match &self.ending {
            Ending::Done | Ending::WithoutDone => {
                let mut tail = Vec::new();
                if let Some(reason) = &self.finish_reason {
                    tail.push(chunk(json!({}), Some(reason)));
                }
                let estimate = |chars: usize| u64::try_from(chars.div_ceil(4).max(1)).unwrap();
                let usage = match self.usage {
                    Usage::Computed => Some((estimate(prompt_chars), estimate(text_chars))),
                    Usage::Exact { prompt, completion } => Some((prompt, completion)),
                    Usage::Omitted => None,
                };
                if let Some((prompt, completion)) = usage {
                    tail.push(json!({ "id": id, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [],
                        "usage": { "prompt_tokens": prompt, "completion_tokens": completion,
                                   "total_tokens": prompt + completion } }));
                }
                tail
            }
            Ending::Drop => Vec::new(),
            Ending::OpenAiError { code, message } => {
                vec![json!({ "error": { "message": message, "type": "server_error", "code": code } })]
            }
            Ending::VllmError { code, message } => {
                vec![json!({ "object": "error", "message": message, "type": "InternalServerError", "param": null,
                    "code": code })]
            }
        };
        events.extend(tail.into_iter().map(|v| (v, false)));
        let prefix = if self.data_without_space { "data:" } else { "data: " };
        let mut body = Vec::new();
        let mut starts = Vec::new();
        let mut first_text = None;
        let mut push_event = |body: &mut Vec<u8>, lines: Vec<String>, is_text: bool| {
            if self.comments {
                starts.push(body.len());
                body.extend_from_slice(b": OPENROUTER PROCESSING\n\n");
            }
            starts.push(body.len());
            if is_text && first_text.is_none() {
                first_text = Some(body.len());
            }
            for line in lines {
                body.extend_from_slice(prefix.as_bytes());
                body.extend_from_slice(line.as_bytes());
                body.push(b'\n');
            }
            body.push(b'\n');
        };
        for (event, is_text) in events {
            let lines = if self.multiline_data {
                serde_json::to_string_pretty(&event).unwrap().lines().map(str::to_owned).collect()
            } else {
                vec![event.to_string()]
            };
            push_event(&mut body, lines, is_text);
        }
        if self.ending == Ending::Done {
            push_event(&mut body, vec!["[DONE]".to_owned()], false);
        }
        (body, starts, first_text)
    }

    /// The network chunks of the body, each with the wait before it.
    pub(super) fn network_chunks(&self, prompt_chars: usize) -> Vec<(Duration, Vec<u8>)> {
        let (body, starts, first_text) = self.sse_body(prompt_chars);
        let mut cuts: Vec<usize> = match &self.split {
            Split::Events => starts,
            Split::Size(size) => (0..body.len()).step_by(*size).collect(),
            Split::At(offsets) => offsets.clone(),
        };
        // The first-token wait needs a cut where the text starts.
        cuts.extend(first_text);
        cuts.push(0);
        cuts.push(body.len());
        cuts.retain(|&c| c <= body.len());
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .enumerate()
            .map(|(i, w)| {
                let mut wait = if i == 0 { Duration::ZERO } else { self.delay_between_chunks };
                if Some(w[0]) == first_text {
                    wait += self.wait_before_first_token;
                }
                (wait, body[w[0]..w[1]].to_vec())
            })
            .collect()
    }
}
