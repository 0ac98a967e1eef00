//! The LLM adapter against the OpenAI-compatible stand-in, over real HTTP on
//! loopback: the stand-in streams SSE as a provider does (and checks the key and
//! the streaming options), the tests check what the adapter makes of replies
//! cut anywhere, of errors, drops, rate limits and silences, and that dropping a
//! stream closes the provider's connection.

use std::time::{Duration, Instant};

use devora_e2e::standins::{HttpFailure, LlmStandIn, ScriptedReply};
use devora_llm::{LlmConfig, OpenAiCompatibleModel, RetryPolicy};
use devora_outbound::{OutboundConfig, OutboundHttp};
use devora_ports::generation::{
    ChatChunk, ChatMessage, ChatRequest, ChatRole, FinishReason, LanguageModel, LlmError, LlmTimeout, LlmTimeouts,
    ModelInfo, TokenUsage,
};
use serde_json::json;

const KEY: &str = "sk-devora-standin";
const SYSTEM: &str = "You write web applications.";
const PROMPT: &str = "A to-do list with due dates, please.";
/// Multi-byte characters of two, three and four bytes, so cuts fall inside them.
const TEXT: &str = "Voilà: une appli 世界 🦀 prête.";

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_retry_after: Duration::from_secs(2),
    }
}

fn timeouts(first_token: Duration, idle: Duration) -> LlmTimeouts {
    LlmTimeouts { connect: Duration::from_secs(2), first_token, idle }
}

fn config(base_url: &str) -> LlmConfig {
    LlmConfig::new(base_url)
        .with_api_key(KEY)
        .with_timeouts(timeouts(Duration::from_secs(3), Duration::from_secs(2)))
        .with_retry(quick_retries())
}

fn model_with(config: LlmConfig) -> OpenAiCompatibleModel {
    let http =
        OutboundHttp::new(OutboundConfig { connect_timeout: Duration::from_secs(2), ..OutboundConfig::default() })
            .unwrap();
    OpenAiCompatibleModel::new(config, http)
}

async fn provider() -> (LlmStandIn, OpenAiCompatibleModel) {
    let standin = LlmStandIn::with_key(KEY).await;
    let model = model_with(config(&standin.url));
    (standin, model)
}

fn request() -> ChatRequest {
    ChatRequest {
        model: "standin-model".to_owned(),
        messages: vec![
            ChatMessage { role: ChatRole::System, content: SYSTEM.to_owned() },
            ChatMessage { role: ChatRole::User, content: PROMPT.to_owned() },
        ],
        max_tokens: 256,
        temperature: Some(0.25),
    }
}

fn prompt_chars() -> usize {
    SYSTEM.chars().count() + PROMPT.chars().count()
}

/// A whole reply: its text, why it finished, its usage; checks nothing follows.
async fn complete(model: &OpenAiCompatibleModel) -> Result<(String, FinishReason, TokenUsage), LlmError> {
    let mut stream = model.stream_chat(request()).await?;
    let mut text = String::new();
    loop {
        match stream.next().await? {
            Some(ChatChunk::Delta(delta)) => {
                assert!(!delta.is_empty(), "deltas are never empty");
                text.push_str(&delta);
            }
            Some(ChatChunk::Finished { reason, usage }) => {
                assert_eq!(stream.next().await, Ok(None), "nothing after Finished");
                return Ok((text, reason, usage));
            }
            None => panic!("the stream ended without Finished"),
        }
    }
}

fn exact(prompt_tokens: u64, completion_tokens: u64) -> TokenUsage {
    TokenUsage { prompt_tokens, completion_tokens, estimated: false }
}

#[tokio::test]
async fn a_streamed_reply_is_assembled_and_its_usage_read() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).usage(42, 7));
    let (text, reason, usage) = complete(&model).await.unwrap();
    assert_eq!(text, TEXT);
    assert_eq!(reason, FinishReason::Stop);
    assert_eq!(usage, exact(42, 7));
    let sent = standin.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "standin-model");
    assert_eq!(
        sent[0]["messages"],
        json!([{ "role": "system", "content": SYSTEM }, { "role": "user", "content": PROMPT }])
    );
    assert_eq!(sent[0]["max_tokens"], 256);
    assert_eq!(sent[0]["temperature"], 0.25);
    assert_eq!(sent[0]["stream"], true);
    assert_eq!(sent[0]["stream_options"], json!({ "include_usage": true }));
    assert_eq!((standin.streams_started(), standin.streams_abandoned()), (1, 0));
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_reaches_the_same_endpoints() {
    let standin = LlmStandIn::with_key(KEY).await;
    let model = model_with(config(&format!("{}/", standin.url)));
    standin.script(ScriptedReply::text("ok"));
    assert_eq!(complete(&model).await.unwrap().0, "ok");
    assert_eq!(model.models().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_reply_split_at_every_byte_offset_of_the_sse_body_gives_the_same_text() {
    let (standin, model) = provider().await;
    let reply = ScriptedReply::text(TEXT).usage(11, 5);
    let (body, _, _) = reply.sse_body(prompt_chars());
    for offset in 0..=body.len() {
        standin.script(reply.clone().split_at(vec![offset]));
        let outcome = complete(&model).await;
        assert_eq!(outcome, Ok((TEXT.to_owned(), FinishReason::Stop, exact(11, 5))), "split at byte {offset}");
    }
    assert_eq!(standin.streams_started(), body.len() + 1);
}

#[tokio::test]
async fn a_reply_sent_one_byte_per_chunk_or_in_odd_sizes_gives_the_same_text() {
    let (standin, model) = provider().await;
    for size in [1, 2, 3, 5, 7, 64] {
        standin.script(ScriptedReply::text(TEXT).usage(11, 5).chunk_size(size).with_comments().multiline_data());
        let outcome = complete(&model).await;
        assert_eq!(outcome, Ok((TEXT.to_owned(), FinishReason::Stop, exact(11, 5))), "chunks of {size} bytes");
    }
}

#[tokio::test]
async fn comment_lines_are_ignored_and_data_without_a_space_is_accepted() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).usage(3, 4).with_comments().data_without_space());
    assert_eq!(complete(&model).await, Ok((TEXT.to_owned(), FinishReason::Stop, exact(3, 4))));
}

#[tokio::test]
async fn data_spread_over_several_lines_is_joined() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).usage(3, 4).multiline_data());
    assert_eq!(complete(&model).await, Ok((TEXT.to_owned(), FinishReason::Stop, exact(3, 4))));
}

#[tokio::test]
async fn a_missing_usage_chunk_gives_an_estimated_usage() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).without_usage());
    let (text, _, usage) = complete(&model).await.unwrap();
    assert_eq!(text, TEXT);
    let estimate = |chars: usize| u64::try_from(chars.div_ceil(4)).unwrap();
    assert_eq!(
        usage,
        TokenUsage {
            prompt_tokens: estimate(prompt_chars()),
            completion_tokens: estimate(TEXT.chars().count()),
            estimated: true
        }
    );
}

#[tokio::test]
async fn finish_reason_length_is_kept() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text("cut sho").finish_reason("length"));
    let (text, reason, _) = complete(&model).await.unwrap();
    assert_eq!((text.as_str(), reason), ("cut sho", FinishReason::Length));
}

#[tokio::test]
async fn an_end_of_body_after_the_finish_reason_is_a_success_without_done() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).usage(1, 2).without_done());
    assert_eq!(complete(&model).await, Ok((TEXT.to_owned(), FinishReason::Stop, exact(1, 2))));
}

#[tokio::test]
async fn an_error_object_mid_stream_is_a_provider_error_in_either_shape() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).openai_error_mid_stream(json!(502), "Upstream provider failed"));
    let mut stream = model.stream_chat(request()).await.unwrap();
    let mut outcome = stream.next().await;
    while let Ok(Some(ChatChunk::Delta(_))) = outcome {
        outcome = stream.next().await;
    }
    assert_eq!(
        outcome,
        Err(LlmError::Provider { code: Some("502".into()), message: "Upstream provider failed".into() })
    );

    standin.script(ScriptedReply::text(TEXT).vllm_error_mid_stream(json!(400), "prompt too long for the KV cache"));
    assert_eq!(
        complete(&model).await,
        Err(LlmError::Provider { code: Some("400".into()), message: "prompt too long for the KV cache".into() })
    );

    standin.script(ScriptedReply::deltas(vec![]).openai_error_mid_stream(json!("server_error"), "overloaded"));
    let before_any_token = model.stream_chat(request()).await.err();
    assert_eq!(
        before_any_token,
        Some(LlmError::Provider { code: Some("server_error".into()), message: "overloaded".into() }),
        "an error before the first token fails stream_chat itself"
    );
    assert_eq!(standin.requests().len(), 3, "errors inside a stream are not retried");
}

#[tokio::test]
async fn a_dropped_connection_is_broken_not_a_short_success() {
    let (standin, model) = provider().await;
    // Paced, so the text is out before the cut (a cut before the first token is retried).
    standin.script(ScriptedReply::text(TEXT).delay_between_chunks(Duration::from_millis(20)).drop_mid_stream());
    let mut stream = model.stream_chat(request()).await.unwrap();
    let mut text = String::new();
    let error = loop {
        match stream.next().await {
            Ok(Some(ChatChunk::Delta(delta))) => text.push_str(&delta),
            Ok(other) => panic!("a dropped stream must not end well: {other:?}"),
            Err(error) => break error,
        }
    };
    assert!(matches!(error, LlmError::Broken(_)), "{error:?}");
    assert_eq!(stream.next().await, Err(error), "the error stays");
    assert_eq!(text, TEXT, "all of the text came before the cut");
    assert_eq!(standin.requests().len(), 1, "a stream that had started is never asked again");
}

#[tokio::test]
async fn a_clean_end_without_a_finish_reason_is_broken_even_with_done() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).without_finish_reason().without_done());
    assert!(matches!(complete(&model).await, Err(LlmError::Broken(_))));
    standin.script(ScriptedReply::text(TEXT).without_finish_reason());
    assert!(matches!(complete(&model).await, Err(LlmError::Broken(_))));
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait_it_asks() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).after_failures(1, HttpFailure::TooManyRequests { retry_after: Some(1) }));
    let started = Instant::now();
    assert_eq!(complete(&model).await.unwrap().0, TEXT);
    assert!(started.elapsed() >= Duration::from_millis(950), "waited {:?}", started.elapsed());
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_gives_up_at_once() {
    let (standin, model) = provider().await;
    standin
        .script(ScriptedReply::text(TEXT).after_failures(1, HttpFailure::TooManyRequests { retry_after: Some(3600) }));
    let started = Instant::now();
    assert!(matches!(model.stream_chat(request()).await.err(), Some(LlmError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(standin.requests().len(), 1);
}

#[tokio::test]
async fn a_500_twice_then_success_is_retried() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).after_failures(2, HttpFailure::ServerError));
    assert_eq!(complete(&model).await.unwrap().0, TEXT);
    assert_eq!(standin.requests().len(), 3);
}

#[tokio::test]
async fn server_errors_beyond_the_retries_are_unavailable() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::text(TEXT).after_failures(5, HttpFailure::ServerError));
    let error = model.stream_chat(request()).await.err();
    assert!(matches!(error, Some(LlmError::Unavailable(_))), "{error:?}");
    assert_eq!(standin.requests().len(), 3, "max_attempts tries in all");
}

#[tokio::test]
async fn a_401_is_rejected_with_the_providers_message_and_not_retried() {
    let standin = LlmStandIn::with_key(KEY).await;
    let model = model_with(config(&standin.url).with_api_key("sk-wrong"));
    assert_eq!(
        model.stream_chat(request()).await.err(),
        Some(LlmError::Rejected { status: 401, message: "Incorrect API key provided.".into() })
    );
    assert_eq!(standin.requests().len(), 1);
    assert_eq!(standin.streams_started(), 0);
    assert!(matches!(model.models().await, Err(LlmError::Rejected { status: 401, .. })));
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable_after_the_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let model = model_with(config(&url));
    assert!(matches!(model.stream_chat(request()).await.err(), Some(LlmError::Unavailable(_))));
    assert!(matches!(model.models().await, Err(LlmError::Unavailable(_))));
}

#[tokio::test]
async fn a_slow_first_token_is_a_first_token_timeout() {
    let standin = LlmStandIn::with_key(KEY).await;
    let quick = config(&standin.url).with_timeouts(timeouts(Duration::from_millis(300), Duration::from_secs(2)));
    let model = model_with(quick);
    standin.script(ScriptedReply::text(TEXT).wait_before_first_token(Duration::from_secs(2)));
    let started = Instant::now();
    assert_eq!(model.stream_chat(request()).await.err(), Some(LlmError::Timeout(LlmTimeout::FirstToken)));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    standin.script(ScriptedReply::text(TEXT).wait_before_headers(Duration::from_secs(2)));
    assert_eq!(model.stream_chat(request()).await.err(), Some(LlmError::Timeout(LlmTimeout::FirstToken)));
    assert_eq!(standin.requests().len(), 2, "a slow model is not asked again");
}

#[tokio::test]
async fn a_silence_between_chunks_is_an_idle_timeout() {
    let standin = LlmStandIn::with_key(KEY).await;
    let quick = config(&standin.url).with_timeouts(timeouts(Duration::from_secs(3), Duration::from_millis(250)));
    let model = model_with(quick);
    standin.script(ScriptedReply::text(TEXT).delay_between_chunks(Duration::from_millis(700)));
    let mut stream = model.stream_chat(request()).await.unwrap();
    assert!(matches!(stream.next().await, Ok(Some(ChatChunk::Delta(_)))), "the first delta was already there");
    assert_eq!(stream.next().await, Err(LlmError::Timeout(LlmTimeout::Idle)));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_provider_connection() {
    let (standin, model) = provider().await;
    standin.script(ScriptedReply::slow(200, Duration::from_millis(20)));
    let mut stream = model.stream_chat(request()).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(stream.next().await, Ok(Some(ChatChunk::Delta(_)))));
    }
    assert_eq!(standin.streams_abandoned(), 0);
    drop(stream);
    assert!(standin.wait_for_abandoned(1, Duration::from_secs(1)).await, "the provider saw no disconnect within 1 s");
    assert_eq!(standin.streams_completed(), 0);
}

#[tokio::test]
async fn models_are_listed() {
    let (standin, model) = provider().await;
    standin.set_models(&[("gpt-4o-mini", Some("openai")), ("qwen2.5-coder", None)]);
    assert_eq!(
        model.models().await.unwrap(),
        [
            ModelInfo { id: "gpt-4o-mini".into(), owned_by: Some("openai".into()) },
            ModelInfo { id: "qwen2.5-coder".into(), owned_by: None },
        ]
    );
    assert_eq!(standin.models_requests(), 1);
}

#[tokio::test]
async fn a_stream_longer_than_allowed_is_broken_and_closed() {
    let standin = LlmStandIn::with_key(KEY).await;
    let model = model_with(config(&standin.url).with_max_stream_duration(Duration::from_millis(400)));
    standin.script(ScriptedReply::slow(100, Duration::from_millis(20)));
    let started = Instant::now();
    let error = complete(&model).await.unwrap_err();
    assert!(matches!(error, LlmError::Broken(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(standin.wait_for_abandoned(1, Duration::from_secs(1)).await);
}
