//! The messages a job sends the model on its first call: the protocol, then for
//! an agentic job the project's context within the model's window (less the
//! output reserved), the conversation's recent turns, and the prompt.

use devora_domain::{Job, JobKind, Message, MessageRole};
use devora_ports::generation::{ChatMessage, ChatRole};

use super::GenerationService;
use super::context::{ModelWindow, conversation, files_section, rank, tree};
use super::prompt::system_prompt;

/// Most conversation messages kept for the context (the newest).
const MAX_HISTORY: usize = 1000;

impl GenerationService {
    /// The first call's messages for `job`.
    pub(super) async fn transcript(&self, job: &Job, window: ModelWindow) -> Result<Vec<ChatMessage>, String> {
        let system = ChatMessage { role: ChatRole::System, content: system_prompt() };
        let prompt = ChatMessage { role: ChatRole::User, content: job.prompt.clone() };
        let (JobKind::Agentic, Some(project)) = (job.kind, job.project_id) else {
            return Ok(vec![system, prompt]);
        };
        // What the window leaves for context: less the output reserved, the protocol and the prompt.
        let reserved = u64::from(self.config.max_tokens_per_call).min(window.tokens / 2);
        let fixed = window.tokens_of(system.content.len() + prompt.content.len() + 200);
        let budget = window.chars_in(window.tokens.saturating_sub(reserved + fixed));
        let projects = &self.ports.projects;
        let files = projects.current_files(project).await.map_err(|e| e.to_string())?;
        // The newest messages matter: read the conversation through, keeping its tail.
        let mut history: std::collections::VecDeque<Message> = std::collections::VecDeque::new();
        let mut after = None;
        loop {
            let page = projects.messages(job.owner_id, project, after, 100).await.map_err(|e| e.to_string())?;
            history.extend(page.items);
            while history.len() > MAX_HISTORY {
                history.pop_front();
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut history: Vec<Message> = history.into();
        // The prompt itself was recorded when the job was queued: it is sent last, once.
        if history.last().is_some_and(|m| m.role == MessageRole::User && m.content.as_str() == job.prompt) {
            history.pop();
        }
        let (summary, turns) = conversation(&history, budget / 4);
        let used_by_turns: usize =
            summary.as_ref().map_or(0, String::len) + turns.iter().map(|t| t.content.len()).sum::<usize>();
        let tree_text = tree(&files, budget / 10);
        let mut left = budget.saturating_sub(used_by_turns + tree_text.len());
        let mut chosen = Vec::new();
        for meta in rank(&files, &job.prompt) {
            // Whole files only, and only those that can still fit.
            if meta.size as usize + 40 + meta.path.as_str().len() > left {
                continue;
            }
            let Ok(Some((_, bytes))) = projects.current_file(project, &meta.path).await else { continue };
            let Ok(text) = String::from_utf8(bytes) else { continue };
            // The file may have grown since it was listed: never past what is left.
            let Some(rest) = left.checked_sub(text.len() + 40 + meta.path.as_str().len()) else { continue };
            left = rest;
            chosen.push((meta, text));
        }
        let files_text = files_section(&chosen, budget.saturating_sub(used_by_turns + tree_text.len()));
        let mut context = String::from("The project as it is now.\n\n");
        context.push_str(&tree_text);
        if !files_text.is_empty() {
            context.push_str("\nContents of the files most relevant to the request:\n");
            context.push_str(&files_text);
        }
        if let Some(summary) = summary {
            context.push('\n');
            context.push_str(&summary);
        }
        let mut messages = vec![system, ChatMessage { role: ChatRole::System, content: context }];
        messages.extend(turns);
        messages.push(prompt);
        Ok(messages)
    }
}
