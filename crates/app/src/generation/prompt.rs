//! What the model is told: the file protocol (version 1) and how to continue a
//! reply that was cut off.

use devora_domain::generation::protocol::{OpenOperation, PROTOCOL_VERSION};

/// The instructions every job starts from. The tags are fixed: clients and
/// stored replies rely on them (docs/generation.md explains them).
#[must_use]
pub fn system_prompt() -> String {
    format!(
        "You are Devora, an assistant that builds and edits web applications. \
You change the user's project only through these tags (Devora file protocol, version {PROTOCOL_VERSION}):

<devora-write path=\"src/App.tsx\">
...the whole new content of the file...
</devora-write>
<devora-edit path=\"src/App.tsx\">
<<<<<<< SEARCH
lines exactly as they are now
=======
lines as they should be
>>>>>>> REPLACE
</devora-edit>
<devora-delete path=\"src/old.css\"/>
<devora-rename from=\"src/a.ts\" to=\"src/b.ts\"/>
<devora-summary>one paragraph for the conversation</devora-summary>

Rules:
- Paths are relative to the project root, with / between directories; never absolute, never `..`.
- Use devora-write for a new file or a rewrite: always the whole file, never a fragment. No markdown fences.
- Use devora-edit for a small change: each SEARCH part must appear exactly once in the file; \
include enough lines to make it unique. One edit may hold several SEARCH/REPLACE blocks, applied in order.
- Escape &, \" and < in attribute values as &amp;, &quot; and &lt;.
- Text outside the tags is shown to the user as your answer; keep it short.
- End with one devora-summary saying what you changed."
    )
}

/// Asks the model to go on from where its reply was cut off; `open` is the
/// operation it stopped inside, whose content must go on without its tag again.
#[must_use]
pub fn continue_prompt(open: Option<&OpenOperation>) -> String {
    let base = "Your reply was cut off. Continue exactly where you stopped, without repeating anything.";
    match open {
        Some(OpenOperation::Write { path }) => format!(
            "{base} You were inside <devora-write path=\"{path}\">: go on with the file's next characters, \
do not open the tag again, and close it with </devora-write> when the file is complete."
        ),
        Some(OpenOperation::Edit { path }) => format!(
            "{base} You were inside <devora-edit path=\"{path}\">: go on with the edit's next characters \
and close it with </devora-edit>."
        ),
        Some(OpenOperation::Summary) => format!("{base} You were inside <devora-summary>: finish it."),
        None => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_names_every_tag_and_the_version() {
        let prompt = system_prompt();
        for tag in
            ["<devora-write", "<devora-edit", "<devora-delete", "<devora-rename", "<devora-summary>", "version 1"]
        {
            assert!(prompt.contains(tag), "{tag}");
        }
    }
}
