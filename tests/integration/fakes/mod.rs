//! Local stand-ins for hosted DNS providers' HTTP APIs, one module per provider, each following
//! the provider's documentation (cited in its module docs): paths, JSON shapes, pagination,
//! error bodies, 429 with `Retry-After`, 5xx. They keep zone state, so the backend contract runs
//! against them exactly as against a real server.
//!
//! Why a hand-written server: the behaviour under test is HTTP/1.1 plus JSON, and ~200 lines on a
//! tokio `TcpListener` avoid a web framework in the dependency tree. Each fake listens on
//! `127.0.0.1` (an ephemeral port) and runs on its own thread and runtime, so it serves while the
//! test's runtime awaits the backend. Traffic stays on loopback.
//!
//! ```ignore
//! let fake = desec::start(&["example.com"]);   // a fake with one zone and a token
//! fake.url();                                   // http://127.0.0.1:PORT/api/v1
//! fake.token_file(&dir);                        // the token in a file, for token_file
//! fake.fail_next([Response::json(429, …).header("Retry-After", "1")]);
//! fake.publish_other("_25._tcp.mail.example.com.", &record, 3600);
//! fake.after_next_write(|store| …);             // a writer that lands right after ours
//! fake.requests();                              // what the backend sent
//! ```

pub mod cloudflare;
pub mod cloudns;
pub mod desec;
pub mod dnsimple;
pub mod gandi;
pub mod hetzner;
pub mod infomaniak;
pub mod inwx;
pub mod netcup;
pub mod ovh;
pub mod porkbun;
// Cloud providers.
pub mod azure;
pub mod google;
pub mod route53;
mod server;
mod store;
pub mod technitium;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use daneroll_providers::Tlsa;

pub use server::{FakeServer, Logged, Request, Response, form_fields};
pub use store::{Store, Zone};

/// Something that happens to the zone state right after the next write the fake applies.
type Hook = Box<dyn FnOnce(&mut Store) + Send>;

/// What a provider's request handler shares with the test.
pub struct Shared {
    pub store: Mutex<Store>,
    pub token: String,
    hooks: Mutex<VecDeque<Hook>>,
    /// Changes made right before the next write is applied (a writer between the client's read
    /// and its write).
    before: Mutex<VecDeque<Hook>>,
    /// Answers for writes that were applied (the change is made, the client hears a failure).
    lost: Mutex<VecDeque<Response>>,
    /// Asynchronous actions (Hetzner) by id.
    pub actions: Mutex<Actions>,
    /// A provider that applies changes asynchronously: its reads lag behind its writes.
    lag: Mutex<Lag>,
}

/// Reads that lag behind writes: after a write, the next `reads` reads still see the zone
/// state as it was before it (a provider whose API answers 200 before its list catches up).
#[derive(Debug, Default)]
struct Lag {
    /// How many reads after each write see the old state; 0: no lag.
    reads: usize,
    /// The state before the first write not yet visible, and how many stale reads are left.
    stale: Option<(Store, usize)>,
}

/// The statuses of asynchronous actions a fake started.
#[derive(Debug, Default)]
pub struct Actions {
    pub statuses: Vec<String>,
    /// The next action ends in `error` instead of `success`.
    pub fail_next: bool,
    /// Answers a create with an id that is not the new record's (Infomaniak's fake).
    pub wrong_ids: bool,
}

impl Shared {
    fn new(zones: &[&str], token: String) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(Store::new(zones)),
            token,
            hooks: Mutex::new(VecDeque::new()),
            before: Mutex::new(VecDeque::new()),
            lost: Mutex::new(VecDeque::new()),
            actions: Mutex::new(Actions::default()),
            lag: Mutex::new(Lag::default()),
        })
    }

    /// Looks at or changes the zone state, outside of any request.
    pub fn with<T>(&self, look: impl FnOnce(&mut Store) -> T) -> T {
        // invariant: no code panics while holding the store lock.
        look(&mut self.store.lock().expect("fake store"))
    }

    /// Looks at the zone state the way the provider's list or read endpoint serves it: with a
    /// lag set ([`Fake::lag_reads`]), the state before the writes not yet visible.
    pub fn read<T>(&self, look: impl FnOnce(&mut Store) -> T) -> T {
        {
            // invariant: no code panics while holding the lag lock; it is never held while
            // taking the store lock (`write` takes them the other way round).
            let mut lag = self.lag.lock().expect("fake lag");
            if let Some((stale, left)) = lag.stale.as_mut() {
                let seen = look(stale);
                *left -= 1;
                if *left == 0 {
                    lag.stale = None;
                }
                return seen;
            }
        }
        self.with(look)
    }

    /// Handles a write request: runs `change`, then the next queued hook (a concurrent writer),
    /// and answers with a queued "lost" response instead of the real one if there is one.
    pub fn write(&self, change: impl FnOnce(&mut Store) -> Response) -> Response {
        // invariant: no code panics while holding these locks.
        let mut store = self.store.lock().expect("fake store");
        if let Some(hook) = self.before.lock().expect("fake hooks").pop_front() {
            hook(&mut store);
        }
        let before = store.clone();
        let response = change(&mut store);
        if !(200..300).contains(&response.status) || response.failed {
            return response;
        }
        {
            // The oldest state not yet visible stays what reads see, for `reads` more reads.
            let mut lag = self.lag.lock().expect("fake lag");
            if lag.reads > 0 {
                let stale = lag.stale.take().map_or(before, |(old, _)| old);
                lag.stale = Some((stale, lag.reads));
            }
        }
        if let Some(hook) = self.hooks.lock().expect("fake hooks").pop_front() {
            hook(&mut store);
        }
        self.lost
            .lock()
            .expect("fake lost answers")
            .pop_front()
            .unwrap_or(response)
    }
}

/// A running fake provider.
pub struct Fake {
    pub server: FakeServer,
    pub shared: Arc<Shared>,
    /// The API path prefix after `http://127.0.0.1:PORT`.
    prefix: &'static str,
}

impl Fake {
    fn start(
        prefix: &'static str,
        zones: &[&str],
        handler: fn(&Shared, &Request) -> Response,
    ) -> Self {
        let token = format!("{prefix}-token-{}", random_hex());
        Self::start_with_token(prefix, zones, token, handler)
    }

    /// [`Fake::start`] with a credential of the provider's own form (OVH's three parts).
    fn start_with_token(
        prefix: &'static str,
        zones: &[&str],
        token: String,
        handler: fn(&Shared, &Request) -> Response,
    ) -> Self {
        let shared = Shared::new(zones, token);
        let for_server = Arc::clone(&shared);
        let server = FakeServer::start(prefix, move |request| handler(&for_server, request));
        Self {
            server,
            shared,
            prefix,
        }
    }

    /// [`Fake::start_with_token`] on a listener bound beforehand, so the credential can name
    /// the fake's own address.
    fn start_on(
        listener: std::net::TcpListener,
        prefix: &'static str,
        zones: &[&str],
        token: String,
        handler: fn(&Shared, &Request) -> Response,
    ) -> Self {
        let shared = Shared::new(zones, token);
        let for_server = Arc::clone(&shared);
        let server = FakeServer::start_on(listener, prefix, move |request| {
            handler(&for_server, request)
        });
        Self {
            server,
            shared,
            prefix,
        }
    }

    /// The API base URL to configure as `api_url`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.server.addr(), self.prefix)
    }

    /// The valid token (the test's secret).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Writes the token into `dir/NAME.token` (mode 0600) and returns the path.
    pub fn token_file(&self, dir: &crate::util::Dir) -> PathBuf {
        let path = dir.write(
            &format!("{}.token", self.prefix.trim_matches('/')),
            &self.shared.token,
        );
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            // invariant: the file was just written in the test's own directory.
            .expect("chmod token file");
        path
    }

    /// Answers the next requests with `responses` (one each), before any zone logic.
    pub fn fail_next(&self, responses: impl IntoIterator<Item = Response>) {
        self.server.fail_next(responses);
    }

    /// Adds `record` at `owner` (absolute) directly, as someone using the provider's web UI.
    pub fn publish_other(&self, owner: &str, record: &Tlsa, ttl: u32) {
        let value = canonical(record);
        self.shared.with(|store| store.add(owner, &value, ttl));
    }

    /// Makes `change` happen right after the next write the fake applies (a concurrent writer
    /// whose write lands just after ours).
    pub fn after_next_write(&self, change: impl FnOnce(&mut Store) + Send + 'static) {
        // invariant: no test panics while holding the hooks lock.
        self.shared
            .hooks
            .lock()
            .expect("fake hooks")
            .push_back(Box::new(change));
    }

    /// Makes `change` happen right before the next write reaches the zone state (another
    /// writer between the client's read and its write).
    pub fn before_next_write(&self, change: impl FnOnce(&mut Store) + Send + 'static) {
        // invariant: no test panics while holding the hooks lock.
        self.shared
            .before
            .lock()
            .expect("fake hooks")
            .push_back(Box::new(change));
    }

    /// Applies the next successful write but answers it with `response` (a gateway that times
    /// out after the provider made the change).
    pub fn lose_next_answer(&self, response: Response) {
        // invariant: no code panics while holding this lock.
        self.shared
            .lost
            .lock()
            .expect("fake lost answers")
            .push_back(response);
    }

    /// Makes the provider apply changes asynchronously: after each accepted write, the next
    /// `reads` reads of its list still show the zone as it was before.
    pub fn lag_reads(&self, reads: usize) {
        // invariant: no code panics while holding this lock.
        self.shared.lag.lock().expect("fake lag").reads = reads;
    }

    /// The TLSA values the fake holds at `owner`.
    pub fn values(&self, owner: &str) -> Vec<String> {
        self.shared.with(|store| store.values(owner))
    }

    /// Every request the fake received so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.server.log()
    }
}

/// A record the way these providers store and list it: lower-case hex (as PowerDNS-based
/// deSEC and others canonicalise it), so clients must not rely on their own spelling.
pub fn canonical(record: &Tlsa) -> String {
    record.to_string().to_lowercase()
}

/// Parses a record value the way a provider would validate it: a well-formed TLSA RDATA.
pub fn parse_value(value: &str) -> Result<Tlsa, String> {
    value.parse::<Tlsa>().map_err(|e| e.to_string())
}

pub(crate) fn random_hex() -> String {
    use std::io::Read;
    let mut buf = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        // invariant: /dev/urandom is readable on every test machine.
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
