//! The documented choices of a full-stack request, and the request itself once
//! checked against them.

use devora_domain::{Framework, ProjectDescription, ProjectName};

/// The choices `GET /generation/options` lists; a full-stack request picks from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullstackOptions {
    pub frontend: &'static [&'static str],
    pub backend: &'static [&'static str],
    pub database: &'static [&'static str],
    pub features: &'static [&'static str],
}

pub const OPTIONS: FullstackOptions = FullstackOptions {
    frontend: &["react", "nextjs", "vue", "nuxt", "svelte", "sveltekit", "angular", "astro", "solid"],
    backend: &["none", "express", "fastapi", "django", "flask", "rails", "laravel"],
    database: &["none", "postgres", "sqlite", "mysql", "mongodb"],
    features: &["auth", "payments", "file-uploads", "realtime", "admin-panel", "email", "search", "i18n"],
};

/// At most this many features in one request.
pub const MAX_FEATURES: usize = 8;

/// A full-stack request whose every choice is on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullstackSpec {
    pub name: ProjectName,
    pub description: Option<ProjectDescription>,
    pub frontend: &'static str,
    pub backend: &'static str,
    pub database: &'static str,
    pub features: Vec<&'static str>,
}

impl FullstackSpec {
    /// The option in `set` spelled `raw`, if offered.
    #[must_use]
    pub fn pick(set: &'static [&'static str], raw: &str) -> Option<&'static str> {
        set.iter().copied().find(|o| *o == raw)
    }

    /// The project's framework: its frontend (every frontend option is a framework).
    #[must_use]
    pub fn framework(&self) -> Option<Framework> {
        Framework::parse(self.frontend)
    }

    /// The request as the model reads it.
    #[must_use]
    pub fn prompt(&self) -> String {
        let mut text = format!(
            "Create a new application named \"{}\".\nFrontend: {}\nBackend: {}\nDatabase: {}\n",
            self.name.as_str(),
            self.frontend,
            self.backend,
            self.database
        );
        if !self.features.is_empty() {
            text.push_str(&format!("Features: {}\n", self.features.join(", ")));
        }
        if let Some(description) = &self.description {
            text.push_str(&format!("\nWhat it is for:\n{}\n", description.as_str()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frontend_on_offer_is_a_framework_and_options_are_unique() {
        for f in OPTIONS.frontend {
            assert!(Framework::parse(f).is_some(), "{f}");
        }
        for set in [OPTIONS.frontend, OPTIONS.backend, OPTIONS.database, OPTIONS.features] {
            let mut sorted = set.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), set.len());
        }
        assert_eq!(FullstackSpec::pick(OPTIONS.database, "postgres"), Some("postgres"));
        assert_eq!(FullstackSpec::pick(OPTIONS.database, "Postgres"), None);
    }
}
