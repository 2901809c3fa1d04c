//! A fault-injecting HTTP/1.1 proxy for reliability tests and benchmarks.
//!
//! It listens on `127.0.0.1:0`, forwards to one upstream address and, **per request** (so
//! keep-alive connections do not hide faults), applies either the next queued one-shot fault
//! ([`FaultProxy::push_fault`]) or the plan's standing fault ([`Plan::fault`]). It can cut a
//! request or a response after N bytes, delay, throttle both directions to a bandwidth with a
//! latency per exchange, answer 500/503/429 itself, answer garbage or truncated JSON, or
//! stall. It counts bytes each way, connections and requests.
//!
//! It runs on a thread and runtime of its own, so blocking tests can use it as easily as
//! async ones; dropping it ends every connection.
//!
//! ```no_run
//! use gridworker_testkit::fault_proxy::{Fault, FaultProxy, Plan};
//! # fn main() -> std::io::Result<()> {
//! let upstream: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
//! let proxy = FaultProxy::start(upstream)?;
//! proxy.push_fault(Fault::CutResponseAfter(10)); // the next request loses its reply
//! proxy.set_plan(Plan::throttled(125_000, std::time::Duration::from_millis(150)));
//! let url = proxy.url(); // point the client here
//! # let _ = url; Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward normally.
    Pass,
    /// Forward the first N bytes of the request (head included), then close both sides:
    /// the server sees a partial request.
    CutRequestAfter(u64),
    /// Forward the whole request and the first N bytes of the response (head included), then
    /// close: the server has done the work, the client never learns the outcome.
    CutResponseAfter(u64),
    /// Wait this long, then forward normally.
    Delay(Duration),
    /// Answer this status without forwarding (an error body in the protocol's shape), with
    /// `Retry-After` when given.
    Status { code: u16, retry_after: Option<u64> },
    /// Answer this status with the protocol's error body carrying `error` as its code and,
    /// for `offset_mismatch`, `offset` (a race the real server rarely shows on demand).
    Error {
        code: u16,
        error: &'static str,
        offset: Option<u64>,
    },
    /// Answer `200 OK` with an HTML page (a captive portal) without forwarding.
    Garbage,
    /// Forward the request, then answer `200 OK` with only the first half of the server's
    /// JSON body (a complete HTTP message whose JSON is cut).
    TruncatedJson,
    /// Read the request and never answer; the connection stays open until the client gives
    /// up or the proxy stops.
    Stall,
}

/// The standing configuration: applied to every request that has no queued fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub fault: Fault,
    /// Bandwidth of each direction in bytes/s, shared by all connections (one link), or
    /// unlimited.
    pub bytes_per_sec: Option<u64>,
    /// Added once per request/response exchange (one round trip on the modelled link).
    pub latency: Duration,
}

impl Default for Plan {
    fn default() -> Self {
        Plan::pass()
    }
}

impl Plan {
    /// Forward everything at full speed.
    pub fn pass() -> Plan {
        Plan {
            fault: Fault::Pass,
            bytes_per_sec: None,
            latency: Duration::ZERO,
        }
    }

    /// A slow link: `bytes_per_sec` each way and `latency` per round trip.
    pub fn throttled(bytes_per_sec: u64, latency: Duration) -> Plan {
        Plan {
            fault: Fault::Pass,
            bytes_per_sec: Some(bytes_per_sec.max(1)),
            latency,
        }
    }

    /// Every request gets `fault` (e.g. a server that is down: `Status { code: 503, .. }`).
    pub fn always(fault: Fault) -> Plan {
        Plan {
            fault,
            ..Plan::pass()
        }
    }
}

/// Counters since start (or the last [`FaultProxy::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Bytes received from clients.
    pub bytes_up: u64,
    /// Bytes sent to clients.
    pub bytes_down: u64,
    pub connections: u64,
    pub requests: u64,
    /// Requests that got a fault other than [`Fault::Pass`].
    pub faults: u64,
}

#[derive(Default)]
struct Counters {
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    connections: AtomicU64,
    requests: AtomicU64,
    faults: AtomicU64,
}

/// One direction of the throttled link: the instant it is free again.
#[derive(Default)]
struct Link {
    free_at: Mutex<Option<Instant>>,
}

impl Link {
    /// Waits as long as sending `n` bytes at `bps` takes, queued behind earlier sends.
    async fn pace(&self, n: usize, bps: Option<u64>) {
        let Some(bps) = bps else { return };
        let cost = Duration::from_secs_f64(n as f64 / bps.max(1) as f64);
        let done = {
            let mut free = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let start = free.filter(|f| *f > now).unwrap_or(now);
            let done = start + cost;
            *free = Some(done);
            done
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(done)).await;
    }
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<Plan>,
    queue: Mutex<VecDeque<Fault>>,
    counters: Counters,
    up: Link,
    down: Link,
}

impl Shared {
    fn next_fault(&self) -> (Fault, Option<u64>, Duration) {
        let plan = self.plan.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let queued = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        (
            queued.unwrap_or(plan.fault),
            plan.bytes_per_sec,
            plan.latency,
        )
    }
}

/// The proxy. Dropping it stops it and closes every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port, forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(Plan::pass()),
            queue: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
            up: Link::default(),
            down: Link::default(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("fault proxy cannot listen: {e}");
                            return;
                        }
                    };
                    let accept = async {
                        loop {
                            let Ok((client, _)) = listener.accept().await else {
                                continue;
                            };
                            let _ = client.set_nodelay(true);
                            sh.counters.connections.fetch_add(1, Ordering::Relaxed);
                            let sh = sh.clone();
                            tokio::spawn(async move {
                                let _ = serve_connection(sh, client).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(FaultProxy {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the standing plan (takes effect for the next request).
    pub fn set_plan(&self, plan: Plan) {
        *self.shared.plan.lock().unwrap_or_else(|p| p.into_inner()) = plan;
    }

    /// Queues a one-shot fault for the next request (queued faults are used in order, one
    /// per request, before the plan's).
    pub fn push_fault(&self, fault: Fault) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(fault);
    }

    /// Drops queued faults not yet used.
    pub fn clear_faults(&self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Queued faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            bytes_up: c.bytes_up.load(Ordering::Relaxed),
            bytes_down: c.bytes_down.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        let c = &self.shared.counters;
        for a in [
            &c.bytes_up,
            &c.bytes_down,
            &c.connections,
            &c.requests,
            &c.faults,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const MAX_HEAD: usize = 64 * 1024;
const CHUNK: usize = 16 * 1024;

/// A socket with a read-ahead buffer, enough to frame HTTP/1.1 messages.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy)]
enum BodyLen {
    None,
    Fixed(u64),
    Chunked,
    UntilClose,
}

struct Head {
    raw: Vec<u8>,
    method: String,
    status: u16,
    len: BodyLen,
    close: bool,
}

impl Peer {
    fn new(stream: TcpStream) -> Peer {
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut tmp = [0u8; CHUNK];
        let n = self.stream.read(&mut tmp).await?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n > 0)
    }

    /// Reads one message head; `None` when the peer closed cleanly before sending one.
    async fn head(&mut self, is_request: bool, req_method: &str) -> std::io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(raw, is_request, req_method).map(Some);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(std::io::Error::other("message head too large"));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Takes the next piece of the body (at most `max` bytes) from buffer or socket.
    async fn take(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        if self.buf.is_empty() && !self.fill().await? {
            return Ok(Vec::new());
        }
        let n = self.buf.len().min(max);
        Ok(self.buf.drain(..n).collect())
    }

    /// Takes exactly one line (with its CRLF).
    async fn line(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                return Ok(self.buf.drain(..end + 2).collect());
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads a whole body in its wire form (chunk framing kept), calling `sink` with each
    /// piece; stops early when `sink` returns false.
    async fn body<F>(&mut self, len: BodyLen, mut sink: F) -> std::io::Result<bool>
    where
        F: AsyncSink,
    {
        match len {
            BodyLen::None => Ok(true),
            BodyLen::Fixed(mut left) => {
                while left > 0 {
                    let piece = self.take(CHUNK.min(left as usize)).await?;
                    if piece.is_empty() {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= piece.len() as u64;
                    if !sink.put(piece).await? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            BodyLen::UntilClose => loop {
                let piece = self.take(CHUNK).await?;
                if piece.is_empty() {
                    return Ok(true);
                }
                if !sink.put(piece).await? {
                    return Ok(false);
                }
            },
            BodyLen::Chunked => loop {
                let size_line = self.line().await?;
                let text = String::from_utf8_lossy(&size_line);
                let hex = text
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let size = u64::from_str_radix(&hex, 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if !sink.put(size_line).await? {
                    return Ok(false);
                }
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        let l = self.line().await?;
                        let last = l == b"\r\n";
                        if !sink.put(l).await? {
                            return Ok(false);
                        }
                        if last {
                            return Ok(true);
                        }
                    }
                }
                let mut left = size + 2; // data and its CRLF
                while left > 0 {
                    let piece = self.take(CHUNK.min(left as usize)).await?;
                    if piece.is_empty() {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    left -= piece.len() as u64;
                    if !sink.put(piece).await? {
                        return Ok(false);
                    }
                }
            },
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: Vec<u8>, is_request: bool, req_method: &str) -> std::io::Result<Head> {
    let text = String::from_utf8_lossy(&raw).to_string();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let (method, status) = if is_request {
        (parts.next().unwrap_or("").to_string(), 0)
    } else {
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        (String::new(), status)
    };
    let mut content_length = None;
    let mut chunked = false;
    let mut close = false;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => content_length = value.parse::<u64>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let len = if !is_request
        && (req_method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&status)
            || status == 204
            || status == 304)
    {
        BodyLen::None
    } else if chunked {
        BodyLen::Chunked
    } else if let Some(n) = content_length {
        BodyLen::Fixed(n)
    } else if is_request {
        BodyLen::None
    } else {
        BodyLen::UntilClose
    };
    Ok(Head {
        raw,
        method,
        status,
        len,
        close,
    })
}

/// Where body pieces go.
trait AsyncSink {
    /// Takes a piece; false to stop reading.
    fn put(&mut self, piece: Vec<u8>) -> impl std::future::Future<Output = std::io::Result<bool>>;
}

/// Collects (a response the proxy will cut).
struct Collect(Vec<u8>);

impl AsyncSink for &mut Collect {
    async fn put(&mut self, piece: Vec<u8>) -> std::io::Result<bool> {
        self.0.extend_from_slice(&piece);
        Ok(true)
    }
}

/// Forwards to a socket, paced on a link, stopping after a byte budget.
struct Forward<'a> {
    to: &'a mut TcpStream,
    link: &'a Link,
    bps: Option<u64>,
    budget: &'a mut Option<u64>,
    counter: Option<&'a AtomicU64>,
}

impl AsyncSink for Forward<'_> {
    async fn put(&mut self, piece: Vec<u8>) -> std::io::Result<bool> {
        let piece = match self.budget {
            Some(left) => {
                let n = (*left).min(piece.len() as u64) as usize;
                *left -= n as u64;
                piece[..n].to_vec()
            }
            None => piece,
        };
        if !piece.is_empty() {
            self.link.pace(piece.len(), self.bps).await;
            self.to.write_all(&piece).await?;
            if let Some(c) = self.counter {
                c.fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
        }
        Ok(!matches!(self.budget, Some(0)))
    }
}

fn canned(code: u16, retry_after: Option<u64>) -> Vec<u8> {
    let reason = match code {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let body = format!(
        "{{\"error\":{{\"code\":\"{}\",\"message\":\"injected by the fault proxy\",\"retryable\":true}}}}",
        if code == 429 {
            "rate_limited"
        } else {
            "unavailable"
        }
    );
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(s) = retry_after {
        head.push_str(&format!("retry-after: {s}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

async fn send_to_client(
    sh: &Shared,
    client: &mut TcpStream,
    bytes: &[u8],
    bps: Option<u64>,
) -> std::io::Result<()> {
    for piece in bytes.chunks(CHUNK) {
        sh.down.pace(piece.len(), bps).await;
        client.write_all(piece).await?;
        sh.counters
            .bytes_down
            .fetch_add(piece.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Serves one client connection, request by request.
async fn serve_connection(sh: Arc<Shared>, client: TcpStream) -> std::io::Result<()> {
    let mut client = Peer::new(client);
    let mut upstream: Option<Peer> = None;
    loop {
        let Some(req) = client.head(true, "").await? else {
            return Ok(());
        };
        sh.counters
            .bytes_up
            .fetch_add(req.raw.len() as u64, Ordering::Relaxed);
        sh.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (fault, bps, latency) = sh.next_fault();
        if fault != Fault::Pass {
            sh.counters.faults.fetch_add(1, Ordering::Relaxed);
        }
        // Answers the proxy gives itself: read the request off the wire first, so the
        // client is not reset while still sending.
        match &fault {
            Fault::Status { code, retry_after } => {
                let counted = CountUp(&sh.counters.bytes_up);
                client.body(req.len, counted).await?;
                send_to_client(&sh, &mut client.stream, &canned(*code, *retry_after), bps).await?;
                return Ok(());
            }
            Fault::Error {
                code,
                error,
                offset,
            } => {
                let counted = CountUp(&sh.counters.bytes_up);
                client.body(req.len, counted).await?;
                let body = match offset {
                    Some(o) => format!(
                        "{{\"error\":{{\"code\":\"{error}\",\"message\":\"injected\",\"retryable\":false,\"offset\":{o}}}}}"
                    ),
                    None => format!(
                        "{{\"error\":{{\"code\":\"{error}\",\"message\":\"injected\",\"retryable\":false}}}}"
                    ),
                };
                let msg = format!(
                    "HTTP/1.1 {code} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                send_to_client(&sh, &mut client.stream, msg.as_bytes(), bps).await?;
                return Ok(());
            }
            Fault::Garbage => {
                client.body(req.len, CountUp(&sh.counters.bytes_up)).await?;
                let body = "<html><body>Wi-Fi login required</body></html>";
                let msg = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                send_to_client(&sh, &mut client.stream, msg.as_bytes(), bps).await?;
                return Ok(());
            }
            Fault::Stall => {
                client.body(req.len, CountUp(&sh.counters.bytes_up)).await?;
                // Hold the connection until the client gives up.
                while client.fill().await? {
                    client.buf.clear();
                }
                return Ok(());
            }
            Fault::Delay(d) => tokio::time::sleep(*d).await,
            _ => {}
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if upstream.is_none() {
            let s = TcpStream::connect(sh.upstream).await?;
            let _ = s.set_nodelay(true);
            upstream = Some(Peer::new(s));
        }
        let Some(up) = upstream.as_mut() else {
            return Ok(());
        };
        let mut req_budget = match fault {
            Fault::CutRequestAfter(n) => Some(n),
            _ => None,
        };
        let complete = {
            let mut fwd = Forward {
                to: &mut up.stream,
                link: &sh.up,
                bps,
                budget: &mut req_budget,
                counter: None,
            };
            fwd.put(req.raw.clone()).await? && {
                let counted = CountThen {
                    counter: &sh.counters.bytes_up,
                    inner: fwd,
                };
                client.body(req.len, counted).await?
            }
        };
        if !complete || matches!(fault, Fault::CutRequestAfter(_)) && req_budget == Some(0) {
            // Cut mid-request: both sides see the connection drop.
            return Ok(());
        }
        let Some(resp) = up.head(false, &req.method).await? else {
            return Ok(());
        };
        match fault {
            Fault::TruncatedJson => {
                let mut body = Collect(Vec::new());
                up.body(resp.len, &mut body).await?;
                let half = &body.0[..body.0.len() / 2];
                let msg = format!(
                    "HTTP/1.1 {} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    resp.status,
                    half.len()
                );
                let mut bytes = msg.into_bytes();
                bytes.extend_from_slice(half);
                send_to_client(&sh, &mut client.stream, &bytes, bps).await?;
                return Ok(());
            }
            Fault::CutResponseAfter(n) => {
                let mut budget = Some(n);
                let mut fwd = Forward {
                    to: &mut client.stream,
                    link: &sh.down,
                    bps,
                    budget: &mut budget,
                    counter: Some(&sh.counters.bytes_down),
                };
                if fwd.put(resp.raw.clone()).await? {
                    up.body(resp.len, fwd).await?;
                }
                return Ok(());
            }
            _ => {
                let mut none = None;
                let mut fwd = Forward {
                    to: &mut client.stream,
                    link: &sh.down,
                    bps,
                    budget: &mut none,
                    counter: Some(&sh.counters.bytes_down),
                };
                fwd.put(resp.raw.clone()).await?;
                up.body(resp.len, fwd).await?;
                if resp.close || matches!(resp.len, BodyLen::UntilClose) || req.close {
                    return Ok(());
                }
            }
        }
    }
}

/// Counts request body bytes the proxy reads.
struct CountUp<'a>(&'a AtomicU64);

impl AsyncSink for CountUp<'_> {
    async fn put(&mut self, piece: Vec<u8>) -> std::io::Result<bool> {
        self.0.fetch_add(piece.len() as u64, Ordering::Relaxed);
        Ok(true)
    }
}

/// Counts, then forwards.
struct CountThen<'a, S> {
    counter: &'a AtomicU64,
    inner: S,
}

impl<S: AsyncSink> AsyncSink for CountThen<'_, S> {
    async fn put(&mut self, piece: Vec<u8>) -> std::io::Result<bool> {
        self.counter
            .fetch_add(piece.len() as u64, Ordering::Relaxed);
        self.inner.put(piece).await
    }
}
