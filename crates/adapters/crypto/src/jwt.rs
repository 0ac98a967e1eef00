use std::time::Duration;

use chrono_free::{from_unix, unix};
use devora_domain::{Role, SessionId, UserId};
use devora_ports::{AccessClaims, AccessTokens, TokenError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HMAC key, at least 32 bytes.
    pub secret: Vec<u8>,
    /// `iss`: this API's public URL.
    pub issuer: String,
    /// `aud`: who the token is for.
    pub audience: String,
    pub ttl: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// Access tokens: HS256 only (a token naming any other algorithm, `none`
/// included, is refused), with `iss`, `aud` and `exp` required and checked.
pub struct JwtTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    config: JwtConfig,
    /// Tokens verified before, by their exact text: a given string's signature,
    /// issuer and audience cannot change, so only its expiry is checked again.
    /// Every request presents its token, and verifying it (base64, JSON, HMAC)
    /// was a measurable share of a cached read (docs/benchmarks.md).
    verified: moka::sync::Cache<Box<str>, AccessClaims>,
}

/// Verified tokens remembered at most (about 4 MB).
const VERIFIED_TOKENS: u64 = 10_000;

impl JwtTokens {
    #[must_use]
    pub fn new(config: JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                .time_to_live(config.ttl + Duration::from_secs(LEEWAY_SECS))
                .build(),
            config,
        }
    }
}

/// Clock skew allowed on `exp`, as jsonwebtoken's validation allows it.
const LEEWAY_SECS: u64 = 5;

impl AccessTokens for JwtTokens {
    fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        role: Role,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(String, Duration), TokenError> {
        let iat = unix(now);
        let ttl = i64::try_from(self.config.ttl.as_secs()).unwrap_or(900);
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            role: role.as_str().to_owned(),
            iat,
            exp: iat + ttl,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| TokenError::Invalid)?;
        Ok((token, self.config.ttl))
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            // jsonwebtoken's rule: expired once `exp` is more than the leeway ago.
            let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
            return if unix(chrono::Utc::now()) - leeway > unix(claims.expires_at) {
                Err(TokenError::Expired)
            } else {
                Ok(claims)
            };
        }
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|err| match err.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let claims = data.claims;
        let verified = AccessClaims {
            user_id: UserId::parse(&claims.sub).ok_or(TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid)?,
            role: Role::parse(&claims.role).ok_or(TokenError::Invalid)?,
            expires_at: from_unix(claims.exp).ok_or(TokenError::Invalid)?,
        };
        self.verified.insert(token.into(), verified.clone());
        Ok(verified)
    }
}

mod chrono_free {
    use chrono::{DateTime, Utc};

    pub fn unix(t: DateTime<Utc>) -> i64 {
        t.timestamp()
    }

    pub fn from_unix(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(secs, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn tokens() -> JwtTokens {
        JwtTokens::new(JwtConfig {
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            issuer: "http://api.test".into(),
            audience: "devora-api".into(),
            ttl: Duration::from_secs(900),
        })
    }

    #[test]
    fn issued_tokens_verify() {
        let t = tokens();
        let (user, session) = (UserId::new(), SessionId::new());
        let (token, ttl) = t.issue(user, session, Role::Admin, chrono::Utc::now()).unwrap();
        assert_eq!(ttl, Duration::from_secs(900));
        let claims = t.verify(&token).unwrap();
        assert_eq!((claims.user_id, claims.session_id, claims.role), (user, session, Role::Admin));
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let t = JwtTokens::new(JwtConfig { ttl: Duration::from_secs(1), ..tokens().config });
        // Expired about 4 s ago (whole seconds): inside the 5 s leeway, for at most 2 s more.
        let issued = chrono::Utc::now() - chrono::Duration::seconds(5);
        let (token, _) = t.issue(UserId::new(), SessionId::new(), Role::User, issued).unwrap();
        assert!(t.verify(&token).is_ok());
        assert!(t.verify(&token).is_ok(), "from memory");
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(t.verify(&token), Err(TokenError::Expired), "memory does not outlive the token");
    }

    #[test]
    fn expired_tampered_and_unsigned_tokens_are_refused() {
        let t = tokens();
        let old = chrono::Utc::now() - chrono::Duration::hours(1);
        let (expired, _) = t.issue(UserId::new(), SessionId::new(), Role::User, old).unwrap();
        assert_eq!(t.verify(&expired), Err(TokenError::Expired));

        let (token, _) = t.issue(UserId::new(), SessionId::new(), Role::User, chrono::Utc::now()).unwrap();
        assert!(t.verify(&token).is_ok(), "verified, and remembered");
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = "admin".into();
        let tampered = format!("{}.{}.{}", parts[0], b64.encode(payload.to_string()), parts[2]);
        assert_eq!(t.verify(&tampered), Err(TokenError::Invalid));

        let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(t.verify(&format!("{none_header}.{}.", parts[1])), Err(TokenError::Invalid));
    }
}
