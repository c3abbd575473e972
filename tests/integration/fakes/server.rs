//! A tiny HTTP/1.1 server (RFC 9112: request line, headers, `Content-Length` bodies,
//! persistent connections) for the fake providers, on its own thread and tokio runtime.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// An HTTP request as the handler sees it: path below the API prefix, percent-decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    /// The path after the API prefix, e.g. `/domains/example.com/rrsets/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric query parameter, or `default`.
    pub fn query_number(&self, key: &str, default: usize) -> usize {
        self.query(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The path's segments (empty ones dropped: `/a/b/` is `["a", "b"]`).
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A refusal whatever the status (Technitium answers errors with HTTP 200): the fakes'
    /// write hooks treat it as a failed write.
    pub failed: bool,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            failed: false,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            failed: false,
        }
    }

    pub fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: text.as_bytes().to_vec(),
            failed: false,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The `Authorization` or `X-API-Key` header as sent.
    pub auth: Option<String>,
    /// Every header (names in lower case), for schemes with several (OVH).
    pub headers: Vec<(String, String)>,
    /// The request body (Porkbun and ClouDNS carry the credential there).
    pub body: Vec<u8>,
    pub status: u16,
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

struct Inner {
    prefix: &'static str,
    handler: Handler,
    faults: Mutex<VecDeque<Response>>,
    log: Mutex<Vec<Logged>>,
}

/// A server on `127.0.0.1`; stopped when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Serves requests under `prefix` with `handler`; others get 404.
    pub fn start(
        prefix: &'static str,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Self {
        Self::start_on(bind(), prefix, handler)
    }

    /// [`FakeServer::start`] on a listener bound beforehand (a fake whose credential names its
    /// own URL, like a Google key's `token_uri`).
    pub fn start_on(
        listener: std::net::TcpListener,
        prefix: &'static str,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Self {
        // invariant: a freshly bound socket has an address and accepts the flag.
        let addr = listener.local_addr().expect("local address");
        listener.set_nonblocking(true).expect("non-blocking");
        let inner = Arc::new(Inner {
            prefix,
            handler: Arc::new(handler),
            faults: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
        });
        let (shutdown, stop) = oneshot::channel();
        let for_thread = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name(format!("fake {prefix}"))
            .spawn(move || run(listener, for_thread, stop))
            // invariant: spawning a thread only fails when the process is out of resources.
            .expect("start the fake server thread");
        Self {
            addr,
            inner,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next requests with `responses`, one each, before the handler sees them.
    pub fn fail_next(&self, responses: impl IntoIterator<Item = Response>) {
        // invariant: the lock is held only for short non-panicking sections.
        self.inner.faults.lock().expect("faults").extend(responses);
    }

    /// Every request answered so far.
    pub fn log(&self) -> Vec<Logged> {
        // invariant: as above.
        self.inner.log.lock().expect("log").clone()
    }
}

/// A listener on an ephemeral loopback port.
pub fn bind() -> std::net::TcpListener {
    // invariant: binding an ephemeral port on loopback succeeds on a test machine.
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(listener: std::net::TcpListener, inner: Arc<Inner>, mut stop: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        // invariant: a current-thread runtime builds unless the process is out of resources.
        .expect("fake server runtime");
    runtime.block_on(async move {
        // invariant: the listener is non-blocking and unused elsewhere.
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(serve(stream, Arc::clone(&inner)));
                    }
                }
            }
        }
    });
}

/// Serves one connection until the client closes it or asks to.
async fn serve(stream: TcpStream, inner: Arc<Inner>) {
    let mut stream = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut stream, inner.prefix).await else {
            return;
        };
        let close = request.as_ref().map_or(true, |r| {
            r.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        });
        let response = answer(&inner, request.as_ref());
        let bytes = encode(&response, close);
        if stream.get_mut().write_all(&bytes).await.is_err() || close {
            return;
        }
    }
}

fn answer(inner: &Inner, request: Result<&Request, &String>) -> Response {
    let Ok(request) = request else {
        return Response::text(404, "Not Found");
    };
    // invariant: the locks are held only for short non-panicking sections.
    let fault = inner.faults.lock().expect("faults").pop_front();
    let response = fault.unwrap_or_else(|| (inner.handler)(request));
    let auth = request
        .header("authorization")
        .or_else(|| request.header("x-api-key"))
        .map(str::to_string);
    inner.log.lock().expect("log").push(Logged {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        auth,
        headers: request.headers.clone(),
        body: request.body.clone(),
        status: response.status,
    });
    response
}

/// Reads one request; `Err` holds a path outside `prefix`, `None` means the connection ended.
async fn read_request(
    stream: &mut BufReader<TcpStream>,
    prefix: &str,
) -> Option<Result<Request, String>> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if stream.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let Some(path) = path.strip_prefix(prefix) else {
        return Some(Err(path.to_string()));
    };
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    Some(Ok(Request {
        method,
        target: target.clone(),
        path: decode(path, false),
        query,
        headers,
        body,
    }))
}

fn encode(response: &Response, close: bool) -> Vec<u8> {
    let reason = match response.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    bytes
}

/// The fields of an `application/x-www-form-urlencoded` body (RFC 1866 §8.2.1).
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// Percent-decoding (RFC 3986 §2.1); in a `query`, `+` is a space (HTML form encoding).
fn decode(text: &str, query: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if query => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
