//! `docs/api.md` promises its `sh` examples work against `cargo run`: they run
//! here, in order, as one shell session against a real server (SQLite and
//! in-process state, the embedded default), and every call must succeed.

use std::path::Path;
use std::process::Command;

use devora_e2e::scenario;

/// The runnable `sh` blocks of a Markdown document, in order. A block right after
/// an `<!-- not run: ... -->` comment is an illustration and is left out.
fn runnable_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    // The block being read, and whether it is kept.
    let mut current: Option<(String, bool)> = None;
    let mut not_run = false;
    for line in markdown.lines() {
        match &mut current {
            Some(_) if line.trim_start().starts_with("```") => {
                if let Some((block, true)) = current.take() {
                    blocks.push(block);
                }
            }
            Some((block, _)) => {
                block.push_str(line);
                block.push('\n');
            }
            None if line.trim_start().starts_with("```") => {
                current = Some((String::new(), line.trim() == "```sh" && !not_run));
                not_run = false;
            }
            None if line.trim_start().starts_with("<!-- not run") => not_run = true,
            None if !line.trim().is_empty() => not_run = false,
            None => {}
        }
    }
    blocks
}

scenario!(the_api_guide_examples_run_against_the_server, [sqlite_memory], |app: TestApp| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let guide = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let blocks = runnable_blocks(&guide);
    assert!(blocks.len() >= 6, "expected the guide's examples, found {} blocks", blocks.len());
    let script = blocks.concat();
    let default_api = "API=http://127.0.0.1:8080\n";
    assert!(script.starts_with(default_api), "the first example sets API to the `cargo run` address");

    // Each call reports its status on stderr, unless the example prints its own
    // (`-w '%{http_code}'`), in which case the guide says which, in a `# NNN` line.
    let prelude = format!(
        "set -euo pipefail\ncurl() {{ command curl -sS -w '\\n%{{stderr}}HTTP %{{http_code}}\\n' \"$@\"; }}\nAPI={}\n",
        app.address
    );
    let script = format!("{prelude}{}", &script[default_api.len()..]);
    let output = tokio::task::spawn_blocking(move || Command::new("bash").arg("-c").arg(script).output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the examples failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");

    let statuses: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("HTTP ")).collect();
    assert!(statuses.len() >= 15, "expected the examples' calls, saw {statuses:?}\n{stderr}");
    let failed: Vec<&&str> = statuses.iter().filter(|s| !s.starts_with('2') && !s.starts_with('3')).collect();
    assert!(failed.is_empty(), "calls failed: {failed:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");

    // A `# NNN` line right after a command that prints its status promises that status.
    let lines: Vec<&str> = blocks.iter().flat_map(|b| b.lines()).collect();
    let promised: Vec<&str> = lines
        .windows(2)
        .filter(|pair| pair[0].contains("%{http_code}"))
        .filter_map(|pair| pair[1].strip_prefix("# ")?.get(..3))
        .collect();
    let printed: Vec<&str> = stdout.lines().filter(|l| l.len() == 3 && l.bytes().all(|b| b.is_ascii_digit())).collect();
    assert_eq!(printed, promised, "the statuses the guide promises in `# NNN` lines");
    assert!(stdout.contains("ratelimit-policy: \"reads\""), "rate-limit example:\n{stdout}");
});

#[test]
fn illustrations_are_left_out() {
    let markdown =
        "```sh\none\n```\ntext\n<!-- not run: no provider -->\n```sh\ntwo\n```\n```json\n{}\n```\n```sh\nthree\n```\n";
    assert_eq!(runnable_blocks(markdown), vec!["one\n".to_owned(), "three\n".to_owned()]);
}
