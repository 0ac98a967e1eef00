//! One job's run on the worker that holds its lease: provider rounds within the
//! budget and the hard caps, token deltas coalesced into events, and a watchdog
//! beside it that extends the lease and turns a cancel, a drain, the wall clock
//! or a lost lease into a halt the run obeys at its next step.

use std::time::Duration;

use devora_domain::generation::billing_period;
use devora_domain::{JobErrorCode, JobEventPayload, JobUsage};
use devora_ports::generation::{
    ChatChunk, ChatMessage, ChatRequest, ChatRole, FencedError, FinishReason, JobSignal, LanguageModel, Lease,
    LlmError, LlmTimeout, Reservation,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use super::GenerationService;
use super::context::ModelWindow;
use super::prompt::continue_prompt;
use super::reply::{Fatal, Reply, Target};
use crate::tasks::StopSignal;

/// The most events held back by storage failures before deltas are dropped.
const MAX_UNSENT: usize = 500;

/// A reply shorter than this is not worth a call: the budget counts as exhausted.
const MIN_OUTPUT_TOKENS: u32 = 16;

/// Why a run stops before the model is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Halt {
    Cancel,
    /// The node is stopping: the job goes back to the queue.
    Drain,
    TimeLimit,
    /// Another worker owns the job now: write nothing more.
    Lost,
}

/// How a run ended, before it is written.
pub(super) enum End {
    Done,
    Failed(JobErrorCode, String),
    Halted(Halt),
}

/// Tokens from text: about four characters each, at least one.
fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

fn fatal(err: Fatal) -> End {
    match err {
        Fatal::ProjectGone => End::Failed(JobErrorCode::ProjectGone, "the job's project was deleted".into()),
        Fatal::Lost => End::Halted(Halt::Lost),
        Fatal::Internal(message) => End::Failed(JobErrorCode::Internal, message),
    }
}

fn provider_failure(err: &LlmError) -> (JobErrorCode, String) {
    let code = match err {
        LlmError::Unavailable(_) => JobErrorCode::ProviderUnavailable,
        LlmError::Rejected { .. } => JobErrorCode::ProviderRejected,
        LlmError::Timeout(LlmTimeout::Connect | LlmTimeout::FirstToken | LlmTimeout::Idle) => {
            JobErrorCode::ProviderTimeout
        }
        LlmError::Provider { .. } => JobErrorCode::ProviderError,
        LlmError::Broken(_) => JobErrorCode::StreamBroken,
    };
    (code, err.to_string())
}

/// Resolves when a halt is set.
async fn halted(halt: &mut watch::Receiver<Option<Halt>>) -> Halt {
    loop {
        if let Some(h) = *halt.borrow_and_update() {
            return h;
        }
        if halt.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What a run carries from round to round.
struct Run<'a> {
    service: &'a GenerationService,
    lease: &'a Lease,
    halt: watch::Receiver<Option<Halt>>,
    halt_tx: &'a watch::Sender<Option<Halt>>,
    output: String,
    usage: JobUsage,
    progress: u8,
    /// The reply as the file protocol reads it, operations applied as they complete.
    reply: Reply,
    /// Events a storage failure kept from the log: sent first with the next ones.
    unsent: Vec<JobEventPayload>,
    /// Tokens whose settle could not be written: added to the job when it ends.
    unsettled: JobUsage,
}

impl Run<'_> {
    async fn emit(&mut self, events: Vec<JobEventPayload>) -> Result<(), Halt> {
        let now = self.service.ports.clock.now();
        let mut batch = std::mem::take(&mut self.unsent);
        batch.extend(events);
        match self.service.ports.jobs.append_events(self.lease, batch.clone(), now).await {
            Ok((events, state)) => {
                if let Some(last) = events.last() {
                    let signal = JobSignal::Events { job: self.lease.job.id, seq: last.seq };
                    self.service.ports.signals.publish(signal).await;
                }
                if state.cancel_requested {
                    self.halt_tx.send_replace(Some(Halt::Cancel));
                }
                Ok(())
            }
            Err(FencedError::Lost) => Err(Halt::Lost),
            Err(FencedError::Storage(err)) => {
                // The log is behind; the run goes on and the next write sends these first.
                tracing::warn!(error = %err, "could not append job events");
                self.unsent = batch;
                // A bounded backlog: past it, the oldest deltas give way.
                while self.unsent.len() > MAX_UNSENT {
                    match self.unsent.iter().position(|e| matches!(e, JobEventPayload::Delta { .. })) {
                        Some(oldest) => drop(self.unsent.remove(oldest)),
                        None => break,
                    }
                }
                Ok(())
            }
        }
    }

    async fn settle(&mut self, reserved: u64, usage: JobUsage) -> Result<(), Halt> {
        let now = self.service.ports.clock.now();
        self.usage.prompt_tokens += usage.prompt_tokens;
        self.usage.completion_tokens += usage.completion_tokens;
        self.usage.estimated |= usage.estimated;
        metrics::counter!("devora_generation_tokens_total", "model" => self.lease.job.model.clone(), "kind" => "prompt")
            .increment(usage.prompt_tokens);
        metrics::counter!("devora_generation_tokens_total", "model" => self.lease.job.model.clone(), "kind" => "completion")
            .increment(usage.completion_tokens);
        match self.service.ports.jobs.settle_tokens(self.lease, reserved, usage, now).await {
            Ok(event) => {
                let signal = JobSignal::Events { job: self.lease.job.id, seq: event.seq };
                self.service.ports.signals.publish(signal).await;
                Ok(())
            }
            Err(FencedError::Lost) => Err(Halt::Lost),
            Err(FencedError::Storage(err)) => {
                tracing::warn!(error = %err, reserved, "could not settle a call's tokens; they are added at the end");
                self.unsettled.prompt_tokens += usage.prompt_tokens;
                self.unsettled.completion_tokens += usage.completion_tokens;
                self.unsettled.estimated |= usage.estimated;
                Ok(())
            }
        }
    }

    /// Sends what was gathered as one delta event (and progress when it moved).
    async fn flush(&mut self, pending: &mut String, max_tokens: u32) -> Result<(), Halt> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut events = vec![JobEventPayload::Delta { text: std::mem::take(pending) }];
        let done = estimate_tokens(self.output.len()) as f64 / f64::from(max_tokens.max(1));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let progress = (10.0 + 80.0 * done.min(1.0)) as u8;
        if progress >= self.progress + 5 {
            self.progress = progress;
            events.push(JobEventPayload::Progress { progress, step: Some("Generating".to_owned()) });
        }
        self.emit(events).await
    }

    /// The messages of a continuation: the instructions, the request, the reply so
    /// far (its end, when the whole no longer fits beside the output reserved) and
    /// the request to go on. The project's context is left out: the model used it.
    fn continuation(&self, window: ModelWindow, ask: String) -> Vec<ChatMessage> {
        let job = &self.lease.job;
        let system = ChatMessage { role: ChatRole::System, content: super::prompt::system_prompt() };
        let request = ChatMessage { role: ChatRole::User, content: job.prompt.clone() };
        let reserved = u64::from(self.service.config.max_tokens_per_call).min(window.tokens / 2);
        let fixed = window.tokens_of(system.content.len() + request.content.len() + ask.len() + 100);
        let room = window.chars_in(window.tokens.saturating_sub(reserved + fixed));
        let output = &self.output;
        let mut start = output.len().saturating_sub(room);
        while !output.is_char_boundary(start) {
            start += 1;
        }
        let mut messages = vec![system, request];
        if start < output.len() {
            messages.push(ChatMessage { role: ChatRole::Assistant, content: output[start..].to_owned() });
        }
        messages.push(ChatMessage { role: ChatRole::User, content: ask });
        messages
    }

    /// Feeds reply text to the protocol; applies what completed and reports it,
    /// after the text gathered so far (so a watcher sees the closing tag first).
    async fn absorb(&mut self, text: &str, pending: &mut String, max_tokens: u32) -> Result<(), End> {
        let reports = self.reply.take(text).await.map_err(fatal)?;
        if reports.is_empty() {
            return Ok(());
        }
        self.flush(pending, max_tokens).await.map_err(End::Halted)?;
        self.emit(reports.into_iter().map(JobEventPayload::File).collect()).await.map_err(End::Halted)
    }

    async fn rounds(&mut self, model: &dyn LanguageModel) -> End {
        let service = self.service;
        let config = &service.config;
        let job = &self.lease.job;
        let tokens_per_month = match service.ports.entitlements.entitlement(job.owner_id).await {
            Ok(e) => e.limits.tokens_per_month,
            Err(err) => return End::Failed(JobErrorCode::Internal, format!("could not read the plan: {err}")),
        };
        let (period_start, _) = billing_period(service.ports.clock.now());
        let window = config.window(&job.model);
        let mut transcript = match service.transcript(job, window).await {
            Ok(transcript) => transcript,
            Err(err) => return End::Failed(JobErrorCode::Internal, format!("could not read the project: {err}")),
        };
        self.progress = 5;
        if let Err(h) =
            self.emit(vec![JobEventPayload::Progress { progress: 5, step: Some("Waiting for the model".into()) }]).await
        {
            return End::Halted(h);
        }
        for round in 1..=config.max_rounds {
            let left = config
                .max_output_tokens
                .saturating_sub(u32::try_from(self.usage.completion_tokens).unwrap_or(u32::MAX));
            if left == 0 {
                return End::Failed(JobErrorCode::OutputLimit, "the job reached its cap on output tokens".into());
            }
            let prompt_chars: usize = transcript.iter().map(|m| m.content.len()).sum();
            let prompt_estimate = window.tokens_of(prompt_chars);
            // The reply fits in what the window leaves after the prompt.
            let room = u32::try_from(window.tokens.saturating_sub(prompt_estimate)).unwrap_or(u32::MAX);
            let wanted = left.min(config.max_tokens_per_call).min(room);
            if wanted < MIN_OUTPUT_TOKENS {
                let why = if left < MIN_OUTPUT_TOKENS {
                    "the job reached its cap on output tokens"
                } else {
                    "the model's window leaves no room for the reply"
                };
                return End::Failed(JobErrorCode::OutputLimit, why.into());
            }
            let reserved = service
                .ports
                .jobs
                .reserve_tokens(self.lease, tokens_per_month, period_start, prompt_estimate, wanted, MIN_OUTPUT_TOKENS)
                .await;
            let grant = match reserved {
                Ok(Reservation::Granted(grant)) => grant,
                Ok(Reservation::Exhausted) => {
                    return End::Failed(JobErrorCode::BudgetExhausted, "this month's token budget is used up".into());
                }
                Err(FencedError::Lost) => return End::Halted(Halt::Lost),
                Err(FencedError::Storage(err)) => return End::Failed(JobErrorCode::Internal, err.to_string()),
            };
            let request = ChatRequest {
                model: job.model.clone(),
                messages: transcript.clone(),
                max_tokens: grant.max_tokens,
                temperature: None,
            };
            let asked = Instant::now();
            let started = tokio::select! {
                started = model.stream_chat(request) => started,
                h = halted(&mut self.halt) => {
                    let _ = self.settle(grant.reserved, JobUsage::default()).await;
                    return End::Halted(h);
                }
            };
            let mut stream = match started {
                Ok(stream) => stream,
                Err(err) => {
                    let _ = self.settle(grant.reserved, JobUsage::default()).await;
                    let (code, message) = provider_failure(&err);
                    return End::Failed(code, message);
                }
            };
            metrics::histogram!("devora_generation_first_token_seconds", "model" => job.model.clone())
                .record(asked.elapsed().as_secs_f64());
            let mut reply = String::new();
            let mut pending = String::new();
            let mut flush_at = Instant::now() + config.coalesce;
            let estimated = |reply: &str| JobUsage {
                prompt_tokens: prompt_estimate,
                completion_tokens: estimate_tokens(reply.len()),
                estimated: true,
            };
            let finish = loop {
                tokio::select! {
                    chunk = stream.next() => match chunk {
                        Ok(Some(ChatChunk::Delta(text))) => {
                            reply.push_str(&text);
                            self.output.push_str(&text);
                            pending.push_str(&text);
                            if let Err(end) = self.absorb(&text, &mut pending, grant.max_tokens).await {
                                return end;
                            }
                            if Instant::now() >= flush_at {
                                flush_at = Instant::now() + config.coalesce;
                                if let Err(h) = self.flush(&mut pending, grant.max_tokens).await {
                                    return End::Halted(h);
                                }
                            }
                        }
                        Ok(Some(ChatChunk::Finished { reason, usage })) => {
                            if let Err(h) = self.flush(&mut pending, grant.max_tokens).await {
                                return End::Halted(h);
                            }
                            let usage = JobUsage {
                                prompt_tokens: usage.prompt_tokens,
                                completion_tokens: usage.completion_tokens,
                                estimated: usage.estimated,
                            };
                            if let Err(h) = self.settle(grant.reserved, usage).await {
                                return End::Halted(h);
                            }
                            break reason;
                        }
                        Ok(None) => break FinishReason::Stop,
                        Err(err) => {
                            drop(stream);
                            let _ = self.flush(&mut pending, grant.max_tokens).await;
                            let _ = self.settle(grant.reserved, estimated(&reply)).await;
                            let (code, message) = provider_failure(&err);
                            return End::Failed(code, message);
                        }
                    },
                    () = tokio::time::sleep_until(flush_at), if !pending.is_empty() => {
                        flush_at = Instant::now() + config.coalesce;
                        if let Err(h) = self.flush(&mut pending, grant.max_tokens).await {
                            return End::Halted(h);
                        }
                    }
                    h = halted(&mut self.halt) => {
                        // Dropping the stream closes the provider's connection now.
                        drop(stream);
                        if h != Halt::Lost {
                            let _ = self.flush(&mut pending, grant.max_tokens).await;
                            let _ = self.settle(grant.reserved, estimated(&reply)).await;
                        }
                        return End::Halted(h);
                    }
                }
            };
            // A reply cut by the length limit, or one that stopped inside an
            // operation, is continued: the open operation stays in the parser.
            let open = self.reply.open_operation();
            match finish {
                FinishReason::ContentFilter => {
                    return End::Failed(JobErrorCode::ContentFiltered, "the provider withheld the reply".into());
                }
                FinishReason::Stop | FinishReason::ToolCalls if open.is_none() => return End::Done,
                _ if round < config.max_rounds => {
                    transcript = self.continuation(window, continue_prompt(open.as_ref()));
                }
                _ => {}
            }
        }
        End::Failed(
            JobErrorCode::OutputLimit,
            format!("the reply was still cut off after {} rounds", config.max_rounds),
        )
    }
}

impl GenerationService {
    /// Runs a claimed job to its end (or until halted) and writes how it ended.
    pub(super) async fn run(&self, lease: Lease, worker: &str, stop: StopSignal) {
        let span = tracing::info_span!("job", job = %lease.job.id, attempt = lease.job.attempt, worker);
        self.run_leased(lease, stop).instrument(span).await;
    }

    async fn run_leased(&self, lease: Lease, stop: StopSignal) {
        tracing::info!(model = %lease.job.model, kind = lease.job.kind.as_str(), "job started");
        self.ports.signals.publish(JobSignal::Events { job: lease.job.id, seq: lease.seq }).await;
        let Some(model) = self.ports.model.clone() else { return };
        let earlier = match self.changed_files_before(&lease).await {
            Ok(earlier) => earlier,
            Err(err) => {
                // Not knowing is not running: back to the queue, to look again later.
                tracing::warn!(error = %err, "could not look for an earlier attempt's changes; job released");
                self.write_end(&lease, End::Halted(Halt::Drain), String::new(), Reply::new(None), JobUsage::default())
                    .await;
                return;
            }
        };
        if let Some(revision) = earlier {
            // An earlier attempt changed files and was cut off: running again would
            // apply its reply over its own changes. It ends here, its changes kept.
            let end = End::Failed(
                JobErrorCode::Interrupted,
                format!("the job stopped after changing files; its changes so far are revision {revision}"),
            );
            let mut reply = Reply::new(None);
            reply.revision = Some(revision);
            self.write_end(&lease, end, String::new(), reply, JobUsage::default()).await;
            return;
        }
        let (halt_tx, halt_rx) = watch::channel(None);
        let mut run = Run {
            service: self,
            lease: &lease,
            halt: halt_rx,
            halt_tx: &halt_tx,
            output: String::new(),
            usage: JobUsage::default(),
            progress: 0,
            reply: Reply::new(lease.job.project_id.map(|project| Target {
                projects: self.ports.projects.clone(),
                owner: lease.job.owner_id,
                project,
                job: lease.job.id,
                fence: lease.fence,
            })),
            unsent: Vec::new(),
            unsettled: JobUsage::default(),
        };
        let end = tokio::select! {
            end = run.rounds(model.as_ref()) => end,
            () = self.watchdog(&lease, &halt_tx, stop) => End::Halted(Halt::Lost),
        };
        if !run.unsent.is_empty() && !matches!(end, End::Halted(Halt::Lost)) {
            let _ = run.emit(Vec::new()).await;
        }
        let output = std::mem::take(&mut run.output);
        let mut reply = run.reply;
        // What is still held is flushed and an operation left open is refused
        // (`truncated`); a cancel or a lost lease leaves it unwritten and unreported.
        let end = match end {
            End::Halted(Halt::Cancel | Halt::Lost | Halt::Drain) => end,
            end => match reply.finish().await {
                Ok(_) => end,
                Err(err) => fatal(err),
            },
        };
        let unsettled = run.unsettled;
        self.write_end(&lease, end, output, reply, unsettled).await;
    }

    /// The revision an earlier attempt of this job left, if it changed files.
    async fn changed_files_before(&self, lease: &Lease) -> Result<Option<u64>, crate::projects::ProjectError> {
        let Some(project) = lease.job.project_id else { return Ok(None) };
        self.ports.projects.job_revision(project, lease.job.id).await
    }

    /// Extends the lease, and raises a halt on a cancel (signal or flag), a
    /// drain, the wall-clock cap or a lost lease. Never returns.
    async fn watchdog(&self, lease: &Lease, halt: &watch::Sender<Option<Halt>>, mut stop: StopSignal) {
        let mut signals = self.ports.signals.subscribe();
        let mut listening = true;
        let deadline = Instant::now() + self.config.max_duration;
        let mut beat = tokio::time::interval(self.config.heartbeat.max(Duration::from_millis(50)));
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let raise = |h: Halt| {
            if halt.borrow().is_none() {
                halt.send_replace(Some(h));
            }
        };
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    let until = self.ports.clock.now()
                        + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(60));
                    match self.ports.jobs.heartbeat(lease, until).await {
                        Ok(state) if state.cancel_requested => raise(Halt::Cancel),
                        Ok(_) => {}
                        Err(FencedError::Lost) => { halt.send_replace(Some(Halt::Lost)); std::future::pending::<()>().await }
                        Err(FencedError::Storage(err)) => tracing::warn!(error = %err, "heartbeat failed; the lease may lapse"),
                    }
                }
                signal = signals.recv(), if listening => match signal {
                    Ok(JobSignal::Cancel { job }) if job == lease.job.id => raise(Halt::Cancel),
                    // No more signals: the heartbeat's flag still carries a cancel.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => listening = false,
                    _ => {}
                },
                // Once any halt is raised this branch is off (a fired stop would resolve at once, forever).
                () = stop.stopped(), if halt.borrow().is_none() => raise(Halt::Drain),
                () = tokio::time::sleep_until(deadline) => raise(Halt::TimeLimit),
            }
        }
    }
}
