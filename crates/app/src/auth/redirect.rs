//! The redirect policy: where a sign-in may send the browser when it ends.

/// `redirect_to` resolved against the web app (`frontend_url`) and checked
/// against the allow-list: the web app's own origin, or one of `origins`
/// (compared as parsed origins). `None` when it is not allowed. No `redirect_to`
/// means the web app's `/auth/callback`.
pub(super) fn allowed_redirect(frontend_url: &str, origins: &[String], redirect_to: Option<&str>) -> Option<String> {
    if redirect_to.is_some_and(|r| r.len() > 2000) {
        return None;
    }
    let base = url::Url::parse(frontend_url).ok()?;
    let target = match redirect_to.map(str::trim).filter(|r| !r.is_empty()) {
        None => base.join("/auth/callback").ok()?,
        // Relative to the web app; `//evil.example` would be scheme-relative, so refuse it.
        Some(r) if r.starts_with('/') && !r.starts_with("//") && !r.contains('\\') => base.join(r).ok()?,
        Some(r) => url::Url::parse(r).ok()?,
    };
    let origin = target.origin().ascii_serialization();
    let allowed_origin = |o: &str| url::Url::parse(o).is_ok_and(|u| u.origin().ascii_serialization() == origin);
    let allowed = matches!(target.scheme(), "http" | "https")
        && target.username().is_empty()
        && target.password().is_none()
        && (base.origin().ascii_serialization() == origin || origins.iter().any(|o| allowed_origin(o)));
    // Bounded as stored and sent (percent-encoded), not only as submitted.
    allowed.then(|| target.to_string()).filter(|resolved| resolved.len() <= 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "http://app.test";

    #[test]
    fn the_web_app_and_listed_origins_are_allowed_and_nothing_else() {
        let origins = vec!["https://admin.test".to_owned()];
        assert_eq!(allowed_redirect(APP, &origins, None).as_deref(), Some("http://app.test/auth/callback"));
        assert_eq!(allowed_redirect(APP, &origins, Some("/done?x=1")).as_deref(), Some("http://app.test/done?x=1"));
        assert_eq!(
            allowed_redirect(APP, &origins, Some("https://admin.test/cb")).as_deref(),
            Some("https://admin.test/cb")
        );
        for refused in
            ["//evil.test/x", "https://evil.test/", "/\\evil.test", "javascript:alert(1)", "http://u:p@app.test/"]
        {
            assert_eq!(allowed_redirect(APP, &origins, Some(refused)), None, "{refused}");
        }
        assert_eq!(allowed_redirect(APP, &origins, Some(&format!("/{}", "a".repeat(2000)))), None);
    }
}
