//! Shared machinery of the system tests: process guards, free ports, a tiny HTTP/1.1 client over
//! `std::net::TcpStream`, throw-away PostgreSQL databases (from `test-db`), the `authd` command
//! line, encoders and a deterministic PRNG.
//!
//! Every process started here is owned by a [`Proc`], which kills it by PID when dropped (also
//! on panic). Every PostgreSQL database is owned by a [`PgDb`], which drops it `WITH (FORCE)`.

#![expect(dead_code, reason = "each test module uses a different part of this file")]

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_authd");

/// The RFC 4226 test secret `b"12345678901234567890"` in base32.
pub const RFC_SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// Its bytes.
pub const RFC_SECRET: &[u8] = b"12345678901234567890";

/// The environment variables `authd` reads; removed from every child so that the developer's
/// shell cannot change what a test runs against.
const AUTHD_ENV: [&str; 8] = [
    "AUTHD_DATABASE_URL",
    "AUTHD_MASTER_KEY",
    "AUTHD_MASTER_KEY_FILE",
    "AUTHD_BIND",
    "AUTHD_WORKERS",
    "AUTHD_POOL_SIZE",
    "AUTHD_LOG_FORMAT",
    "RUST_LOG",
];

// ---------------------------------------------------------------------------------------------
// Skipping, randomness, encoders
// ---------------------------------------------------------------------------------------------

/// Skips loudly, or fails when in CI (the shared rule of `test-db`).
pub use test_db::skip_or_fail;

/// `N` bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    b
}

/// A random lower-case hex string of `2 * 8` characters.
pub fn random_suffix() -> String {
    hex(&random_bytes::<8>())
}

/// A fresh master key: base64 of 32 random bytes.
pub fn new_master_key() -> String {
    base64(&random_bytes::<32>())
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 4648 base32, upper case, without padding.
pub fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(A[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(A[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// HOTP of the RFC secret (SHA-1) at `counter`, with `digits` digits.
pub fn hotp_rfc(counter: u64, digits: u32) -> String {
    let d = domain::otp::Digits::new(digits).expect("6 or 8 digits");
    domain::otp::hotp(domain::otp::Algorithm::Sha1, RFC_SECRET, counter, d)
}

/// A small deterministic PRNG (xorshift64), so that a failing battery reproduces.
pub struct XorShift(u64);

impl XorShift {
    /// Seeded; a zero seed is replaced (xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }
}

// ---------------------------------------------------------------------------------------------
// Ports and processes
// ---------------------------------------------------------------------------------------------

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped.
pub struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    /// Takes ownership of a spawned child.
    pub fn new(child: Child, what: impl Into<String>) -> Self {
        Self {
            child,
            what: what.into(),
        }
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `INT`, ...) with the `kill` command; panics when the
    /// process has already been reaped (its PID could belong to someone else by now).
    pub fn signal(&mut self, sig: &str) {
        assert!(
            self.try_wait().is_none(),
            "{} has already exited; not signalling its old PID",
            self.what
        );
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed: {status}", self.pid());
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits up to `limit` for it to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // `Child::kill` does nothing for a child that has already been reaped.
        if let Err(e) = self.child.kill() {
            eprintln!("note: could not kill {} (pid {}): {e}", self.what, self.child.id());
        }
        let _ = self.child.wait();
    }
}

/// A `Command` for the binary with a clean `authd` environment, the given master key, JSON logs
/// and `cwd` as working directory (so that no default `data/` folder lands in the repository).
pub fn authd_command(master_key: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for k in AUTHD_ENV {
        cmd.env_remove(k);
    }
    cmd.env("AUTHD_MASTER_KEY", master_key)
        .env("AUTHD_LOG_FORMAT", "json")
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion within `limit`, collecting stdout and stderr; kills it on
/// timeout (and panics).
pub fn run_with_deadline(mut cmd: Command, limit: Duration, what: &str) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut proc = Proc::new(child, what);
    let mut out = proc.child.stdout.take().expect("stdout");
    let mut err = proc.child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let Some(status) = proc.wait_timeout(limit) else {
        proc.kill9();
        panic!("{what} did not finish within {limit:?}");
    };
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// The `authd` command line against one database.
#[derive(Clone)]
pub struct Cli {
    /// `--database-url`.
    pub db_url: String,
    /// `AUTHD_MASTER_KEY`.
    pub master_key: String,
    /// Working directory.
    pub cwd: PathBuf,
}

impl Cli {
    /// Runs `authd ARGS --database-url URL` and returns its output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = authd_command(&self.master_key, &self.cwd);
        cmd.args(args).arg("--database-url").arg(&self.db_url);
        run_with_deadline(cmd, Duration::from_secs(60), &format!("authd {}", args.join(" ")))
    }

    /// Runs it and returns stdout; panics (with stderr) unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "authd {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// `authd token create --org ORG [--name NAME]`: the token (stdout must be exactly it).
    pub fn token_create(&self, org: &str, name: Option<&str>) -> String {
        let mut args = vec!["token", "create", "--org", org];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        let out = self.ok(&args);
        let token = out.trim_end_matches('\n');
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "token create must print only the token on one line, got {out:?}"
        );
        assert!(
            token.starts_with("authd_st_"),
            "service tokens start with authd_st_: {token:?}"
        );
        token.to_owned()
    }

    /// `authd token list --json`.
    pub fn token_list_json(&self) -> Vec<Value> {
        let out = self.ok(&["token", "list", "--json"]);
        match serde_json::from_str::<Value>(out.trim()) {
            Ok(Value::Array(v)) => v,
            other => panic!("token list --json must print a JSON array, got {other:?} from {out:?}"),
        }
    }
}

/// Options of one `authd serve`.
#[derive(Clone)]
pub struct ServeOpts {
    /// `--database-url`.
    pub db_url: String,
    /// `AUTHD_MASTER_KEY`.
    pub master_key: String,
    /// `--workers`.
    pub workers: u32,
    /// `--pool-size`, when set.
    pub pool_size: Option<u32>,
    /// `RUST_LOG`, when set.
    pub rust_log: Option<String>,
    /// Where the log files go (and the working directory).
    pub dir: PathBuf,
    /// Log file name prefix.
    pub name: String,
}

impl ServeOpts {
    /// Defaults: 2 workers, the backend's pool size, `info` logs.
    pub fn new(db_url: &str, master_key: &str, dir: &Path, name: &str) -> Self {
        Self {
            db_url: db_url.to_owned(),
            master_key: master_key.to_owned(),
            workers: 2,
            pool_size: None,
            rust_log: None,
            dir: dir.to_owned(),
            name: name.to_owned(),
        }
    }
}

static LOG_SEQ: AtomicU32 = AtomicU32::new(0);

/// One running `authd serve`, with its stderr captured in a file.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process.
    pub proc: Proc,
    /// Its stderr.
    pub log_path: PathBuf,
}

impl Server {
    /// Starts `authd serve` on a free port and waits (up to 60 s) until `/healthz` answers 200.
    pub fn start(opts: &ServeOpts) -> Self {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            let seq = LOG_SEQ.fetch_add(1, Ordering::Relaxed);
            let log_path = opts.dir.join(format!("{}-{seq}.log", opts.name));
            let log = File::create(&log_path).expect("create log file");
            let mut cmd = authd_command(&opts.master_key, &opts.dir);
            cmd.arg("serve")
                .arg("--bind")
                .arg(addr.to_string())
                .arg("--database-url")
                .arg(&opts.db_url)
                .arg("--workers")
                .arg(opts.workers.to_string());
            if let Some(n) = opts.pool_size {
                cmd.arg("--pool-size").arg(n.to_string());
            }
            if let Some(l) = &opts.rust_log {
                cmd.env("RUST_LOG", l);
            }
            cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
            let child = cmd.spawn().expect("spawn authd serve");
            let mut server = Self {
                addr,
                proc: Proc::new(child, format!("authd serve {addr}")),
                log_path,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = server.proc.try_wait() {
                    last_log = server.log();
                    if last_log.contains("cannot listen") {
                        break; // the port was taken meanwhile: try another one
                    }
                    panic!("authd serve exited during start-up ({status}); its log:\n{last_log}");
                }
                if let Ok(r) = Req::get("/healthz").timeout(Duration::from_secs(2)).send(addr)
                    && r.status == 200
                {
                    return server;
                }
                assert!(
                    Instant::now() < deadline,
                    "authd serve did not answer /healthz within 60 s; its log:\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start authd serve on a free port; last log:\n{last_log}");
    }

    /// The captured stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// An API client with a token.
    pub fn api(&self, token: &str) -> Api {
        Api {
            addr: self.addr,
            token: token.to_owned(),
        }
    }

    /// SIGTERM, then waits up to `limit` for the exit status.
    pub fn stop(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.proc.signal("TERM");
        self.proc.wait_timeout(limit)
    }
}

/// One `authd serve` on a fresh SQLite database in a temporary folder (its logs go there too),
/// and the command line on the same database. Fields drop in order: the server is killed before
/// the folder is removed.
pub struct SqliteServer {
    /// The server.
    pub server: Server,
    /// The command line on its database.
    pub cli: Cli,
    /// The folder of the database and the logs.
    pub dir: tempfile::TempDir,
}

impl SqliteServer {
    /// Starts it; `name` prefixes the log files.
    pub fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = Cli {
            db_url: format!("sqlite://{}", dir.path().join("authd.sqlite").display()),
            master_key: new_master_key(),
            cwd: dir.path().to_owned(),
        };
        let server = Server::start(&ServeOpts::new(&cli.db_url, &cli.master_key, dir.path(), name));
        Self { server, cli, dir }
    }

    /// The database file.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join("authd.sqlite")
    }

    /// A new service token of `org` (`authd token create`) and a client of the server with it.
    pub fn org_api(&self, org: &str) -> (String, Api) {
        let token = self.cli.token_create(org, None);
        let api = self.server.api(&token);
        (token, api)
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// The parts of a `postgres://` URL that we rewrite.
#[derive(Clone, Debug)]
pub struct PgUrl {
    scheme: String,
    userinfo: Option<String>,
    host: String,
    port: u16,
    query: String,
}

impl PgUrl {
    fn parse(url: &str) -> Self {
        let (scheme, rest) = url.split_once("://").unwrap_or_else(|| panic!("not a URL: {url}"));
        let (rest, query) = rest
            .split_once('?')
            .map_or((rest, String::new()), |(a, q)| (a, format!("?{q}")));
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, authority),
        };
        // `host`, `host:port`, `[v6]` or `[v6]:port`.
        let split = if hostport.starts_with('[') {
            hostport.rsplit_once("]:").map(|(h, p)| (format!("{h}]"), p))
        } else {
            hostport.rsplit_once(':').map(|(h, p)| (h.to_owned(), p))
        };
        let (host, port) = match split {
            Some((h, p)) => (h, p.parse().unwrap_or_else(|_| panic!("bad port in {url}"))),
            None => (hostport.to_owned(), 5432),
        };
        let host = if host.is_empty() { "127.0.0.1".to_owned() } else { host };
        Self {
            scheme: scheme.to_owned(),
            userinfo,
            host,
            port,
            query,
        }
    }

    /// The URL of database `db` at `host:port`.
    fn with(&self, host: &str, port: u16, db: &str) -> String {
        let user = self.userinfo.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
        format!("{}://{user}{host}:{port}/{db}{}", self.scheme, self.query)
    }
}

/// Runs one SQL statement with `psql` against `url`; stdout (unaligned, tuples only) or the
/// error text.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("psql");
    cmd.env("PGCONNECT_TIMEOUT", "5")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    let mut proc = Proc::new(child, "psql");
    let mut out = proc.child.stdout.take().expect("stdout");
    let mut err = proc.child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = out.read_to_string(&mut v);
        v
    });
    let mut e = String::new();
    let _ = err.read_to_string(&mut e);
    let status = proc
        .wait_timeout(Duration::from_secs(30))
        .ok_or("psql did not finish within 30 s")?;
    let o = out_reader.join().unwrap_or_default();
    if status.success() {
        Ok(o)
    } else {
        Err(format!("psql failed ({status}): {e}"))
    }
}

/// A throw-away, empty database (from `test-db`, on the server at `AUTHD_TEST_POSTGRES_URL`),
/// dropped `WITH (FORCE)` when this guard drops.
pub struct PgDb {
    /// Its name.
    pub name: String,
    /// Its URL (direct to the server).
    pub url: String,
    parsed: PgUrl,
    _db: test_db::PgDatabase,
}

impl PgDb {
    /// Creates it; `None` (after printing SKIPPED) when `AUTHD_TEST_POSTGRES_URL` is unset and
    /// `CI` is not set; panics when it is unset and `CI` is set.
    pub fn create() -> Option<Self> {
        let db = test_db::PgDatabase::empty()?;
        Some(Self {
            name: db.name().to_owned(),
            url: db.url().to_owned(),
            parsed: PgUrl::parse(db.url()),
            _db: db,
        })
    }

    /// Its URL through another address (e.g. a proxy on 127.0.0.1).
    pub fn url_via(&self, port: u16) -> String {
        self.parsed.with("127.0.0.1", port, &self.name)
    }

    /// The real server's address (for a proxy to forward to).
    pub fn server_addr(&self) -> String {
        format!("{}:{}", self.parsed.host, self.parsed.port)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

/// A complete response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// From connect to the last byte.
    pub elapsed: Duration,
}

impl Resp {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is JSON.
    pub fn try_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as JSON; panics otherwise.
    pub fn json(&self) -> Value {
        self.try_json()
            .unwrap_or_else(|| panic!("expected a JSON body, got {} {:?}", self.status, self.text()))
    }

    /// `Content-Type` is `application/json` (any parameters) and the body parses.
    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"))
            && self.try_json().is_some()
    }

    /// Panics unless the status is `status`; returns the JSON body (Null for an empty body).
    pub fn expect(&self, status: u16, ctx: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{ctx}: expected {status}, got {} {}",
            self.status,
            self.text()
        );
        if self.body.is_empty() { Value::Null } else { self.json() }
    }
}

/// Why no complete response came back.
#[derive(Debug)]
pub enum HttpError {
    /// The connection could not be made (nothing was sent).
    Connect(io::Error),
    /// The connection broke (reset, closed) before any byte of a response; `sent` says whether
    /// the whole request had been written.
    NoResponse {
        /// The whole request was written.
        sent: bool,
        /// What happened.
        cause: String,
    },
    /// Part of a response came, then the connection broke.
    Truncated(String),
    /// The read or write timeout passed.
    Timeout(String),
    /// The bytes were not an HTTP/1.1 response.
    Malformed(String),
}

impl HttpError {
    /// A refused connection (a server that is not listening).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused)
    }
}

/// One request, built byte by byte (so that it can carry hostile bytes).
#[derive(Clone)]
pub struct Req {
    method: String,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
}

impl Req {
    /// `METHOD target` (the target is sent verbatim).
    pub fn new(method: &str, target: impl AsRef<[u8]>) -> Self {
        Self {
            method: method.to_owned(),
            target: target.as_ref().to_vec(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// `GET`.
    pub fn get(target: impl AsRef<[u8]>) -> Self {
        Self::new("GET", target)
    }

    /// `POST`.
    pub fn post(target: impl AsRef<[u8]>) -> Self {
        Self::new("POST", target)
    }

    /// `PATCH`.
    pub fn patch(target: impl AsRef<[u8]>) -> Self {
        Self::new("PATCH", target)
    }

    /// `DELETE`.
    pub fn delete(target: impl AsRef<[u8]>) -> Self {
        Self::new("DELETE", target)
    }

    /// Adds a header (bytes verbatim).
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// `X-Service-Token`.
    pub fn token(self, token: &str) -> Self {
        self.header("X-Service-Token", token)
    }

    /// `Authorization: Bearer`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, v: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(serde_json::to_vec(v).expect("serialize"))
    }

    /// A raw body (sent with `Content-Length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Read/write timeout (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request head and body as sent to `addr`: `Host`, `Connection: close`, the headers,
    /// `Content-Length` (always for POST/PATCH/PUT, as clients do for an empty POST).
    pub fn to_bytes(&self, addr: SocketAddr) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").as_bytes());
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        let len = self.body.as_ref().map(Vec::len);
        match len {
            Some(n) => out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes()),
            None if matches!(self.method.as_str(), "POST" | "PATCH" | "PUT") => {
                out.extend_from_slice(b"Content-Length: 0\r\n");
            }
            None => {}
        }
        out.extend_from_slice(b"\r\n");
        if let Some(b) = &self.body {
            out.extend_from_slice(b);
        }
        out
    }

    /// A readable description for failure messages (long parts shortened).
    pub fn describe(&self) -> String {
        fn short(b: &[u8]) -> String {
            let s = String::from_utf8_lossy(b);
            let s: String = s.escape_debug().collect();
            if s.chars().count() > 300 {
                let head: String = s.chars().take(300).collect();
                format!("{head}... ({} bytes)", b.len())
            } else {
                s
            }
        }
        let mut d = format!("{} {}", self.method, short(&self.target));
        for (n, v) in &self.headers {
            let _ = write!(d, "\n  {}: {}", short(n), short(v));
        }
        match &self.body {
            Some(b) => {
                let _ = write!(d, "\n  body: {}", short(b));
            }
            None => d.push_str("\n  (no body)"),
        }
        d
    }

    /// Sends it on a new connection and reads the whole response.
    pub fn send(&self, addr: SocketAddr) -> Result<Resp, HttpError> {
        send_raw(addr, &self.to_bytes(addr), self.method == "HEAD", self.timeout)
    }
}

/// Sends `bytes` verbatim on a new connection and reads one whole response (interim `1xx`
/// responses are not expected: no `Expect` header is ever sent).
pub fn send_raw(addr: SocketAddr, bytes: &[u8], head_only: bool, timeout: Duration) -> Result<Resp, HttpError> {
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(HttpError::Connect)?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let result = if bytes.len() > 64 * 1024 {
        // A large body: write in another thread while reading, so that an early answer (413)
        // is read before the server closes the connection.
        let mut writer = stream.try_clone().map_err(|e| HttpError::NoResponse {
            sent: false,
            cause: e.to_string(),
        })?;
        std::thread::scope(|s| {
            let w = s.spawn(move || writer.write_all(bytes).is_ok());
            let r = read_response(&stream, head_only);
            let _ = stream.shutdown(Shutdown::Both); // unblocks the writer
            let sent = w.join().unwrap_or(false);
            match r {
                Err(HttpError::NoResponse { cause, .. }) => Err(HttpError::NoResponse { sent, cause }),
                other => other,
            }
        })
    } else {
        let sent = (&stream).write_all(bytes);
        match (sent, read_response(&stream, head_only)) {
            (Err(e), Err(HttpError::NoResponse { .. })) => Err(HttpError::NoResponse {
                sent: false,
                cause: format!("write failed: {e}"),
            }),
            (_, r) => r,
        }
    };
    result.map(|(status, headers, body)| Resp {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    })
}

/// Reads one whole response from a stream the caller wrote a request on (for requests written
/// in pieces); `start` is when the request began.
pub fn read_resp(stream: &TcpStream, start: Instant) -> Result<Resp, HttpError> {
    read_response(stream, false).map(|(status, headers, body)| Resp {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    })
}

type Parsed = (u16, Vec<(String, String)>, Vec<u8>);

fn read_err(e: &io::Error, got_any: bool, what: &str) -> HttpError {
    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        HttpError::Timeout(format!("{what}: {e}"))
    } else if got_any {
        HttpError::Truncated(format!("{what}: {e}"))
    } else {
        HttpError::NoResponse {
            sent: true,
            cause: format!("{what}: {e}"),
        }
    }
}

/// Reads more bytes into `buf`; `Ok(false)` at EOF.
fn read_more(mut stream: &TcpStream, buf: &mut Vec<u8>) -> Result<bool, HttpError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err(&e, !buf.is_empty(), "read")),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn read_response(stream: &TcpStream, head_only: bool) -> Result<Parsed, HttpError> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        if !read_more(stream, &mut buf)? {
            return Err(if buf.is_empty() {
                HttpError::NoResponse {
                    sent: true,
                    cause: "connection closed before any response byte".into(),
                }
            } else {
                HttpError::Truncated(format!("EOF inside the head: {:?}", String::from_utf8_lossy(&buf)))
            });
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {line:?}")))?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut rest = buf.split_off(head_end + 4);
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok((status, headers, Vec::new()));
    }
    if get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        let body = read_chunked(stream, rest)?;
        return Ok((status, headers, body));
    }
    if let Some(cl) = get("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| HttpError::Malformed(format!("Content-Length {cl:?}")))?;
        while rest.len() < n {
            if !read_more(stream, &mut rest).map_err(|e| match e {
                HttpError::NoResponse { cause, .. } => HttpError::Truncated(cause),
                other => other,
            })? {
                return Err(HttpError::Truncated(format!(
                    "EOF after {} of {n} body bytes",
                    rest.len()
                )));
            }
        }
        rest.truncate(n);
        return Ok((status, headers, rest));
    }
    // Neither: the body ends at EOF.
    loop {
        match read_more(stream, &mut rest) {
            Ok(true) => {}
            Ok(false) => return Ok((status, headers, rest)),
            Err(HttpError::NoResponse { cause, .. }) => return Err(HttpError::Truncated(cause)),
            Err(e) => return Err(e),
        }
    }
}

fn read_chunked(stream: &TcpStream, mut buf: Vec<u8>) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    let more = |buf: &mut Vec<u8>| -> Result<(), HttpError> {
        match read_more(stream, buf) {
            Ok(true) => Ok(()),
            Ok(false) => Err(HttpError::Truncated("EOF inside a chunked body".into())),
            Err(HttpError::NoResponse { cause, .. }) => Err(HttpError::Truncated(cause)),
            Err(e) => Err(e),
        }
    };
    loop {
        let line_end = loop {
            if let Some(p) = find(&buf[pos..], b"\r\n") {
                break pos + p;
            }
            more(&mut buf)?;
        };
        let size_text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
        let size_text = size_text.split(';').next().unwrap_or_default().trim().to_owned();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
        pos = line_end + 2;
        if size == 0 {
            return Ok(body); // trailers, if any, are ignored
        }
        while buf.len() < pos + size + 2 {
            more(&mut buf)?;
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

/// A client of one server with one service token; panics on transport errors (with the
/// request), so that tests read as a list of calls and expected statuses.
#[derive(Clone)]
pub struct Api {
    /// The server.
    pub addr: SocketAddr,
    /// `X-Service-Token`.
    pub token: String,
}

impl Api {
    /// Sends `req` as it is (no token added).
    pub fn raw(&self, req: &Req) -> Resp {
        req.send(self.addr)
            .unwrap_or_else(|e| panic!("no response from {}: {e:?}\nrequest: {}", self.addr, req.describe()))
    }

    /// Sends `req` with the token.
    pub fn send(&self, req: Req) -> Resp {
        self.raw(&req.token(&self.token))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Resp {
        self.send(Req::get(path))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Req::post(path).json(body))
    }

    /// `POST path` with no body (`Content-Length: 0`, no `Content-Type`), as the SDK does for
    /// generate-otp.
    pub fn post_empty(&self, path: &str) -> Resp {
        self.send(Req::post(path))
    }

    /// `PATCH path` with a JSON body.
    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Req::patch(path).json(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Resp {
        self.send(Req::delete(path))
    }

    /// Creates an app (optionally linked): its id.
    pub fn create_app(&self, handle: Option<&str>) -> String {
        let body = handle.map_or_else(|| serde_json::json!({}), |h| serde_json::json!({ "agent_handle": h }));
        let v = self.post(APPS, &body).expect(201, "create app");
        str_field(&v, "id")
    }

    /// Creates an identity.
    pub fn create_identity(&self, handle: &str) -> Value {
        self.post("/api/v1/identities/", &serde_json::json!({ "agent_handle": handle }))
            .expect(201, "create identity")
    }

    /// Imports an account from an otpauth URI: the account object.
    pub fn create_account(&self, app: &str, uri: &str) -> Value {
        self.post(
            &format!("{APPS}/{app}/accounts"),
            &serde_json::json!({ "otpauth_uri": uri }),
        )
        .expect(201, &format!("create account {uri}"))
    }

    /// Imports an account from an otpauth URI: its id.
    pub fn account_id(&self, app: &str, uri: &str) -> String {
        str_field(&self.create_account(app, uri), "id")
    }

    /// Generates a code: the OTP object.
    pub fn generate(&self, app: &str, account: &str) -> Value {
        self.post_empty(&format!("{APPS}/{app}/accounts/{account}/generate-otp"))
            .expect(200, "generate-otp")
    }

    /// Enrolls an instance: the instance object with its `device_token`.
    pub fn enroll(&self, app: &str, name: &str) -> Value {
        self.post(
            &format!("{APPS}/{app}/instances"),
            &serde_json::json!({ "device_name": name, "platform": "android" }),
        )
        .expect(201, "enroll instance")
    }
}

/// `/api/v1/authenticator/apps`.
pub const APPS: &str = "/api/v1/authenticator/apps";

/// A string field of a JSON object; panics otherwise.
pub fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("expected a string {key:?} in {v}"))
        .to_owned()
}

/// Polls `f` every `every` until it returns `Some` or `limit` passes.
pub fn poll<T>(limit: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// `sqlite3` CLI is available.
pub fn have_sqlite3() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs one statement with the `sqlite3` CLI (`-bail`, a 10 s busy timeout, at most `limit`):
/// its standard output; panics (with its standard error) unless it exits 0.
pub fn sqlite3(path: &Path, sql: &str, limit: Duration) -> String {
    let mut cmd = Command::new("sqlite3");
    cmd.arg("-bail")
        .args(["-cmd", ".timeout 10000"])
        .arg(path)
        .arg(sql)
        .stdin(Stdio::null());
    let out = run_with_deadline(cmd, limit, "sqlite3");
    assert!(
        out.status.success(),
        "sqlite3 {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`sqlite3`], or `None` (after a loud SKIPPED that names `what` was not done) when the CLI is
/// not installed.
pub fn sqlite3_or_skip(path: &Path, sql: &str, what: &str) -> Option<String> {
    if !have_sqlite3() {
        eprintln!(
            "\n*** SKIPPED ASSERTION: sqlite3 CLI not installed; {what} of {} not run ***\n",
            path.display()
        );
        return None;
    }
    Some(sqlite3(path, sql, Duration::from_secs(60)))
}

/// `PRAGMA integrity_check` with the `sqlite3` CLI; `None` (after a loud SKIPPED) when the CLI
/// is not installed.
pub fn sqlite_integrity(path: &Path) -> Option<String> {
    sqlite3_or_skip(path, "PRAGMA integrity_check;", "PRAGMA integrity_check").map(|out| out.trim().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------------------------

/// `/api/v1/audit/events`.
pub const AUDIT_EVENTS: &str = "/api/v1/audit/events";

/// One page of the trail: `GET /api/v1/audit/events?limit=LIMIT[&after=AFTER]`; checks the
/// status (200), the shape (`events` array, `next` string or null) and the cursor (`next` is the
/// last event's `seq`, or the cursor given when the page is empty). Returns the events and
/// `next`, or the reason it is not such a page.
pub fn audit_page(api: &Api, after: Option<&str>, limit: u32) -> Result<(Vec<Value>, Option<String>), String> {
    let path = match after {
        Some(a) => format!("{AUDIT_EVENTS}?after={a}&limit={limit}"),
        None => format!("{AUDIT_EVENTS}?limit={limit}"),
    };
    let r = api.get(&path);
    if r.status != 200 || !r.is_json() {
        return Err(format!("GET {path} on {}: {} {}", api.addr, r.status, r.text()));
    }
    let v = r.json();
    let Some(events) = v.get("events").and_then(Value::as_array).cloned() else {
        return Err(format!("GET {path}: no `events` array in {v}"));
    };
    let next = match v.get("next") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) => None,
        other => return Err(format!("GET {path}: `next` must be a string or null, got {other:?}")),
    };
    let expected = match events.last() {
        Some(e) => match e.get("seq").and_then(Value::as_u64) {
            Some(s) => Some(s.to_string()),
            None => return Err(format!("GET {path}: an event without a numeric seq: {e}")),
        },
        None => after.map(str::to_owned),
    };
    if next != expected {
        return Err(format!(
            "GET {path}: `next` is {next:?}, expected {expected:?} (the last seq, or the cursor given)"
        ));
    }
    if events.len() > limit as usize {
        return Err(format!("GET {path}: {} events on a page of {limit}", events.len()));
    }
    Ok((events, next))
}

/// The whole trail of the token's organization: pages of 1000 from the start, passing `next`
/// back as `after`, until an empty page (at most 1000 pages). Panics on a bad page.
pub fn audit_trail(api: &Api) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let (events, next) = audit_page(api, after.as_deref(), 1000).unwrap_or_else(|e| panic!("{e}"));
        if events.is_empty() {
            return all;
        }
        all.extend(events);
        after = next;
    }
    panic!("the audit trail did not end within 1000 pages");
}

/// An event's `seq`; panics without one.
pub fn event_seq(e: &Value) -> u64 {
    e.get("seq")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("an event without a numeric seq: {e}"))
}

/// Checks that the events' `seq`s are exactly 1, 2, ..., n in this order; the first problem.
pub fn check_seqs_gap_free(events: &[Value]) -> Result<(), String> {
    for (i, e) in events.iter().enumerate() {
        let want = i as u64 + 1;
        match e.get("seq").and_then(Value::as_u64) {
            Some(s) if s == want => {}
            got => {
                let prev = i.checked_sub(1).map(|p| &events[p]);
                return Err(format!(
                    "event #{i} of {} has seq {got:?}, expected {want} (1..n in page order, no gaps); \
                     it: {e}; the one before: {prev:?}",
                    events.len()
                ));
            }
        }
    }
    Ok(())
}
