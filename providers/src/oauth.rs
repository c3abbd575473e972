//! OAuth 2.0 access tokens for the cloud backends (RFC 6749): Google's service-account JWT
//! grant (RFC 7523) and Azure's client credentials grant (RFC 6749 §4.4) both end in a token
//! endpoint that returns a short-lived bearer token (RFC 6750). This module fetches it, keeps it
//! until shortly before it expires, and puts it on each API request through the [`Signer`]
//! hook, so the token never sits in a static header, a log or an error (it is scrubbed like the
//! credential).
//!
//! Also here: RSA signatures from a PEM private key (PKCS#8 or PKCS#1), with aws-lc-rs, for
//! Google's RS256 JWT assertion.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use crate::credential::{Secret, TokenSource};
use crate::error::BackendError;
use crate::http::{Api, ApiError, AuthFailure, Call, Dialect, RetryPolicy, Signer};

/// A token is renewed this long before the endpoint said it expires.
const MARGIN: Duration = Duration::from_secs(120);

/// Puts the current access token on each request (`Authorization: Bearer …`).
#[derive(Default)]
pub(crate) struct Bearer {
    current: Mutex<Option<(Secret, Instant)>>,
}

impl Bearer {
    /// The token unless it expires within [`MARGIN`].
    fn fresh(&self) -> Option<Secret> {
        let current = self.current.lock().ok()?;
        let (token, until) = current.as_ref()?;
        (Instant::now() + MARGIN < *until).then(|| token.clone())
    }

    fn set(&self, token: Secret, lifetime: Duration) {
        if let Ok(mut current) = self.current.lock() {
            *current = Some((token, Instant::now() + lifetime));
        }
    }
}

impl Signer for Bearer {
    fn headers(
        &self,
        _method: &Method,
        _url: &str,
        _body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let current = self
            .current
            .lock()
            .map_err(|_| "token lock poisoned".to_string())?;
        let Some((token, _)) = current.as_ref() else {
            return Err("no access token yet".to_string());
        };
        let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "the access token cannot go into an HTTP header".to_string())?;
        Ok(vec![(reqwest::header::AUTHORIZATION, value)])
    }

    fn hidden(&self) -> Vec<Secret> {
        let current = self.current.lock();
        current
            .ok()
            .and_then(|c| c.as_ref().map(|(token, _)| token.clone()))
            .into_iter()
            .collect()
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `{"error": "invalid_grant", "error_description": "…"}` (RFC 6749 §5.2).
fn error_text(body: &serde_json::Value) -> Option<String> {
    let code = body.get("error")?.as_str()?;
    Some(
        match body.get("error_description").and_then(|d| d.as_str()) {
            Some(text) => format!("{text} ({code})"),
            None => code.to_string(),
        },
    )
}

/// RFC 6749 §5.2: a rejected client or grant is a bad credential.
fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    let code = body.get("error").and_then(|c| c.as_str()).unwrap_or("");
    match (status.as_u16(), code) {
        (400 | 401, "invalid_client" | "invalid_grant" | "unauthorized_client") => {
            Some(AuthFailure::BadToken)
        }
        (401, _) => Some(AuthFailure::BadToken),
        (403, _) => Some(AuthFailure::Forbidden),
        _ => None,
    }
}

/// A token endpoint and the token it last gave.
#[derive(Debug)]
pub(crate) struct TokenEndpoint {
    api: Api,
    bearer: Arc<Bearer>,
    /// One token request at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl TokenEndpoint {
    /// The endpoint at `url`; `hidden` are the credential's secrets, scrubbed from its errors.
    pub fn new(
        provider: &'static str,
        url: &str,
        source: &TokenSource,
        policy: RetryPolicy,
        hidden: Vec<Secret>,
    ) -> Result<Self, ApiError> {
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        let bearer = Arc::new(Bearer::default());
        let api = Api::unauthenticated(provider, url, source, policy, dialect)?
            .with_signer(Arc::new(NoSigner), hidden);
        Ok(Self {
            api,
            bearer,
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The signer that puts the token on API requests.
    pub fn signer(&self) -> Arc<Bearer> {
        Arc::clone(&self.bearer)
    }

    /// Makes sure a fresh token is held: posts `form()` (the grant, form-encoded) when not.
    pub async fn ensure(
        &self,
        form: impl FnOnce() -> Result<String, String>,
    ) -> Result<(), BackendError> {
        if self.bearer.fresh().is_some() {
            return Ok(());
        }
        let _one = self.fetching.lock().await;
        if self.bearer.fresh().is_some() {
            return Ok(());
        }
        let call = Call::new(Method::POST, "", "").unsigned();
        let body = form().map_err(|reason| self.api.bad_response(&call, reason))?;
        let call = call.raw("application/x-www-form-urlencoded", body.into_bytes());
        let reply: TokenReply = self.api.send_json(&call).await?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600).max(1));
        self.bearer.set(Secret::new(reply.access_token), lifetime);
        Ok(())
    }
}

/// Signs nothing: the token endpoint is authenticated by its form.
struct NoSigner;

impl Signer for NoSigner {
    fn headers(
        &self,
        _method: &Method,
        _url: &str,
        _body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        Ok(Vec::new())
    }
}

/// `application/x-www-form-urlencoded` from pairs (WHATWG URL §5.2).
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = reqwest::Url::parse("http://x/").expect("a constant URL");
    out.query_pairs_mut().extend_pairs(pairs);
    out.query().unwrap_or_default().to_string()
}

/// An RSA PKCS#1 v1.5 signature of `message` with the PEM private key `pem`.
pub(crate) fn rsa_sign(
    pem: &str,
    encoding: &'static dyn aws_lc_rs::signature::RsaEncoding,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "the private key is not a PEM RSA private key".to_string())?;
    let key = match &der {
        PrivateKeyDer::Pkcs8(der) => {
            aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        }
        PrivateKeyDer::Pkcs1(der) => {
            aws_lc_rs::signature::RsaKeyPair::from_der(der.secret_pkcs1_der())
        }
        _ => return Err("the private key is not an RSA key".to_string()),
    }
    .map_err(|_| "the private key is not a usable RSA key".to_string())?;
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        encoding,
        &aws_lc_rs::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| "signing with the private key failed".to_string())?;
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("grant_type", "a:b"), ("x", "1 2&3")]),
            "grant_type=a%3Ab&x=1+2%263"
        );
    }

    #[test]
    fn token_endpoint_errors() {
        let grant = serde_json::json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." });
        assert_eq!(
            auth_failure(StatusCode::BAD_REQUEST, &grant),
            Some(AuthFailure::BadToken)
        );
        assert_eq!(
            error_text(&grant).as_deref(),
            Some("Invalid JWT Signature. (invalid_grant)")
        );
        let scope = serde_json::json!({ "error": "invalid_scope" });
        assert_eq!(auth_failure(StatusCode::BAD_REQUEST, &scope), None);
    }

    #[test]
    fn a_garbled_key_is_named_without_its_content() {
        let err = rsa_sign(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            b"x",
        )
        .unwrap_err();
        assert!(err.contains("RSA"), "{err}");
    }
}
