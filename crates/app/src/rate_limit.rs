//! Rate limiting: named policies (quota, window, key) and the check that applies
//! one, through a shared backend with an in-process fallback.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};
use devora_ports::{Gate, LimitCheck, RateLimitDecision, RateLimitError, RateLimiter, VersionedRead};

use crate::read_through::Confirmed;

/// What a policy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client's IP address (IPv6 by its /64, which one subscriber usually holds).
    ClientIp,
    /// The signed-in user; anonymous requests are counted by client IP instead.
    User,
    /// One shared budget for everyone (signature-checked webhooks).
    Global,
}

/// The route groups of the API, each limited by its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Credential endpoints: register, password change, OAuth.
    Auth,
    /// Password login, per client IP (the handler also counts per IP and email).
    LoginIp,
    /// Starting generation jobs.
    Generation,
    /// Other authenticated mutations.
    Writes,
    /// Other authenticated reads.
    Reads,
    /// Unauthenticated service routes: API root, health, docs, metrics.
    Public,
    /// The Stripe webhook: exempt from per-IP quotas, capped globally.
    Webhook,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub name: PolicyName,
    pub quota: Quota,
    pub key: KeyKind,
}

impl RateLimitPolicy {
    /// # Errors
    /// When `name` is not a valid policy name.
    pub fn new(name: &str, quota: Quota, key: KeyKind) -> Result<Self, String> {
        Ok(Self { name: PolicyName::parse(name)?, quota, key })
    }
}

/// Every policy the API uses. `enabled = false` turns limiting off (load tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicies {
    pub enabled: bool,
    pub auth: RateLimitPolicy,
    /// Login attempts per client IP and submitted email together.
    pub login: RateLimitPolicy,
    /// Login attempts per client IP.
    pub login_ip: RateLimitPolicy,
    pub generation: RateLimitPolicy,
    pub writes: RateLimitPolicy,
    pub reads: RateLimitPolicy,
    pub public: RateLimitPolicy,
    pub webhook: RateLimitPolicy,
}

impl RateLimitPolicies {
    #[must_use]
    pub fn get(&self, kind: PolicyKind) -> &RateLimitPolicy {
        match kind {
            PolicyKind::Auth => &self.auth,
            PolicyKind::LoginIp => &self.login_ip,
            PolicyKind::Generation => &self.generation,
            PolicyKind::Writes => &self.writes,
            PolicyKind::Reads => &self.reads,
            PolicyKind::Public => &self.public,
            PolicyKind::Webhook => &self.webhook,
        }
    }

    /// The product's defaults, all inside 5..100 per minute.
    ///
    /// # Errors
    /// Never in practice; the constants are valid.
    pub fn defaults() -> Result<Self, String> {
        let per_minute = |n| Quota::per_minute(n).map_err(|e| e.to_string());
        Ok(Self {
            enabled: true,
            auth: RateLimitPolicy::new("auth", per_minute(5)?, KeyKind::ClientIp)?,
            login: RateLimitPolicy::new("login", per_minute(5)?, KeyKind::ClientIp)?,
            login_ip: RateLimitPolicy::new("login-ip", per_minute(20)?, KeyKind::ClientIp)?,
            generation: RateLimitPolicy::new("generation", per_minute(10)?, KeyKind::User)?,
            writes: RateLimitPolicy::new("writes", per_minute(30)?, KeyKind::User)?,
            reads: RateLimitPolicy::new("reads", per_minute(100)?, KeyKind::User)?,
            public: RateLimitPolicy::new("public", per_minute(100)?, KeyKind::ClientIp)?,
            webhook: RateLimitPolicy::new("webhook", per_minute(100)?, KeyKind::Global)?,
        })
    }
}

/// Who is asking: the resolved client address and, once authenticated, the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub ip: IpAddr,
    pub user: Option<String>,
}

/// The counting key for `subject` under a policy keyed by `kind`.
#[must_use]
pub fn subject_key(kind: KeyKind, subject: &Subject) -> String {
    match (kind, &subject.user) {
        (KeyKind::Global, _) => "global".to_owned(),
        (KeyKind::User, Some(user)) => format!("user:{user}"),
        (KeyKind::User | KeyKind::ClientIp, _) => format!("ip:{}", ip_bucket(subject.ip)),
    }
}

/// IPv4 as is; IPv6 by its /64 (one subscriber's usual allocation), so rotating
/// addresses inside a prefix does not multiply a client's budget.
#[must_use]
pub fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The `login` policy's key: the address's bucket (as every per-IP key) and the
/// email as submitted, normalised and hashed so the key stays small whatever was sent.
fn login_key(ip: Option<IpAddr>, email: &str) -> String {
    use sha2::Digest;
    let email_hash = hex::encode(&sha2::Sha256::digest(email.trim().to_lowercase().as_bytes())[..16]);
    let ip = ip.map_or_else(|| "-".to_owned(), ip_bucket);
    format!("ip:{ip}|email:{email_hash}")
}

fn count_decision(policy: &RateLimitPolicy, decision: &RateLimitDecision) {
    let outcome = if decision.allowed { "allowed" } else { "limited" };
    metrics::counter!("rate_limit_decisions_total", "policy" => policy.name.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Applies policies through a limiter.
#[derive(Clone)]
pub struct RateLimitService {
    limiter: Arc<dyn RateLimiter>,
    policies: Arc<RateLimitPolicies>,
    gate: Option<Arc<dyn Gate>>,
}

/// What [`RateLimitService::admit`] decided: the policy and decision to report
/// (`None` when limiting is off), and the confirmed reads to run the request with.
pub struct Admission {
    pub limited: Option<(RateLimitPolicy, RateLimitDecision)>,
    pub confirmed: Confirmed,
}

impl RateLimitService {
    #[must_use]
    pub fn new(limiter: Arc<dyn RateLimiter>, policies: RateLimitPolicies) -> Self {
        Self { limiter, policies: Arc::new(policies), gate: None }
    }

    /// Checks through `gate` first: the limit and the request's reads in one
    /// round trip. When the gate cannot answer, the limiter (with its fallback)
    /// decides and the reads go the usual way.
    #[must_use]
    pub fn with_gate(mut self, gate: Arc<dyn Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Counts one request of `subject` under the policy for `kind` and, when a
    /// gate is configured, confirms the versions of `reads` in the same round trip.
    pub async fn admit(&self, kind: PolicyKind, subject: &Subject, reads: Vec<VersionedRead>) -> Admission {
        let Some(gate) = self.gate.as_ref() else {
            return Admission { limited: self.check(kind, subject).await, confirmed: Confirmed::default() };
        };
        let policy = self.policies.get(kind);
        let check = self.policies.enabled.then(|| LimitCheck {
            policy: policy.name.clone(),
            quota: policy.quota,
            key: subject_key(policy.key, subject),
        });
        if check.is_none() && reads.is_empty() {
            return Admission { limited: None, confirmed: Confirmed::default() };
        }
        match gate.pass(check.as_ref(), &reads).await {
            Ok(passage) => {
                let limited = passage.decision.map(|decision| {
                    count_decision(policy, &decision);
                    metrics::counter!("rate_limit_checks_total", "backend" => gate.backend()).increment(1);
                    (policy.clone(), decision)
                });
                Admission { limited, confirmed: Confirmed::new(reads, passage.reads) }
            }
            Err(err) => {
                tracing::debug!(error = %err, "request gate unavailable; limiting and reading the slow way");
                Admission { limited: self.check(kind, subject).await, confirmed: Confirmed::default() }
            }
        }
    }

    #[must_use]
    pub fn policies(&self) -> &RateLimitPolicies {
        &self.policies
    }

    /// Counts one request of `subject` under the policy for `kind`. `None` when
    /// limiting is disabled.
    pub async fn check(&self, kind: PolicyKind, subject: &Subject) -> Option<(RateLimitPolicy, RateLimitDecision)> {
        if !self.policies.enabled {
            return None;
        }
        let policy = self.policies.get(kind);
        let key = subject_key(policy.key, subject);
        let decision = self.check_key(policy, &key).await;
        Some((policy.clone(), decision))
    }

    /// Counts one password login under the `login` policy, by the client's
    /// address bucket and the submitted email together (so one address cannot try
    /// many passwords on one account, nor lock out an account from elsewhere).
    /// `None` when limiting is disabled.
    pub async fn check_login(&self, ip: Option<IpAddr>, email: &str) -> Option<(RateLimitPolicy, RateLimitDecision)> {
        if !self.policies.enabled {
            return None;
        }
        let policy = &self.policies.login;
        let decision = self.check_key(policy, &login_key(ip, email)).await;
        Some((policy.clone(), decision))
    }

    /// Counts one request under `policy` by an explicit key (login counts by IP and
    /// submitted email together). A limiter that cannot answer at all lets the
    /// request through: the in-process fallback never fails, so this is only
    /// reached by a broken backend, which must not take the API down with it.
    pub async fn check_key(&self, policy: &RateLimitPolicy, key: &str) -> RateLimitDecision {
        match self.limiter.check(&policy.name, policy.quota, key).await {
            Ok(decision) => {
                count_decision(policy, &decision);
                decision
            }
            Err(err) => {
                tracing::error!(error = %err, policy = %policy.name, "rate limiter failed; allowing the request");
                RateLimitDecision {
                    allowed: true,
                    remaining: policy.quota.limit().get(),
                    reset_after: std::time::Duration::ZERO,
                    retry_after: None,
                }
            }
        }
    }
}

/// Checks against `primary` (Redis, exact across nodes); when it cannot answer,
/// checks against `fallback` (in-process) instead, so a request is limited per
/// node rather than failed. Each call tries the primary again, and the primary's
/// own circuit breaker keeps that cheap while it is down.
pub struct FallbackRateLimiter {
    primary: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
}

impl FallbackRateLimiter {
    #[must_use]
    pub fn new(primary: Arc<dyn RateLimiter>, fallback: Arc<dyn RateLimiter>) -> Self {
        Self { primary, fallback }
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        match self.primary.check(policy, quota, key).await {
            Ok(decision) => {
                metrics::counter!("rate_limit_checks_total", "backend" => self.primary.backend()).increment(1);
                Ok(decision)
            }
            Err(err) => {
                tracing::debug!(error = %err, "primary rate limiter unavailable; using fallback");
                metrics::counter!("rate_limit_checks_total", "backend" => self.fallback.backend()).increment(1);
                metrics::counter!("rate_limit_fallback_total").increment(1);
                self.fallback.check(policy, quota, key).await
            }
        }
    }

    fn backend(&self) -> &'static str {
        self.primary.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_keyed_by_address_bucket_and_normalised_email() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let key = login_key(Some(v6), " Ada@Example.com ");
        assert_eq!(key, login_key(Some("2001:db8:1:2:ffff::1".parse().unwrap()), "ada@example.com"));
        assert!(key.starts_with("ip:2001:db8:1:2::/64|email:"), "{key}");
        assert_eq!(key.len(), "ip:2001:db8:1:2::/64|email:".len() + 32);
        assert_ne!(key, login_key(Some(v6), "bob@example.com"));
        assert!(login_key(None, "a@b.co").starts_with("ip:-|email:"));
    }
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    struct Counting {
        fail: bool,
        calls: AtomicU32,
    }

    #[async_trait]
    impl RateLimiter for Counting {
        async fn check(&self, _: &PolicyName, _: Quota, _: &str) -> Result<RateLimitDecision, RateLimitError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(RateLimitError::Unavailable("down".into()));
            }
            Ok(RateLimitDecision { allowed: true, remaining: 1, reset_after: Duration::ZERO, retry_after: None })
        }
        fn backend(&self) -> &'static str {
            "counting"
        }
    }

    #[tokio::test]
    async fn falls_back_only_when_primary_fails() {
        let policy = PolicyName::parse("p").unwrap();
        let quota = Quota::per_minute(5).unwrap();
        for primary_fails in [false, true] {
            let primary = Arc::new(Counting { fail: primary_fails, calls: AtomicU32::new(0) });
            let fallback = Arc::new(Counting { fail: false, calls: AtomicU32::new(0) });
            let limiter = FallbackRateLimiter::new(primary.clone(), fallback.clone());
            assert!(limiter.check(&policy, quota, "k").await.unwrap().allowed);
            assert_eq!(primary.calls.load(Ordering::SeqCst), 1);
            assert_eq!(fallback.calls.load(Ordering::SeqCst), u32::from(primary_fails));
        }
    }

    #[test]
    fn keys_follow_the_policy_kind() {
        let anon = Subject { ip: "203.0.113.9".parse().unwrap(), user: None };
        let user = Subject { ip: "203.0.113.9".parse().unwrap(), user: Some("u1".into()) };
        assert_eq!(subject_key(KeyKind::ClientIp, &user), "ip:203.0.113.9");
        assert_eq!(subject_key(KeyKind::User, &user), "user:u1");
        assert_eq!(subject_key(KeyKind::User, &anon), "ip:203.0.113.9");
        assert_eq!(subject_key(KeyKind::Global, &anon), "global");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a = ip_bucket("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ip_bucket("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = ip_bucket("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(ip_bucket("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
    }

    #[test]
    fn defaults_stay_inside_the_product_range() {
        let p = RateLimitPolicies::defaults().unwrap();
        for kind in [
            PolicyKind::Auth,
            PolicyKind::LoginIp,
            PolicyKind::Generation,
            PolicyKind::Writes,
            PolicyKind::Reads,
            PolicyKind::Public,
            PolicyKind::Webhook,
        ] {
            let q = p.get(kind).quota;
            assert_eq!(q.window(), Duration::from_secs(60));
            assert!((5..=100).contains(&q.limit().get()), "{kind:?}");
        }
    }
}
