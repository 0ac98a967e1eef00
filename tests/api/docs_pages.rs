//! The documentation pages load nothing from another host: every asset they
//! reference is served here, no HTML or configuration points elsewhere, and no
//! asset points at a source map that is not served.

use regex::Regex;

use super::*;

/// What a page or asset references and a browser would fetch: `src`, a
/// stylesheet `href`, a CSS `url(...)` or `@import`, and a trailing source map.
/// In a script bundle only absolute URLs count (its other `src:` strings are
/// code, not addresses).
fn fetched_references(text: &str, script: bool) -> Vec<String> {
    let patterns = [
        r#"(?:src)\s*[:=]\s*["']([^"']+)["']"#,
        r#"<link[^>]*href\s*=\s*["']([^"']+)["']"#,
        r#"url\(\s*["']?([^"')]+)["']?\s*\)"#,
        r#"@import\s+["']([^"']+)["']"#,
        r"(?m)^\s*(?://|/\*)# sourceMappingURL=([^\s*]+)",
    ];
    let mut found = Vec::new();
    let patterns = patterns.map(|p| Regex::new(p).unwrap());
    for pattern in &patterns {
        for capture in pattern.captures_iter(text) {
            let reference = capture[1].to_owned();
            let absolute =
                reference.starts_with("http://") || reference.starts_with("https://") || reference.starts_with("//");
            let map = capture[0].contains("sourceMappingURL");
            if reference.starts_with("data:") || reference.starts_with('#') || (script && !absolute && !map) {
                continue;
            }
            found.push(reference);
        }
    }
    found
}

/// `reference` resolved against `page`, when it stays on this server; `Err` with
/// the reference when it points at another host.
fn resolve(app: &TestApp, page: &str, reference: &str) -> Result<String, String> {
    let base = url::Url::parse(&app.url(page)).unwrap();
    let target = base.join(reference).map_err(|_| reference.to_owned())?;
    if target.host_str() == base.host_str() && target.port() == base.port() {
        Ok(target.path().to_owned())
    } else {
        Err(reference.to_owned())
    }
}

scenario!(the_documentation_pages_load_nothing_from_another_host, [sqlite_memory], |app: TestApp| {
    let absolute = Regex::new(r#"(?:https?:)?//[A-Za-z0-9.-]+"#).unwrap();
    for page in ["/docs/", "/redoc"] {
        let res = app.get(page).await;
        assert_eq!(res.status(), 200, "{page}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/html") && content_type.contains("charset=utf-8"),
            "{page}: {content_type}"
        );
        let html = res.text().await.unwrap();
        let foreign: Vec<_> = absolute.find_iter(&html).map(|m| m.as_str().to_owned()).collect();
        assert!(foreign.is_empty(), "{page} names other hosts: {foreign:?}");

        let mut queue: Vec<(String, String)> =
            fetched_references(&html, false).into_iter().map(|r| (page.to_owned(), r)).collect();
        let mut seen = std::collections::BTreeSet::new();
        while let Some((from, reference)) = queue.pop() {
            let path =
                resolve(&app, &from, &reference).unwrap_or_else(|r| panic!("{from} loads {r} from another host"));
            if !seen.insert(path.clone()) {
                continue;
            }
            let asset = app.get(&path).await;
            assert_eq!(asset.status(), 200, "{from} references {path}, which is not served");
            let content_type = asset.headers()["content-type"].to_str().unwrap().to_owned();
            if content_type.contains("javascript") || content_type.starts_with("text/") {
                assert!(content_type.contains("charset=utf-8"), "{path}: {content_type}");
                let text = asset.text().await.unwrap();
                let script = content_type.contains("javascript");
                queue.extend(fetched_references(&text, script).into_iter().map(|r| (path.clone(), r)));
            }
        }
        assert!(!seen.is_empty(), "{page} has its assets: {seen:?}");
    }
    // The configuration: Swagger UI sends the document to no public validator.
    let config = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(config.contains(r#""validatorUrl": "none""#), "{config}");
    let foreign = Regex::new(r#"https?://"#).unwrap();
    assert!(!foreign.is_match(&config), "the configuration names another host: {config}");
    // `/redoc/` answers like `/docs`: to the page's one address.
    let res = app.get("/redoc/").await;
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "/redoc");
});
