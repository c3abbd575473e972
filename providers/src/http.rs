//! HTTP plumbing shared by the REST backends: one client per backend, the token in one
//! sensitive header, bounded retries for rate limits and server errors, and HTTP statuses turned
//! into typed errors that name the provider, the API endpoint, the zone, the credential's source
//! and the record.
//!
//! # Retries
//!
//! daneroll runs from ACME hooks and timers: a provider's brief 502 or a rate limit must not fail
//! a rollover step, but a hook must not hang either (certbot waits for it). So a request that gets
//! **429**, a **5xx** other than 501/505, or no answer at all (connection refused or reset,
//! timeout) is tried again, at most [`RetryPolicy::delays`]`.len()` more times, waiting:
//!
//! | retry | wait without `Retry-After` | waited in total |
//! |---|---|---|
//! | 1 | 1 s | 1 s |
//! | 2 | 2 s | 3 s |
//! | 3 | 4 s | 7 s |
//! | 4 | 8 s | 15 s |
//! | 5 | 16 s | 31 s |
//!
//! A `Retry-After` header (delta-seconds or HTTP-date, RFC 9110 §10.2.3), or Hetzner's
//! `RateLimit-Reset` when `RateLimit-Remaining` is 0, replaces the table's wait for that retry: deSEC and Cloudflare say exactly when the next request is allowed, and asking
//! earlier only earns another 429. The waits of one request never add up to more than
//! [`RetryPolicy::budget`] (60 s): if the server asks for longer, daneroll gives up at once with
//! an error that says how long the provider asked to wait. Each attempt is bounded by
//! [`RetryPolicy::timeout`], so one request takes at most 6 × 30 s + 60 s.
//!
//! Writes are retried too. A retried write that the server had already applied is harmless:
//! whole-RRset writes (PowerDNS, deSEC, Gandi) are idempotent, and the per-record backends
//! re-read after a failed write and accept the change if it is there.
//!
//! # Errors
//!
//! 401 is a bad token, 403 a token without permission (or what the provider's error codes say,
//! e.g. Cloudflare's 9109 "Invalid access token"); other 4xx are left to the backend, which
//! knows whether a 404 means "no such zone" or "no such RRset (yet)". Messages from response
//! bodies are shortened and scrubbed of the token, in case an API ever echoes it.
//!
//! # Redirects and proxies
//!
//! Redirects are never followed: a 3xx answer is an error naming where the API pointed. A
//! followed redirect would resend the token headers (`X-API-Key`, OVH's signed headers) to a
//! host, or over plain HTTP, that `api_url` never named; set `api_url` to the final URL instead.
//! Proxies are used only when configured: the `HTTPS_PROXY`/`ALL_PROXY` variables of whatever
//! environment daneroll inherits (cron, an ACME client's hook) are ignored, and only
//! [`PROXY_ENV`] (`DANEROLL_PROXY`, e.g. `http://proxy.example:3128`) sends the API traffic
//! through a proxy.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::credential::{CredentialError, Secret, TokenSource};
use crate::error::Target;
use crate::record::Tlsa;
use crate::retry::{Next, is_retryable, retry_after};

pub use crate::api_error::ApiError;
pub use crate::retry::RetryPolicy;

/// The environment variable naming the proxy for the providers' API traffic (the only one read).
pub const PROXY_ENV: &str = "DANEROLL_PROXY";

/// Where a hosted provider's API is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The API's base URL (the provider's public endpoint unless overridden).
    pub api_url: String,
    pub token: TokenSource,
    /// The zone, if it should not be looked up in the account's zone list.
    pub zone: Option<String>,
    pub retry: RetryPolicy,
}

/// How the token is sent: a header and an optional scheme before the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Auth {
    /// The header's name; empty ([`Auth::IN_BODY`]) when the provider takes the credential in
    /// the request body (Porkbun, ClouDNS, Netcup) and the backend puts it there.
    pub header: &'static str,
    /// `Some("Bearer")` gives `Authorization: Bearer TOKEN`; `None` sends the token alone.
    pub scheme: Option<&'static str>,
}

impl Auth {
    /// No authentication header: the backend sends the credential in each request's body.
    pub const IN_BODY: Auth = Auth {
        header: "",
        scheme: None,
    };
}

/// One request: what to send and what it is about (for error messages).
pub(crate) struct Call<'a> {
    pub method: Method,
    /// Appended to the API base URL; path segments already percent-encoded.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// A session cookie (INWX), sent as a sensitive `Cookie` header.
    pub cookie: Option<Secret>,
    /// The zone, absolute; empty while it is being looked up.
    pub zone: &'a str,
    pub owner: Option<&'a str>,
    pub record: Option<&'a Tlsa>,
    /// Whether the backend's [`Signer`] signs this request (OVH's `/auth/time` is unsigned).
    pub signed: bool,
    /// A body that is not JSON (Route 53's XML, an OAuth2 form) with its content type.
    pub raw: Option<(&'static str, Vec<u8>)>,
    /// Further request headers (Azure's `If-Match`).
    pub headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>, zone: &'a str) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            cookie: None,
            zone,
            owner: None,
            record: None,
            signed: true,
            raw: None,
            headers: Vec::new(),
        }
    }

    /// Adds a request header (a conditional request's `If-Match`, RFC 9110 §13.1.1).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn get(path: impl Into<String>, zone: &'a str) -> Self {
        Self::new(Method::GET, path, zone)
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// A body of another type than JSON (`text/xml`, `application/x-www-form-urlencoded`).
    pub fn raw(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.raw = Some((content_type, body));
        self
    }

    /// Sends `pairs` as an HTML form body (RFC 1866 §8.2.1 encoding), e.g. credentials that must
    /// not go into the URL.
    pub fn form<'k>(self, pairs: impl IntoIterator<Item = (&'k str, String)>) -> Self {
        let mut encoder = reqwest::Url::parse("http://form.invalid/")
            // invariant: a constant, valid URL.
            .expect("constant URL");
        encoder.query_pairs_mut().extend_pairs(pairs);
        let encoded = encoder.query().unwrap_or_default().as_bytes().to_vec();
        self.raw("application/x-www-form-urlencoded", encoded)
    }

    /// Sends `cookie` (a session the provider handed out) with this request.
    pub fn cookie(mut self, cookie: Secret) -> Self {
        self.cookie = Some(cookie);
        self
    }

    pub fn unsigned(mut self) -> Self {
        self.signed = false;
        self
    }

    pub fn about(mut self, owner: &'a str, record: Option<&'a Tlsa>) -> Self {
        self.owner = Some(owner);
        self.record = record;
        self
    }
}

/// An HTTP answer the backend has to interpret (2xx, or a 4xx other than 401/403/429).
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// How a provider words its errors.
#[derive(Clone, Copy)]
pub(crate) struct Dialect {
    /// The human message in a JSON error body.
    pub error_text: fn(&serde_json::Value) -> Option<String>,
    /// Whether a 4xx answer (its status and JSON body) says the token was rejected or lacks
    /// permission; [`by_status`] for APIs that use 401 and 403 as HTTP means them.
    pub auth_failure: fn(StatusCode, &serde_json::Value) -> Option<AuthFailure>,
}

/// An authentication problem a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    BadToken,
    Forbidden,
}

/// 401 is a bad token, 403 a token without permission (RFC 9110 §15.5.2, §15.5.4).
pub(crate) fn by_status(status: StatusCode, _body: &serde_json::Value) -> Option<AuthFailure> {
    match status {
        StatusCode::UNAUTHORIZED => Some(AuthFailure::BadToken),
        StatusCode::FORBIDDEN => Some(AuthFailure::Forbidden),
        _ => None,
    }
}

/// Adds per-request authentication headers computed from the request itself (OVH signs the
/// method, the full URL, the body and the time).
pub(crate) trait Signer: Send + Sync {
    /// The headers for one attempt of `method url` with `body` (the exact bytes sent).
    fn headers(
        &self,
        method: &Method,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String>;

    /// Secrets the signer holds now (an access token it fetched), scrubbed from messages.
    fn hidden(&self) -> Vec<Secret> {
        Vec::new()
    }
}

/// What a provider that does not answer in JSON or throttles with another status needs
/// (Route 53: XML bodies, HTTP 400 `Throttling`).
#[derive(Clone, Copy)]
pub(crate) struct Quirks {
    /// A non-JSON body as the JSON that [`Dialect`]'s functions read.
    pub body_json: fn(&[u8]) -> Option<serde_json::Value>,
    /// Whether a 4xx answer (status and body as JSON) is a rate limit, retried like 429.
    pub throttled: fn(StatusCode, &serde_json::Value) -> bool,
}

/// A provider's API endpoint with its credential and retry policy.
pub(crate) struct Api {
    provider: &'static str,
    base: String,
    client: reqwest::Client,
    /// The static authentication header; `None` where a [`Signer`] adds it per request or
    /// the credential travels in the body ([`Auth::IN_BODY`]).
    auth: Option<(HeaderName, HeaderValue)>,
    credential: String,
    secret: Secret,
    /// Further secrets of the credential (OVH's application secret and consumer key), scrubbed
    /// from messages like `secret`.
    hidden: Vec<Secret>,
    signer: Option<std::sync::Arc<dyn Signer>>,
    policy: RetryPolicy,
    dialect: Dialect,
    quirks: Option<Quirks>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("credential", &self.credential)
            .field("secret", &self.secret)
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(
        provider: &'static str,
        base: &str,
        auth: Auth,
        source: &TokenSource,
        secret: Secret,
        policy: RetryPolicy,
        dialect: Dialect,
    ) -> Result<Self, ApiError> {
        let bad_chars = || ApiError::Credential {
            provider,
            source: CredentialError::BadCharacters {
                source_name: source.to_string(),
            },
        };
        let value = match auth.scheme {
            Some(scheme) => format!("{scheme} {}", secret.expose()),
            None => secret.expose().to_string(),
        };
        let header = if auth.header.is_empty() {
            None
        } else {
            let mut value = HeaderValue::from_str(&value).map_err(|_| bad_chars())?;
            value.set_sensitive(true);
            Some((HeaderName::from_static(auth.header), value))
        };
        let mut api = Self::unauthenticated(provider, base, source, policy, dialect)?;
        api.auth = header;
        api.secret = secret;
        Ok(api)
    }

    /// A client without a static token: a [`Signer`] authenticates each request (Route 53's
    /// SigV4, an OAuth2 access token), or the endpoint needs none (a token endpoint).
    pub fn unauthenticated(
        provider: &'static str,
        base: &str,
        source: &TokenSource,
        policy: RetryPolicy,
        dialect: Dialect,
    ) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("daneroll/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            // Never resend the credential elsewhere (module docs).
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(proxy) = std::env::var(PROXY_ENV)
            .ok()
            .filter(|p| !p.trim().is_empty())
        {
            builder = builder.proxy(reqwest::Proxy::all(proxy.trim()).map_err(|e| {
                ApiError::Unreachable {
                    provider,
                    at: Box::new(Target {
                        server: base.to_string(),
                        zone: String::new(),
                        key: source.to_string(),
                        action: String::new(),
                    }),
                    attempts: 0,
                    reason: format!("{PROXY_ENV} is not a usable proxy URL: {e}"),
                }
            })?);
        }
        let client = builder.build().map_err(|e| ApiError::Unreachable {
            provider,
            at: Box::new(Target {
                server: base.to_string(),
                zone: String::new(),
                key: source.to_string(),
                action: String::new(),
            }),
            attempts: 0,
            reason: format!("cannot set up the HTTP client: {e}"),
        })?;
        Ok(Self {
            provider,
            base: base.trim_end_matches('/').to_string(),
            client,
            auth: None,
            credential: source.to_string(),
            secret: Secret::new(""),
            hidden: Vec::new(),
            signer: None,
            policy,
            dialect,
            quirks: None,
        })
    }

    /// Reads non-JSON bodies and provider-specific throttling answers with `quirks`.
    pub fn with_quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = Some(quirks);
        self
    }

    /// The body as JSON, through the provider's quirks for non-JSON bodies.
    fn json_of(&self, body: &[u8]) -> Option<serde_json::Value> {
        serde_json::from_slice(body)
            .ok()
            .or_else(|| self.quirks.and_then(|q| (q.body_json)(body)))
    }

    /// Whether a 4xx answer is the provider's way of saying "too many requests".
    fn is_throttled(&self, reply: &Reply) -> bool {
        reply.status == StatusCode::TOO_MANY_REQUESTS
            || self.quirks.is_some_and(|q| {
                reply.status.is_client_error()
                    && (q.throttled)(
                        reply.status,
                        &self.json_of(&reply.body).unwrap_or(serde_json::Value::Null),
                    )
            })
    }

    /// The provider's error body as JSON (its XML read through the quirks), or `Null`.
    pub fn body_json(&self, reply: &Reply) -> serde_json::Value {
        self.json_of(&reply.body).unwrap_or(serde_json::Value::Null)
    }

    /// Signs every request with `signer`; `hidden` are the secrets it uses (never shown).
    pub fn with_signer(mut self, signer: std::sync::Arc<dyn Signer>, hidden: Vec<Secret>) -> Self {
        self.signer = Some(signer);
        self.hidden = hidden;
        self
    }

    /// Scrubs `hidden` (the parts of a composite credential) from messages like the token.
    pub fn with_hidden(mut self, hidden: Vec<Secret>) -> Self {
        self.hidden.extend(hidden);
        self
    }

    /// Reads the token `config` names and prepares the client.
    pub fn from_config(
        provider: &'static str,
        config: &ApiConfig,
        auth: Auth,
        dialect: Dialect,
    ) -> Result<Self, ApiError> {
        let secret = config
            .token
            .load()
            .map_err(|source| ApiError::Credential { provider, source })?;
        let retry = config.retry.clone();
        Self::new(
            provider,
            &config.api_url,
            auth,
            &config.token,
            secret,
            retry,
            dialect,
        )
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Where a request about `zone` goes, for errors.
    pub fn target(&self, zone: &str) -> Target {
        Target {
            server: self.base.clone(),
            zone: if zone.is_empty() {
                "(not yet known)".to_string()
            } else {
                zone.to_string()
            },
            key: self.credential.clone(),
            action: String::new(),
        }
    }

    fn at(&self, zone: &str) -> Box<Target> {
        Box::new(self.target(zone))
    }

    /// Sends `call`, retrying as the module docs describe. Returns 2xx and 4xx answers other
    /// than 401/403 for the backend to interpret.
    pub async fn send(&self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let mut waited = Duration::ZERO;
        let mut retries = 0;
        loop {
            let attempt = self.attempt(call).await;
            let (retry_after, failure) = match attempt {
                Ok(reply) if reply.status.is_client_error() && !self.is_throttled(&reply) => {
                    return self.check_auth(call, reply);
                }
                Ok(reply) if reply.status.is_redirection() => {
                    return Err(self.redirected(call, &reply));
                }
                Ok(reply) if is_retryable(reply.status) || self.is_throttled(&reply) => {
                    (retry_after(&reply.headers, SystemTime::now()), Ok(reply))
                }
                Ok(reply) => return Ok(reply),
                Err(reason) => (None, Err(reason)),
            };
            match self.policy.next(retries, waited, retry_after) {
                Next::Retry(wait) => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                    retries += 1;
                }
                Next::GiveUp => {
                    let attempts = retries as u32 + 1;
                    return Err(self.gave_up(call, attempts, retry_after, failure));
                }
            }
        }
    }

    /// The answer unless it is an authentication failure.
    fn check_auth(&self, call: &Call<'_>, reply: Reply) -> Result<Reply, ApiError> {
        let json = self.body_json(&reply);
        let (provider, at) = (self.provider, self.at(call.zone));
        match (self.dialect.auth_failure)(reply.status, &json) {
            None => Ok(reply),
            Some(AuthFailure::BadToken) => Err(ApiError::BadToken {
                provider,
                at,
                status: reply.status.as_u16(),
                message: self.message(&reply),
            }),
            Some(AuthFailure::Forbidden) => Err(ApiError::Forbidden {
                provider,
                at,
                status: reply.status.as_u16(),
                message: self.message(&reply),
            }),
        }
    }

    /// [`Self::send`], then a 2xx body decoded as `T`; other statuses through [`Self::fail`].
    pub async fn send_json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, ApiError> {
        let reply = self.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.fail(call, &reply));
        }
        self.decode(call, &reply)
    }

    /// A 2xx answer's body as `T`.
    pub fn decode<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        reply: &Reply,
    ) -> Result<T, ApiError> {
        serde_json::from_slice(&reply.body).map_err(|e| self.bad_response(call, e.to_string()))
    }

    /// The generic error for an answer the backend did not expect: 400/422 about a record is
    /// the record rejected, anything else is the request refused.
    /// Sends `call` and accepts any 2xx; anything else is the provider's rejection.
    pub async fn send_expecting_success(&self, call: &Call<'_>) -> Result<Reply, ApiError> {
        let reply = self.send(call).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(self.fail(call, &reply))
        }
    }

    /// Sends the deletion of one record by its id: 2xx, or 404 (someone deleted it first: it
    /// is gone, which is what was wanted).
    pub async fn send_delete(&self, call: &Call<'_>) -> Result<(), ApiError> {
        let reply = self.send(call).await?;
        match reply.status.as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(self.fail(call, &reply)),
        }
    }

    pub fn fail(&self, call: &Call<'_>, reply: &Reply) -> ApiError {
        let status = reply.status.as_u16();
        let about_record = matches!(status, 400 | 409 | 422);
        self.rejection(call, status, self.message(reply), about_record)
    }

    /// The record rejected when the call was about one record and `about_record`, else the
    /// request refused.
    fn rejection(
        &self,
        call: &Call<'_>,
        status: u16,
        message: String,
        about_record: bool,
    ) -> ApiError {
        match (call.owner, call.record) {
            (Some(owner), Some(record)) if about_record => ApiError::RecordRejected {
                provider: self.provider,
                at: self.at(call.zone),
                owner: owner.to_string(),
                record: record.to_string(),
                status,
                message,
            },
            _ => ApiError::Rejected {
                provider: self.provider,
                at: self.at(call.zone),
                method: call.method.to_string(),
                path: call.path.clone(),
                status,
                message,
            },
        }
    }

    /// A 3xx answer: not followed (module docs); names where it pointed, without path or query.
    fn redirected(&self, call: &Call<'_>, reply: &Reply) -> ApiError {
        let to = reply
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| reqwest::Url::parse(&self.base).ok()?.join(location).ok())
            .map(|url| format!("{}://{}", url.scheme(), url.authority()))
            .unwrap_or_else(|| "an unnamed location".into());
        self.bad_response(
            call,
            format!(
                "HTTP {} redirect to {to}: daneroll follows no redirects (it would send the \
                 credential there); set api_url to the API's final URL",
                reply.status.as_u16()
            ),
        )
    }

    pub fn bad_response(&self, call: &Call<'_>, reason: impl Into<String>) -> ApiError {
        ApiError::BadResponse {
            provider: self.provider,
            at: self.at(call.zone),
            method: call.method.to_string(),
            path: call.path.clone(),
            reason: self.scrub(&reason.into()),
        }
    }

    /// The error for a rejected or insufficient credential that the provider reports in the
    /// body of a success status (Technitium's `"status": "invalid-token"`).
    pub fn auth_error(&self, call: &Call<'_>, failure: AuthFailure, message: &str) -> ApiError {
        let (provider, at) = (self.provider, self.at(call.zone));
        let message = shorten(&self.scrub(message), 300);
        match failure {
            AuthFailure::BadToken => ApiError::BadToken {
                provider,
                at,
                status: 200,
                message,
            },
            AuthFailure::Forbidden => ApiError::Forbidden {
                provider,
                at,
                status: 200,
                message,
            },
        }
    }

    /// [`Self::fail`] for a refusal the provider words in the body of any status (Technitium
    /// answers HTTP 200 with `"status": "error"`): a write about a record is the record rejected.
    pub fn refused(&self, call: &Call<'_>, status: u16, message: &str) -> ApiError {
        let message = shorten(&self.scrub(message), 300);
        self.rejection(call, status, message, call.method != Method::GET)
    }

    /// The error for "no zone holds `owner`".
    pub fn zone_not_found(&self, owner: &str, detail: String) -> ApiError {
        ApiError::ZoneNotFound {
            provider: self.provider,
            server: self.base.clone(),
            key: self.credential.clone(),
            owner: owner.to_string(),
            detail: self.scrub(&detail),
        }
    }

    pub fn change_failed(&self, zone: &str, owner: &str, reason: impl Into<String>) -> ApiError {
        ApiError::ChangeFailed {
            provider: self.provider,
            at: self.at(zone),
            owner: owner.to_string(),
            reason: self.scrub(&reason.into()),
        }
    }

    /// The provider's error message from a body, shortened and without the token.
    pub fn message(&self, reply: &Reply) -> String {
        let text = self
            .json_of(&reply.body)
            .and_then(|json| (self.dialect.error_text)(&json))
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).trim().to_string());
        let text = if text.is_empty() {
            reply
                .status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            text
        };
        shorten(&self.scrub(&text), 300)
    }

    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        let current = self.signer.as_ref().map(|s| s.hidden()).unwrap_or_default();
        for secret in std::iter::once(&self.secret)
            .chain(&self.hidden)
            .chain(&current)
        {
            if !secret.expose().is_empty() {
                text = text.replace(secret.expose(), "<redacted>");
            }
        }
        text
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Reply, String> {
        let url = format!("{}{}", self.base, call.path);
        let mut request = self
            .client
            .request(call.method.clone(), &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(cookie) = &call.cookie {
            let mut value = HeaderValue::from_str(cookie.expose())
                .map_err(|_| "the session cookie cannot go into a header".to_string())?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::COOKIE, value);
        }
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        // The exact bytes sent: a signature covers them.
        let (content_type, body) = match (&call.body, &call.raw) {
            (Some(json), _) => (Some("application/json"), json.to_string().into_bytes()),
            (None, Some((kind, raw))) => (Some(*kind), raw.clone()),
            (None, None) => (None, Vec::new()),
        };
        if let Some(kind) = content_type {
            request = request
                .header(reqwest::header::CONTENT_TYPE, kind)
                .body(body.clone());
        }
        let mut request = request.build().map_err(|e| self.describe(&e))?;
        if let Some(signer) = self.signer.as_ref().filter(|_| call.signed) {
            let headers = signer
                .headers(request.method(), request.url().as_str(), &body)
                .map_err(|e| self.scrub(&e))?;
            for (name, mut value) in headers {
                value.set_sensitive(true);
                request.headers_mut().insert(name, value);
            }
        }
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| self.describe(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.describe(&e))?;
        Ok(Reply {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// A transport error with its causes ("connection refused"), scrubbed.
    fn describe(&self, error: &reqwest::Error) -> String {
        let mut text = if error.is_timeout() {
            format!("no answer within {:?}", self.policy.timeout)
        } else if error.is_connect() {
            "cannot connect".to_string()
        } else {
            "request failed".to_string()
        };
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.scrub(&text)
    }

    fn gave_up(
        &self,
        call: &Call<'_>,
        attempts: u32,
        retry_after: Option<Duration>,
        failure: Result<Reply, String>,
    ) -> ApiError {
        let at = self.at(call.zone);
        match failure {
            Ok(reply) if self.is_throttled(&reply) => ApiError::RateLimited {
                provider: self.provider,
                at,
                attempts,
                status: reply.status.as_u16(),
                retry_after,
            },
            Ok(reply) => ApiError::ServerError {
                provider: self.provider,
                at,
                method: call.method.to_string(),
                path: call.path.clone(),
                status: reply.status.as_u16(),
                attempts,
                message: self.message(&reply),
            },
            Err(reason) => ApiError::Unreachable {
                provider: self.provider,
                at,
                attempts,
                reason,
            },
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Percent-encodes one URL path segment (RFC 3986 §3.3: unreserved characters stay).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("_25._tcp.mail"), "_25._tcp.mail");
        assert_eq!(segment("@"), "@");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn messages_are_shortened_to_one_line() {
        assert_eq!(shorten("a\n  b", 10), "a b");
        assert_eq!(shorten(&"x".repeat(20), 5), "xxxxx…");
    }
}
