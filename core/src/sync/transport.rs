//! HTTP transport: one reqwest client over rustls, the protocol headers on every request,
//! bearer tokens with one refresh on 401, a stall watchdog, and the classification of every
//! outcome into success, transient failure or typed error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::options::{AccessTokenProvider, SyncOptions};
use super::retry::Failure;
use super::tls;
use super::wire;
use crate::error::{Error, Result};

/// Counters shared by every request of a run.
#[derive(Debug, Default)]
pub struct Stats {
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub round_trips: AtomicU64,
    pub retries: AtomicU64,
}

/// Marks "something moved" for the stall watchdog: a request with no progress for the
/// configured timeout is cut and retried.
#[derive(Debug, Clone)]
pub struct Activity(Arc<Mutex<Instant>>);

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

impl Activity {
    pub fn new() -> Activity {
        Activity(Arc::new(Mutex::new(Instant::now())))
    }
    pub fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
    fn idle(&self) -> Duration {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }
}

/// What a request sends.
pub enum Payload {
    None,
    Json(Vec<u8>),
    /// A streamed body of known length (photo bytes), built per attempt.
    Stream {
        body: reqwest::Body,
        len: u64,
        content_type: &'static str,
        activity: Activity,
        /// Further headers (the photo upload's `Upload-Offset` / `Upload-Length`).
        headers: Vec<(&'static str, String)>,
    },
    /// A streamed body already sent once, which cannot be sent again (the call after a
    /// token refresh): the call ends as a transient failure, so the caller's retry loop
    /// builds the request anew (a photo upload asks the server where to resume).
    Spent,
}

/// A successful answer.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Longest stall of one request in a run started by a button press: the worker is looking
/// at the screen (`SyncOptions::request_timeout` when that is shorter).
pub const INTERACTIVE_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Transport {
    client: reqwest::Client,
    base: String,
    worker_id: String,
    device_id: String,
    tokens: Arc<dyn AccessTokenProvider>,
    token: Mutex<Option<String>>,
    request_timeout: Duration,
    /// A run started by a button press (`SyncEngine::sync_now`): stalls are cut sooner.
    interactive: std::sync::atomic::AtomicBool,
    pub stats: Arc<Stats>,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().to_string();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// Extracts a short reason from an error body without trusting its shape.
fn error_reason(status: StatusCode, body: &[u8]) -> (String, String) {
    if let Ok(e) = serde_json::from_slice::<wire::ErrorBody>(body) {
        return (e.error.code, e.error.message);
    }
    (
        status.as_u16().to_string(),
        status.canonical_reason().unwrap_or("error").to_string(),
    )
}

impl Transport {
    pub fn new(
        server_url: &str,
        worker_id: &str,
        device_id: &str,
        options: &SyncOptions,
        tokens: Arc<dyn AccessTokenProvider>,
    ) -> Result<Transport> {
        let base = server_url.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            // Host names are mapped ASCII-only (idna_adapter 1.0, workspace Cargo.toml): say
            // how to write a Unicode name instead of url's bare "invalid international domain".
            let reason = if base.is_ascii() {
                e.to_string()
            } else {
                format!("{e}: write a Unicode host name in its ASCII (xn--) form")
            };
            Error::invalid("config.server_url", reason)
        })?;
        match url.scheme() {
            "https" => {}
            "http" if options.allow_http => {}
            "http" => {
                return Err(Error::invalid(
                    "config.server_url",
                    "plain http is only allowed when SyncOptions::allow_http is set",
                ));
            }
            other => {
                return Err(Error::invalid(
                    "config.server_url",
                    format!("unsupported scheme {other}"),
                ));
            }
        }
        let tls = tls::client_config(&options.extra_root_certs_pem, &options.pinned_sha256)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(!options.allow_http)
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("gridworker-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::invalid("sync options", e.to_string()))?;
        Ok(Transport {
            client,
            base,
            worker_id: worker_id.to_string(),
            device_id: device_id.to_string(),
            tokens,
            token: Mutex::new(None),
            request_timeout: options.request_timeout,
            interactive: std::sync::atomic::AtomicBool::new(false),
            stats: Arc::new(Stats::default()),
        })
    }

    /// Whether the run in progress was started by a button press.
    pub fn set_interactive(&self, on: bool) {
        self.interactive
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_interactive(&self) -> bool {
        self.interactive.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the cached token: the next request asks the provider again (a re-login).
    pub fn invalidate_token(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn token(&self, force_refresh: bool) -> std::result::Result<String, Failure> {
        if !force_refresh
            && let Some(t) = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
        {
            return Ok(t);
        }
        // The provider may block (a platform callback, a refresh request): keep it off the
        // async workers.
        let tokens = self.tokens.clone();
        let t = tokio::task::spawn_blocking(move || tokens.access_token(force_refresh))
            .await
            .map_err(|e| {
                Failure::Fatal(Error::Authentication {
                    reason: format!("token provider failed: {e}"),
                })
            })?
            .map_err(Failure::Fatal)?;
        // A token read from a file or a login answer may end in a newline: not a header
        // value, and not the app's argument to fix but its provider's answer.
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err() {
            return Err(Failure::Fatal(Error::Authentication {
                reason: "the token provider returned an unusable token (characters a header \
                         cannot carry, such as a line break)"
                    .into(),
            }));
        }
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.clone());
        Ok(t)
    }

    /// One HTTP exchange (plus at most one token refresh), classified. `payload` is called
    /// once per attempt so a streamed body can be rebuilt.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        mut payload: impl FnMut() -> Payload,
    ) -> std::result::Result<Reply, Failure> {
        let mut refreshed = false;
        loop {
            let token = self.token(refreshed).await?;
            let mut req = self
                .client
                .request(method.clone(), format!("{}{}", self.base, path))
                .header(wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION)
                .header(wire::HEADER_DEVICE, &self.device_id)
                .header(wire::HEADER_WORKER, &self.worker_id)
                .header(AUTHORIZATION, format!("Bearer {token}"));
            let (sent, activity) = match payload() {
                Payload::Spent => {
                    return Err(Failure::transient(
                        "the request body was sent before the token was refreshed; sending it anew",
                    ));
                }
                Payload::None => (0, Activity::new()),
                Payload::Json(bytes) => {
                    let n = bytes.len() as u64;
                    req = req.header(CONTENT_TYPE, "application/json").body(bytes);
                    (n, Activity::new())
                }
                Payload::Stream {
                    body,
                    len,
                    content_type,
                    activity,
                    headers,
                } => {
                    for (name, value) in headers {
                        req = req.header(name, value);
                    }
                    req = req
                        .header(CONTENT_TYPE, content_type)
                        .header(reqwest::header::CONTENT_LENGTH, len)
                        .body(body);
                    activity.touch();
                    (len, activity)
                }
            };
            match self.exchange(req, sent, activity, reply_cap(path)).await {
                // The token may have expired: ask the platform for a fresh one, once.
                Err(Failure::Fatal(Error::Authentication { .. })) if !refreshed => {
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// Sends, reads the whole answer while the watchdog checks for stalls, and classifies.
    /// The answer is refused as soon as it announces or delivers more than `cap` bytes, so a
    /// hostile or broken server cannot make the phone buffer without bound.
    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        sent: u64,
        activity: Activity,
        cap: usize,
    ) -> std::result::Result<Reply, Failure> {
        let timeout = if self.interactive.load(std::sync::atomic::Ordering::Relaxed) {
            self.request_timeout.min(INTERACTIVE_REQUEST_TIMEOUT)
        } else {
            self.request_timeout
        };
        let too_large = || {
            Failure::Fatal(Error::Protocol {
                reason: format!("reply larger than the {cap} bytes allowed for this endpoint"),
            })
        };
        let work = async {
            let resp = req.send().await.map_err(|e| classify_reqwest(&e))?;
            activity.touch();
            let status = resp.status();
            let headers = resp.headers().clone();
            if resp
                .content_length()
                .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
            {
                return Err(too_large());
            }
            let mut resp = resp;
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        activity.touch();
                        if body.len().saturating_add(c.len()) > cap {
                            return Err(too_large());
                        }
                        body.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Err(Failure::transient(format!(
                            "connection failed while reading the reply: {e}"
                        )));
                    }
                }
            }
            Ok::<_, Failure>((status, headers, body))
        };
        let watchdog = async {
            loop {
                let idle = activity.idle();
                if idle >= timeout {
                    return;
                }
                tokio::time::sleep(timeout - idle).await;
            }
        };
        let (status, headers, body) = tokio::select! {
            r = work => r?,
            _ = watchdog => {
                return Err(Failure::transient(format!("no progress for {timeout:?}")));
            }
        };
        self.stats.round_trips.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_up.fetch_add(sent, Ordering::Relaxed);
        self.stats
            .bytes_down
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        classify_status(status, headers, body)
    }

    /// Sends JSON and decodes a JSON answer; a reply that does not decode is a (retried)
    /// protocol failure and nothing is acted upon.
    pub async fn json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Req>,
    ) -> std::result::Result<Resp, Failure> {
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                Failure::Fatal(Error::Protocol {
                    reason: format!("cannot encode request: {e}"),
                })
            })?),
            None => None,
        };
        let reply = self
            .call(method, path, || match &bytes {
                Some(b) => Payload::Json(b.clone()),
                None => Payload::None,
            })
            .await?;
        decode(&reply.body)
    }
}

/// Largest reply accepted from each endpoint (bytes), error bodies included. Documented in
/// `docs/protocol.md` ("Response caps").
pub mod caps {
    /// `GET /v1/handshake`: time, worker, grid codes and policy.
    pub const HANDSHAKE: usize = 1024 * 1024;
    /// `POST /v1/push`: one short result per mutation of the batch.
    pub const PUSH: usize = 4 * 1024 * 1024;
    /// `GET /v1/changes`: one page of at most the asked-for number of changes.
    pub const PULL_PAGE: usize = 32 * 1024 * 1024;
    /// `/v1/photos/{sha256}`: the upload state.
    pub const PHOTO_STATUS: usize = 64 * 1024;
    /// Anything else.
    pub const OTHER: usize = 1024 * 1024;
}

/// The cap of the endpoint `path` names.
pub fn reply_cap(path: &str) -> usize {
    let route = path.split('?').next().unwrap_or(path);
    if route == wire::PATH_HANDSHAKE {
        caps::HANDSHAKE
    } else if route == wire::PATH_PUSH {
        caps::PUSH
    } else if route == wire::PATH_CHANGES {
        caps::PULL_PAGE
    } else if route.starts_with("/v1/photos/") {
        caps::PHOTO_STATUS
    } else {
        caps::OTHER
    }
}

/// Decodes a 2xx JSON body. What is not JSON at all (a captive portal's HTML login page) or
/// stops mid-way (a connection cut that still ended the body) is a network failure: retried,
/// and if it persists the run ends as [`Error::Network`] — work stays queued. JSON of the
/// wrong shape is a server speaking another protocol: [`Error::Protocol`] once retries run out.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            // serde's message may quote values from the body: name only where it broke.
            Failure::malformed(format!(
                "reply from the server does not have the expected shape (line {}, column {})",
                e.line(),
                e.column()
            ))
        }
        serde_json::error::Category::Eof => {
            Failure::transient("the reply from the server was cut short")
        }
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            Failure::transient("the reply is not JSON (a captive portal or a broken proxy?)")
        }
    })
}

fn classify_reqwest(e: &reqwest::Error) -> Failure {
    // TLS and pin failures come back as connect errors too; they are worth a retry only in
    // the sense that a captive portal may go away, and the bound on attempts ends it.
    if e.is_builder() {
        return Failure::Fatal(Error::invalid("request", e.to_string()));
    }
    let mut reason = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    Failure::transient(reason)
}

fn classify_status(
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
) -> std::result::Result<Reply, Failure> {
    if status.is_success() {
        return Ok(Reply {
            status,
            headers,
            body,
        });
    }
    let (code, message) = error_reason(status, &body);
    match status.as_u16() {
        401 => Err(Failure::Fatal(Error::Authentication {
            reason: format!("{code}: {message}"),
        })),
        426 => {
            let required = headers
                .get(wire::HEADER_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or(message);
            Err(Failure::Fatal(Error::ClientTooOld { required }))
        }
        408 | 425 | 429 | 500..=599 => Err(Failure::Transient {
            reason: format!("server answered {status}: {code}"),
            retry_after: retry_after(&headers),
            protocol: false,
        }),
        s => Err(Failure::Fatal(Error::Server {
            status: s,
            reason: format!("{code}: {message}"),
        })),
    }
}
