//! Test servers for tests/http_backend.rs: an in-process HTTP/1.1 server with scripted
//! answers (for precise fault injection), nginx (a real server), certificates from the
//! openssl CLI, and log capture.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use xmpp_extauth::backend::http::encode::percent_decode;
use xmpp_extauth::config::{BackendKind, HttpSettings, Settings};
use xmpp_extauth::log::{Level, LogTarget};

// ---------------------------------------------------------------- in-process server

/// One request as the server saw it, with the query or form decoded.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which accepted connection (0-based) carried it.
    pub conn: usize,
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (after `?`), empty if none.
    pub query: String,
    pub params: HashMap<String, Vec<u8>>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
}

impl Recorded {
    pub fn param(&self, k: &str) -> Option<&[u8]> {
        self.params.get(k).map(|v| v.as_slice())
    }
}

/// What the server does with a request.
pub enum Action {
    /// Writes these bytes and keeps the connection open for the next request.
    Reply(Vec<u8>),
    /// Writes these bytes, then closes.
    ReplyClose(Vec<u8>),
    /// Never answers; holds the connection until the client closes it (or 10 s).
    Hang,
    /// Answers after a delay (if the client is still there).
    Delay(Duration, Vec<u8>),
    /// Writes `head`, then `chunk` forever (until the client closes or 10 s).
    Endless(Vec<u8>, Vec<u8>),
    /// Closes without a word.
    Close,
    /// Slowloris: writes the first bytes at once, then the second one byte per interval.
    Trickle(Vec<u8>, Vec<u8>, Duration),
}

pub type Behavior = Arc<dyn Fn(&Recorded) -> Action + Send + Sync>;

struct Shared {
    accepted: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
    behavior: Mutex<Behavior>,
}

pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

/// A full HTTP/1.1 response with a Content-Length.
pub fn http(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The reference API: alice@example.org / "s3cret", bob@example.org exists w/o password
/// check; writes succeed per protocol.
pub fn reference_api() -> Behavior {
    Arc::new(|r: &Recorded| {
        let user = r.param("user").unwrap_or_default().to_vec();
        let pass = r.param("pass").map(|p| p.to_vec());
        let known = user == b"alice" || user == b"bob";
        let method = r.path.rsplit('/').next().unwrap_or("").to_owned();
        Action::Reply(match method.as_str() {
            "check_password" => {
                let ok = user == b"alice" && pass.as_deref() == Some(b"s3cret");
                http(200, if ok { "true" } else { "false" })
            }
            "user_exists" => http(200, if known { "true" } else { "false" }),
            "set_password" => http(204, ""),
            "remove_user" => http(if known { 200 } else { 404 }, ""),
            "register" => http(if known { 409 } else { 201 }, ""),
            _ => http(404, ""),
        })
    })
}

impl Server {
    pub fn start(behavior: Behavior) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            accepted: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            behavior: Mutex::new(behavior),
        });
        let s2 = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = s2.accepted.fetch_add(1, Ordering::SeqCst);
                let s3 = s2.clone();
                thread::spawn(move || serve_conn(stream, conn, s3));
            }
        });
        Server { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn set(&self, behavior: Behavior) {
        *self.shared.behavior.lock().unwrap() = behavior;
    }

    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("a request")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_params(s: &[u8], into: &mut HashMap<String, Vec<u8>>) {
    if s.is_empty() {
        return;
    }
    for pair in s.split(|&b| b == b'&') {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = String::from_utf8_lossy(&percent_decode(k).expect("key")).into_owned();
        into.insert(k, percent_decode(v).expect("percent-decodable value"));
    }
}

fn serve_conn(mut stream: TcpStream, conn: usize, shared: Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // read one request head
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut tmp = [0u8; 8192];
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut parts = first.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut headers = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut tmp = [0u8; 8192];
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);

        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (target.clone(), String::new()),
        };
        let mut params = HashMap::new();
        parse_params(query.as_bytes(), &mut params);
        if method == "POST" {
            parse_params(&body, &mut params);
        }
        let rec = Recorded {
            conn,
            method,
            path,
            query,
            params,
            authorization: headers.get("authorization").cloned(),
            content_type: headers.get("content-type").cloned(),
        };
        shared.requests.lock().unwrap().push(rec.clone());
        let behavior = shared.behavior.lock().unwrap().clone();
        match behavior(&rec) {
            Action::Reply(b) => {
                if stream.write_all(&b).is_err() {
                    return;
                }
            }
            Action::ReplyClose(b) => {
                let _ = stream.write_all(&b);
                return;
            }
            Action::Hang => {
                let mut tmp = [0u8; 1024];
                while let Ok(n) = stream.read(&mut tmp) {
                    if n == 0 {
                        break;
                    }
                }
                return;
            }
            Action::Delay(d, b) => {
                thread::sleep(d);
                if stream.write_all(&b).is_err() {
                    return;
                }
            }
            Action::Endless(head, chunk) => {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let start = Instant::now();
                if stream.write_all(&head).is_err() {
                    return;
                }
                while start.elapsed() < Duration::from_secs(10) {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
                return;
            }
            Action::Close => return,
            Action::Trickle(fast, slow, every) => {
                if stream.write_all(&fast).is_err() {
                    return;
                }
                for b in slow {
                    if stream.write_all(&[b]).is_err() {
                        return;
                    }
                    thread::sleep(every);
                }
            }
        }
    }
}

/// A port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------- settings, requests

pub fn settings(url: &str) -> Settings {
    Settings {
        backend: BackendKind::Http,
        allow_writes: true,
        http: HttpSettings {
            url: Some(url.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn within(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

// ---------------------------------------------------------------- logs

static LOG: OnceLock<PathBuf> = OnceLock::new();

/// All tests of this binary log to one file; tests tell their lines apart by the port.
pub fn log_path() -> &'static Path {
    LOG.get_or_init(|| {
        let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("xmpp-extauth-http-test-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&p);
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            let _ = xmpp_extauth::log::init(&LogTarget::File(p.clone()), Level::Debug, false);
        });
        p
    })
}

pub fn log_text() -> String {
    std::fs::read_to_string(log_path()).unwrap_or_default()
}

/// Lines of the log containing every one of `parts`.
pub fn log_lines_with(parts: &[&str]) -> Vec<String> {
    log_text()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------- temp dirs

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "xmpp-extauth-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- certificates

/// Certificates made with the openssl CLI (once per test binary).
pub struct Certs {
    pub dir: PathBuf,
    /// Trusted test CA.
    pub ca: PathBuf,
    /// localhost + 127.0.0.1, signed by `ca`.
    pub good: (PathBuf, PathBuf),
    /// Same names, signed by `ca`, expired yesterday.
    pub expired: (PathBuf, PathBuf),
    /// Signed by `ca` for wrong.example only.
    pub wrong_name: (PathBuf, PathBuf),
    /// localhost + 127.0.0.1, signed by another CA we do not trust.
    pub untrusted: (PathBuf, PathBuf),
    /// Client certificate for mTLS, signed by `ca`.
    pub client: (PathBuf, PathBuf),
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl CLI (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "3",
            "-subj",
            &format!("/CN=xmpp-extauth test {name}"),
        ],
    );
}

fn make_leaf(dir: &Path, name: &str, ca: &str, san: &str, days: &str, eku: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("basicConstraints=CA:FALSE\nsubjectAltName={san}\nextendedKeyUsage={eku}\n"),
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            days,
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("xmpp-extauth-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        make_ca(&dir, "ca");
        make_ca(&dir, "otherca");
        let names = "DNS:localhost,IP:127.0.0.1";
        make_leaf(&dir, "good", "ca", names, "2", "serverAuth");
        make_leaf(&dir, "expired", "ca", names, "-1", "serverAuth");
        make_leaf(
            &dir,
            "wrongname",
            "ca",
            "DNS:wrong.example",
            "2",
            "serverAuth",
        );
        make_leaf(&dir, "untrusted", "otherca", names, "2", "serverAuth");
        make_leaf(
            &dir,
            "client",
            "ca",
            "DNS:client.example",
            "2",
            "clientAuth",
        );
        let pair = |n: &str| (dir.join(format!("{n}.pem")), dir.join(format!("{n}.key")));
        Certs {
            ca: dir.join("ca.pem"),
            good: pair("good"),
            expired: pair("expired"),
            wrong_name: pair("wrongname"),
            untrusted: pair("untrusted"),
            client: pair("client"),
            dir,
        }
    })
}

// ---------------------------------------------------------------- nginx

pub fn nginx_binary() -> Option<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// nginx is required in CI; elsewhere its tests are skipped loudly.
pub fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    match nginx_binary() {
        Some(p) => Some(p),
        None => {
            let msg = format!(
                "SKIP {test}: nginx not installed (apt-get install -y nginx-light); \
                 the real-server tests did not run"
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg} (CI=true: failing)");
            }
            eprintln!("\n!!!!!!!!!! {msg} !!!!!!!!!!\n");
            None
        }
    }
}

/// A foreground nginx (no daemon, no master) with our config; killed on drop.
pub struct Nginx {
    child: Child,
    pub dir: TempDir,
}

impl Nginx {
    /// `servers` is the text inside `http { }`; `{dir}` in it is replaced by the prefix.
    /// Waits until every port in `ports` accepts connections.
    pub fn start(bin: &Path, servers: &str, ports: &[u16]) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.0.display().to_string();
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(dir.path(sub)).expect("mkdir");
        }
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/logs/error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  client_body_temp_path {d}/tmp/cb;\n  proxy_temp_path {d}/tmp/p;\n\
             fastcgi_temp_path {d}/tmp/f;\n  uwsgi_temp_path {d}/tmp/u;\n  scgi_temp_path {d}/tmp/s;\n\
             keepalive_requests 100000;\n  keepalive_timeout 60s;\n{}\n}}\n",
            servers.replace("{dir}", &d)
        );
        std::fs::write(dir.path("nginx.conf"), &conf).expect("write conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.path("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nginx");
        let mut n = Nginx { child, dir };
        let start = Instant::now();
        for &port in ports {
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if let Ok(Some(st)) = n.child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = n.child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    let log =
                        std::fs::read_to_string(n.dir.path("logs/error.log")).unwrap_or_default();
                    panic!("nginx exited ({st}): {err} {log}\nconfig:\n{conf}");
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "nginx did not start"
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port for nginx (tiny race, acceptable in tests).
pub fn free_port() -> u16 {
    dead_port()
}

// ---------------------------------------------------------------- CONNECT proxy

/// A minimal HTTP CONNECT proxy (what ureq speaks to `http_proxy`), recording targets.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    pub targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let t2 = targets.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut client) = stream else { continue };
                let t3 = t2.clone();
                thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while find(&head, b"\r\n\r\n").is_none() {
                        match client.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let line = String::from_utf8_lossy(&head).into_owned();
                    let target = line
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                        .unwrap_or("")
                        .to_owned();
                    t3.lock().unwrap().push(target.clone());
                    let Ok(upstream) = TcpStream::connect(&target) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut c2, mut u2) =
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let mut up = upstream;
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut up);
                    });
                    let _ = std::io::copy(&mut u2, &mut client);
                });
            }
        });
        ConnectProxy { addr, targets }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}
