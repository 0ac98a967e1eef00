//! What an agentic job shows the model, within the model's window less the
//! output reserved: the file tree, the contents of the files most relevant to the
//! prompt (named in it, recently changed, small configuration files), a running
//! summary of the conversation and its last few turns.

use devora_domain::{FileMeta, Message, MessageRole};
use devora_ports::generation::{ChatMessage, ChatRole};

/// A model's window and how its tokenizer counts, from configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelWindow {
    /// Tokens the model reads and writes in one call.
    pub tokens: u64,
    /// About how many characters make a token.
    pub chars_per_token: f64,
}

impl ModelWindow {
    /// Tokens `text` is estimated to take.
    #[must_use]
    pub fn tokens_of(&self, chars: usize) -> u64 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let tokens = (chars as f64 / self.chars_per_token.max(0.5)).ceil() as u64;
        tokens.max(1)
    }

    /// Characters that fit in `tokens`.
    #[must_use]
    pub fn chars_in(&self, tokens: u64) -> usize {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let chars = (tokens as f64 * self.chars_per_token.max(0.5)).floor() as usize;
        chars
    }
}

/// How many of the newest turns are sent as they are.
const RECENT_TURNS: usize = 6;

/// Files whose names say they configure the project (small and always useful).
const CONFIG_FILES: &[&str] = &[
    "package.json",
    "tsconfig.json",
    "vite.config.ts",
    "vite.config.js",
    "next.config.js",
    "next.config.mjs",
    "tailwind.config.js",
    "tailwind.config.ts",
    "pyproject.toml",
    "requirements.txt",
    "Cargo.toml",
    "index.html",
    ".env.example",
];

/// The order in which files earn a place: named in the prompt (by path or file
/// name), then configuration files, then the most recently changed.
#[must_use]
pub fn rank<'a>(files: &'a [FileMeta], prompt: &str) -> Vec<&'a FileMeta> {
    let prompt = prompt.to_lowercase();
    let score = |f: &FileMeta| -> u8 {
        let path = f.path.as_str().to_lowercase();
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        if prompt.contains(&path) {
            0
        } else if name.len() > 3 && prompt.contains(&name) {
            1
        } else if CONFIG_FILES.contains(&name.as_str()) {
            2
        } else {
            3
        }
    };
    let mut ranked: Vec<&FileMeta> = files.iter().collect();
    ranked.sort_by(|a, b| {
        score(a).cmp(&score(b)).then(b.updated_at.cmp(&a.updated_at)).then(a.path.as_str().cmp(b.path.as_str()))
    });
    ranked
}

/// The file tree, one path and size a line, cut to `max_chars` (saying how many were left out).
#[must_use]
pub fn tree(files: &[FileMeta], max_chars: usize) -> String {
    let mut out = String::from("Project files (path, bytes):\n");
    for (i, f) in files.iter().enumerate() {
        let line = format!("{} {}\n", f.path.as_str(), f.size);
        if out.len() + line.len() > max_chars {
            out.push_str(&format!("... and {} more files\n", files.len() - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

/// The conversation before the prompt: older turns as a running summary (their
/// first line each, cut short), the last few as they are, within `max_chars`.
#[must_use]
pub fn conversation(history: &[Message], max_chars: usize) -> (Option<String>, Vec<ChatMessage>) {
    let split = history.len().saturating_sub(RECENT_TURNS);
    let (older, recent) = history.split_at(split);
    let mut used = 0;
    let mut turns = Vec::new();
    for m in recent.iter().rev() {
        let role = match m.role {
            MessageRole::User => ChatRole::User,
            MessageRole::Assistant => ChatRole::Assistant,
            MessageRole::System => continue,
        };
        let text = m.content.as_str();
        if used + text.len() > max_chars / 2 {
            break;
        }
        used += text.len();
        turns.push(ChatMessage { role, content: text.to_owned() });
    }
    turns.reverse();
    let mut summary = String::new();
    for m in older.iter().rev() {
        let first: String = m.content.as_str().lines().next().unwrap_or_default().chars().take(160).collect();
        let line = format!("- {}: {first}\n", m.role.as_str());
        if used + summary.len() + line.len() > max_chars {
            break;
        }
        summary.insert_str(0, &line);
    }
    let summary = (!summary.is_empty()).then(|| format!("Earlier in this conversation (oldest first):\n{summary}"));
    (summary, turns)
}

/// Fits file contents into `max_chars`, in `ranked` order: each whole file that
/// fits (a file is never cut: half a file misleads more than none).
#[must_use]
pub fn files_section(ranked: &[(&FileMeta, String)], max_chars: usize) -> String {
    let mut out = String::new();
    for (meta, content) in ranked {
        let block = format!("<file path=\"{}\">\n{content}\n</file>\n", meta.path.as_str());
        if out.len() + block.len() > max_chars {
            continue;
        }
        out.push_str(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};
    use devora_domain::{FilePath, MessageContent, MessageId, ProjectId};

    use super::*;

    fn file(path: &str, size: u64, age_secs: i64) -> FileMeta {
        FileMeta {
            path: FilePath::parse(path).unwrap(),
            size,
            sha256: String::new(),
            updated_at: Utc::now() - TimeDelta::seconds(age_secs),
        }
    }

    #[test]
    fn files_named_in_the_prompt_come_first_then_configuration_then_the_newest() {
        let files = [
            file("src/old.ts", 10, 100),
            file("package.json", 10, 500),
            file("src/App.tsx", 10, 300),
            file("src/new.ts", 10, 1),
        ];
        let ranked: Vec<&str> = rank(&files, "Fix the header in App.tsx").iter().map(|f| f.path.as_str()).collect();
        assert_eq!(ranked, ["src/App.tsx", "package.json", "src/new.ts", "src/old.ts"]);
    }

    #[test]
    fn every_part_stays_within_its_share() {
        let files: Vec<FileMeta> = (0..500).map(|i| file(&format!("src/f{i}.ts"), 1000, i)).collect();
        let t = tree(&files, 2000);
        assert!(t.len() <= 2000 + 40 && t.contains("more files"), "{}", t.len());
        let contents: Vec<(&FileMeta, String)> = files.iter().map(|f| (f, "x".repeat(900))).collect();
        assert!(files_section(&contents, 5000).len() <= 5000);
        let history: Vec<Message> = (0..40)
            .map(|i| Message {
                id: MessageId::new(),
                project_id: ProjectId::new(),
                role: if i % 2 == 0 { MessageRole::User } else { MessageRole::Assistant },
                content: MessageContent::parse(&format!("turn {i} {}", "y".repeat(300))).unwrap(),
                created_at: Utc::now(),
            })
            .collect();
        let (summary, turns) = conversation(&history, 3000);
        let total = summary.as_ref().map_or(0, String::len) + turns.iter().map(|t| t.content.len()).sum::<usize>();
        assert!(total <= 3000 + 60, "{total}");
        assert!(summary.unwrap().contains("turn 0") || turns.len() <= RECENT_TURNS);
    }

    #[test]
    fn estimates_follow_the_configured_ratio() {
        let w = ModelWindow { tokens: 1000, chars_per_token: 4.0 };
        assert_eq!(w.tokens_of(8), 2);
        assert_eq!(w.tokens_of(9), 3);
        assert_eq!(w.chars_in(10), 40);
    }
}
