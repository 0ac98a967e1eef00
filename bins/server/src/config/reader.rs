//! Reading environment variables: every problem collected, each naming its variable.

use base64::Engine;
use devora_domain::Quota;
use secrecy::SecretString;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// One variable's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarError {
    pub variable: &'static str,
    pub problem: String,
}

/// Every problem found in the environment, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<VarError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for err in &self.0 {
            writeln!(f, "  {}: {}", err.variable, err.problem)?;
        }
        Ok(())
    }
}

/// Reads typed values out of a variable map, collecting errors instead of stopping.
pub(super) struct Reader<'a> {
    pub(super) vars: &'a HashMap<String, String>,
    pub(super) errors: Vec<VarError>,
}

impl Reader<'_> {
    /// The trimmed value, `None` when unset or blank.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub(super) fn fail(&mut self, variable: &'static str, problem: impl Into<String>) {
        self.errors.push(VarError { variable, problem: problem.into() });
    }

    pub(super) fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub(super) fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    pub(super) fn number<T>(&mut self, name: &'static str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else { return default };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.fail(name, format!("must be a whole number from {min} to {max} (got {raw:?})"));
                default
            }
        }
    }

    pub(super) fn bool(&mut self, name: &'static str, default: bool) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.fail(name, format!("must be true or false (got {other:?})"));
                default
            }
        }
    }

    pub(super) fn http_url(&mut self, name: &'static str, default: &str) -> String {
        let value = self.string(name, default);
        if !(value.starts_with("http://") || value.starts_with("https://")) || value.contains(char::is_whitespace) {
            self.fail(name, format!("must be an http:// or https:// URL (got {value:?})"));
        }
        value.trim_end_matches('/').to_owned()
    }

    /// A quota like `5/min`, `100/60s`, `10/30s`, `1000/h`; `default` when unset.
    pub(super) fn quota(&mut self, name: &'static str, default: Quota) -> Quota {
        let Some(raw) = self.get(name) else { return default };
        match parse_quota(&raw) {
            Some(q) => q,
            None => {
                self.fail(name, format!("must be <count>/<window> like 5/min, 100/60s or 1000/h (got {raw:?})"));
                default
            }
        }
    }

    pub(super) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// `5/min`, `100/60s`, `1000/h`, `2/s`, `10/5m` into a quota.
pub(super) fn parse_quota(raw: &str) -> Option<Quota> {
    let (count, window) = raw.split_once('/')?;
    let count: u32 = count.trim().parse().ok()?;
    let window = window.trim().to_ascii_lowercase();
    let (amount, unit) = match window.find(|c: char| !c.is_ascii_digit()) {
        Some(0) => (1, window.as_str()),
        Some(i) => (window[..i].parse::<u64>().ok()?, &window[i..]),
        None => return None,
    };
    let unit_secs = match unit {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        _ => return None,
    };
    Quota::new(count, Duration::from_secs(amount.checked_mul(unit_secs)?)).ok()
}

/// `scheme://user:secret@host/db` -> `scheme://user:***@host/db`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// 48 random bytes, base64: a development signing key that changes every start.
pub(super) fn generate_secret() -> SecretString {
    let bytes: [u8; 48] = rand::random();
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
}
