//! The committed contract matches the code: `docs/openapi.yaml` and the generated
//! TypeScript types. Regenerate with `just openapi types` when these fail.

use std::path::{Path, PathBuf};

use devora_e2e::TempDir;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn committed_openapi_yaml_matches_the_code() {
    let committed = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap_or_default();
    let generated = devora_http::openapi_yaml().unwrap();
    assert!(
        committed == generated,
        "docs/openapi.yaml is stale: run `cargo run -p devora-server -- export-openapi docs/openapi.yaml` (just openapi)"
    );
}

#[test]
fn committed_typescript_types_match_the_code() {
    let dir = TempDir::new();
    devora_api_types::export_typescript(dir.path()).unwrap();
    let committed_dir = repo_root().join("clients/typescript/src/generated");
    let mut generated: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    generated.sort();
    let mut committed: Vec<_> =
        std::fs::read_dir(&committed_dir).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    committed.sort();
    assert_eq!(generated, committed, "generated type files differ: run `just types`");
    for name in generated {
        let a = std::fs::read(dir.path().join(&name)).unwrap();
        let b = std::fs::read(committed_dir.join(&name)).unwrap();
        assert!(a == b, "{} is stale: run `just types`", name.to_string_lossy());
    }
}
