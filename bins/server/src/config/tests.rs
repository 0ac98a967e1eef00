use devora_domain::Quota;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn empty_environment_gives_the_embedded_default() {
    let s = Settings::from_vars(vars(&[])).unwrap();
    assert_eq!(s.env, AppEnv::Development);
    assert_eq!(s.http.port, 8080);
    assert_eq!(s.http.host, "127.0.0.1");
    assert_eq!(s.database.url.expose_secret(), DEFAULT_DATABASE_URL);
    assert!(s.redis.is_none());
    assert!(s.jwt_secret_generated);
    assert!(s.jwt_secret.expose_secret().len() >= 32);
    assert_eq!(s.http.cors_origins, vec!["http://localhost:5173".to_owned()]);
    assert_eq!(s.log_format, LogFormat::Pretty);
}

#[test]
fn production_refuses_missing_secret_and_sqlite() {
    let err = Settings::from_vars(vars(&[("APP_ENV", "production")])).unwrap_err();
    let names: Vec<_> = err.0.iter().map(|e| e.variable).collect();
    assert!(names.contains(&"JWT_SECRET"), "{err}");
    assert!(names.contains(&"DATABASE_URL"), "{err}");
}

#[test]
fn production_refuses_a_stripe_key_without_a_webhook_secret() {
    let base = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef0123"),
        ("DATABASE_URL", "postgres://u:p@db/devora"),
        ("STRIPE_SECRET_KEY", "sk_live_x"),
    ];
    let err = Settings::from_vars(vars(&base)).unwrap_err();
    assert!(err.0.iter().any(|e| e.variable == "STRIPE_WEBHOOK_SECRET"), "{err}");
    let mut with_secret = base.to_vec();
    with_secret.push(("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b"));
    let settings = Settings::from_vars(vars(&with_secret)).unwrap();
    assert_eq!(settings.integrations.stripe_webhook_secrets.len(), 2, "a comma list for rotation");
    // Development runs a key without webhooks (checkout works, deliveries answer 503).
    assert!(Settings::from_vars(vars(&[("STRIPE_SECRET_KEY", "sk_test_x")])).is_ok());
}

#[test]
fn production_accepts_sqlite_when_explicitly_allowed() {
    let s = Settings::from_vars(vars(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", &"k".repeat(32)),
        ("ALLOW_SQLITE_IN_PRODUCTION", "true"),
    ]))
    .unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    assert!(!s.jwt_secret_generated);
}

#[test]
fn each_bad_variable_is_named_with_its_problem() {
    let err = Settings::from_vars(vars(&[
        ("PORT", "eighty"),
        ("JWT_SECRET", "short"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://x"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, nonsense"),
        ("CORS_ORIGINS", "https://ok.example, https://bad.example/path"),
        ("GOOGLE_CLIENT_ID", "id-without-secret"),
    ]))
    .unwrap_err();
    let text = err.to_string();
    for name in
        ["PORT", "JWT_SECRET", "DATABASE_URL", "REDIS_URL", "TRUSTED_PROXIES", "CORS_ORIGINS", "GOOGLE_CLIENT_SECRET"]
    {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains("\"eighty\""), "{text}");
    assert!(!text.contains("short"), "secrets are never echoed: {text}");
}

#[test]
fn rate_limits_are_configurable_and_validated() {
    let s = Settings::from_vars(vars(&[("RATE_LIMIT_AUTH", "7/30s"), ("RATE_LIMIT_READS", "1000/h")])).unwrap();
    assert_eq!(s.rate_limits.auth.quota, Quota::new(7, Duration::from_secs(30)).unwrap());
    assert_eq!(s.rate_limits.reads.quota, Quota::new(1000, Duration::from_secs(3600)).unwrap());
    assert_eq!(s.rate_limits.public.quota, Quota::per_minute(100).unwrap());
    for bad in ["0/min", "5", "5/fortnight", "x/min", "5/0s"] {
        let err = Settings::from_vars(vars(&[("RATE_LIMIT_WRITES", bad)])).unwrap_err();
        assert_eq!(err.0[0].variable, "RATE_LIMIT_WRITES", "{bad}");
    }
    let off = Settings::from_vars(vars(&[("RATE_LIMIT_ENABLED", "false")])).unwrap();
    assert!(!off.rate_limits.enabled);
}

#[test]
fn debug_output_hides_secrets() {
    let s = Settings::from_vars(vars(&[
        ("JWT_SECRET", "super-secret-value-that-is-long-enough"),
        ("DATABASE_URL", "postgres://app:hunter2@db/devora"),
    ]))
    .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("super-secret-value"));
    assert!(!debug.contains("hunter2"));
    assert_eq!(s.database_url_redacted(), "postgres://app:***@db/devora");
}
