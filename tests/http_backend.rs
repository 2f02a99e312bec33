//! `backend = http` against real servers on 127.0.0.1: an in-process HTTP/1.1 server for
//! precise faults (tests/http_support), and nginx over plain HTTP and HTTPS with a CA made
//! here by the openssl CLI. Library-level: `HttpBackend::handle` with a deadline.
#![cfg(feature = "http")]

mod http_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_support::*;
use xmpp_extauth::backend::http::HttpBackend;
use xmpp_extauth::backend::{Backend, Verdict};
use xmpp_extauth::config::{HttpMethod, Secret, Settings};
use xmpp_extauth::request::{self, Request};

const V_YES: Verdict = Verdict::Yes;
const V_NO: Verdict = Verdict::No;
const V_UNAV: Verdict = Verdict::Unavailable;

fn backend(s: &Settings) -> HttpBackend {
    log_path();
    HttpBackend::new(s).unwrap_or_else(|e| panic!("setup: {e}"))
}

fn ask(b: &mut HttpBackend, line: &[u8], ms: u64) -> Verdict {
    let r = request::parse(line).expect("valid request");
    b.handle(&r, within(ms))
}

/// Asks and checks the answer came before the deadline (+ a small margin).
fn ask_timed(b: &mut HttpBackend, line: &[u8], ms: u64) -> (Verdict, Duration) {
    let t = Instant::now();
    let v = ask(b, line, ms);
    let took = t.elapsed();
    assert!(
        took <= Duration::from_millis(ms + 50),
        "{}: took {took:?}, deadline {ms} ms",
        String::from_utf8_lossy(line)
    );
    (v, took)
}

// ------------------------------------------------------------------ protocol

#[test]
fn every_command_maps_to_its_method() {
    let srv = Server::start(reference_api());
    let mut b = backend(&settings(&srv.url("/api/")));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    let r = srv.last();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/check_password")
    );
    assert_eq!(r.query, "user=alice&server=example.org&pass=s3cret");

    assert_eq!(ask(&mut b, b"auth:alice:example.org:wrong", 2000), V_NO);
    assert_eq!(ask(&mut b, b"auth:nobody:example.org:s3cret", 2000), V_NO);

    assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
    let r = srv.last();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/user_exists")
    );
    assert_eq!(r.query, "user=bob&server=example.org");
    assert_eq!(r.param("pass"), None);
    assert_eq!(ask(&mut b, b"isuser:carol:example.org", 2000), V_NO);

    assert_eq!(ask(&mut b, b"setpass:alice:example.org:n3w", 2000), V_YES);
    let r = srv.last();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/set_password")
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.query, "");
    assert_eq!(r.param("pass"), Some(&b"n3w"[..]));
    assert_eq!(r.param("server"), Some(&b"example.org"[..]));

    assert_eq!(
        ask(&mut b, b"tryregister:carol:example.org:pw", 2000),
        V_YES
    );
    assert_eq!(srv.last().path, "/api/register");
    assert_eq!(srv.last().method, "POST");
    assert_eq!(ask(&mut b, b"tryregister:alice:example.org:pw", 2000), V_NO); // 409

    assert_eq!(ask(&mut b, b"removeuser:bob:example.org", 2000), V_YES);
    let r = srv.last();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/remove_user")
    );
    assert_eq!(r.param("pass"), None);
    assert_eq!(ask(&mut b, b"removeuser:carol:example.org", 2000), V_NO); // 404

    // removeuser3: check_password, then remove_user only if the password is right
    let before = srv.requests().len();
    assert_eq!(
        ask(&mut b, b"removeuser3:alice:example.org:s3cret", 2000),
        V_YES
    );
    let rs = srv.requests();
    assert_eq!(rs.len(), before + 2);
    assert_eq!(rs[before].path, "/api/check_password");
    assert_eq!(rs[before + 1].path, "/api/remove_user");
    assert_eq!(rs[before + 1].param("pass"), Some(&b"s3cret"[..]));
    let before = srv.requests().len();
    assert_eq!(
        ask(&mut b, b"removeuser3:alice:example.org:bad", 2000),
        V_NO
    );
    let rs = srv.requests();
    assert_eq!(
        rs.len(),
        before + 1,
        "no remove_user after a wrong password"
    );
    assert_eq!(rs[before].path, "/api/check_password");
}

#[test]
fn status_and_body_mapping_over_the_wire() {
    let answer = Arc::new(std::sync::Mutex::new(http(200, "true")));
    let a2 = answer.clone();
    let srv = Server::start(Arc::new(move |_| Action::Reply(a2.lock().unwrap().clone())));
    let mut b = backend(&settings(&srv.url("/api")));
    let cases: &[(&[u8], u16, &str, Verdict)] = &[
        (b"auth:u:h:p", 200, "true", V_YES),
        (b"auth:u:h:p", 200, " true\r\n", V_YES),
        (b"auth:u:h:p", 200, "false", V_NO),
        (b"auth:u:h:p", 200, "TRUE", V_UNAV),
        (b"auth:u:h:p", 200, "", V_UNAV),
        (b"auth:u:h:p", 200, "true.", V_UNAV),
        (b"auth:u:h:p", 201, "true", V_UNAV),
        (b"auth:u:h:p", 401, "true", V_NO),
        (b"auth:u:h:p", 403, "", V_NO),
        (b"auth:u:h:p", 404, "", V_NO),
        (b"auth:u:h:p", 500, "true", V_UNAV),
        (b"auth:u:h:p", 502, "", V_UNAV),
        (b"auth:u:h:p", 503, "", V_UNAV),
        (b"auth:u:h:p", 501, "", V_UNAV),
        (b"isuser:u:h", 200, "true", V_YES),
        (b"isuser:u:h", 200, "false\n", V_NO),
        (b"isuser:u:h", 200, "maybe", V_UNAV),
        (b"isuser:u:h", 404, "", V_NO),
        (b"isuser:u:h", 500, "", V_UNAV),
        (b"setpass:u:h:p", 200, "", V_YES),
        (b"setpass:u:h:p", 201, "", V_YES),
        (b"setpass:u:h:p", 204, "", V_YES),
        (b"setpass:u:h:p", 202, "", V_UNAV),
        (b"setpass:u:h:p", 400, "", V_NO),
        (b"setpass:u:h:p", 500, "", V_UNAV),
        (b"setpass:u:h:p", 501, "", V_UNAV),
        (b"removeuser:u:h", 200, "", V_YES),
        (b"removeuser:u:h", 201, "", V_YES),
        (b"removeuser:u:h", 204, "", V_YES),
        (b"removeuser:u:h", 404, "", V_NO),
        (b"removeuser:u:h", 503, "", V_UNAV),
        (b"tryregister:u:h:p", 201, "", V_YES),
        (b"tryregister:u:h:p", 409, "", V_NO),
        (b"tryregister:u:h:p", 200, "", V_UNAV),
        (b"tryregister:u:h:p", 501, "", V_UNAV),
        (b"tryregister:u:h:p", 500, "", V_UNAV),
    ];
    for &(line, status, body, want) in cases {
        *answer.lock().unwrap() = http(status, body);
        assert_eq!(
            ask(&mut b, line, 2000),
            want,
            "{} -> {status} {body:?}",
            String::from_utf8_lossy(line)
        );
    }
    // every answer above was a complete response: one connection carried them all
    assert_eq!(srv.accepted(), 1);
    // 501 is logged once per method, not per request
    *answer.lock().unwrap() = http(501, "");
    for _ in 0..3 {
        assert_eq!(ask(&mut b, b"auth:u:h:p", 2000), V_UNAV);
    }
    let port = srv.port().to_string();
    assert_eq!(
        log_lines_with(&["check_password: not implemented", &port]).len(),
        1
    );
}

/// Every byte outside the unreserved set survives the trip: the server decodes exactly
/// what the client sent, for GET queries and POST forms.
#[test]
fn tricky_characters_round_trip_exactly() {
    let srv = Server::start(Arc::new(|_| Action::Reply(http(200, "true"))));
    let users: &[&[u8]] = &[
        b"a:b",
        b"sp ace",
        b"amp&er=sand",
        b"plus+percent%25",
        b"sl/ash?q#frag",
        "jürgen.🦀".as_bytes(),
        b"nul\0byte",
        b"\xff\xfe invalid utf-8",
    ];
    let passwords: &[&[u8]] = &[
        b"pa:ss:w0rd",
        b" leading and trailing ",
        b"&pass=evil&x=",
        b"100%+1=2",
        b"/?#[]@!$'()*,;",
        "пароль 密码".as_bytes(),
        b"\0\x01\x7f",
        b"\\\"'`",
    ];
    for method in [HttpMethod::Get, HttpMethod::Post] {
        let mut s = settings(&srv.url("/api"));
        s.http.check_method = method;
        let mut b = backend(&s);
        for (u, p) in users.iter().zip(passwords) {
            let host: &[u8] = b"h\xc3\xb6st.example";
            let r = Request::Auth {
                user: u,
                host,
                password: p,
            };
            assert_eq!(b.handle(&r, within(2000)), V_YES);
            let rec = srv.last();
            assert_eq!(rec.param("user"), Some(*u));
            assert_eq!(rec.param("server"), Some(host));
            assert_eq!(rec.param("pass"), Some(*p));
            assert_eq!(rec.path, "/api/check_password");
        }
    }
    // setpass carries the same bytes in a form
    let mut b = backend(&settings(&srv.url("/api")));
    let r = Request::SetPass {
        user: b"a&b=c",
        host: b"h",
        password: b"p+q%20r s",
    };
    srv.set(Arc::new(|_| Action::Reply(http(204, ""))));
    assert_eq!(b.handle(&r, within(2000)), V_YES);
    assert_eq!(srv.last().param("pass"), Some(&b"p+q%20r s"[..]));
    assert_eq!(srv.last().param("user"), Some(&b"a&b=c"[..]));
}

#[test]
fn post_check_method_keeps_passwords_out_of_the_url() {
    let srv = Server::start(reference_api());
    let mut s = settings(&srv.url("/api"));
    s.http.check_method = HttpMethod::Post;
    let mut b = backend(&s);
    assert!(b.describe().contains("POST"));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    let r = srv.last();
    assert_eq!(r.method, "POST");
    assert_eq!(r.query, "", "no query string");
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
    assert_eq!(srv.last().method, "POST");
    assert_eq!(ask(&mut b, b"auth:alice:example.org:nope", 2000), V_NO);
}

#[test]
fn basic_credentials_on_every_request() {
    // "xmpp:pa:ss w" -> base64
    const WANT: &str = "Basic eG1wcDpwYTpzcyB3";
    let srv = Server::start(Arc::new(|r: &Recorded| {
        if r.authorization.as_deref() == Some(WANT) {
            reference_api()(r)
        } else {
            Action::Reply(http(401, ""))
        }
    }));
    // none configured: 401 -> no
    let mut b = backend(&settings(&srv.url("/api")));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_NO);

    // from the config
    let mut s = settings(&srv.url("/api"));
    s.http.auth_credentials = Some(Secret("xmpp:pa:ss w".into()));
    let mut b = backend(&s);
    assert!(!b.describe().contains("pa:ss"), "{}", b.describe());
    for line in [
        &b"auth:alice:example.org:s3cret"[..],
        b"isuser:bob:example.org",
        b"setpass:alice:example.org:x",
        b"tryregister:zed:example.org:x",
        b"removeuser:bob:example.org",
    ] {
        assert_eq!(
            ask(&mut b, line, 2000),
            V_YES,
            "{}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(srv.last().authorization.as_deref(), Some(WANT));
    }

    // from a file, which must not be world-readable
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("creds");
    let f = dir.path("credentials");
    std::fs::write(&f, "xmpp:pa:ss w\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut s = settings(&srv.url("/api"));
    s.http.auth_credentials_file = Some(f.clone());
    let e = HttpBackend::new(&s)
        .err()
        .expect("world-readable refused")
        .to_string();
    assert!(
        e.contains("http_auth_credentials_file") && e.contains("readable by everyone"),
        "{e}"
    );
    assert!(!e.contains("pa:ss"));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut b = backend(&s);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(srv.last().authorization.as_deref(), Some(WANT));

    // never in the log
    assert!(!log_text().contains("pa:ss"));
    assert!(!log_text().contains("eG1wcDpwYTpzcyB3"));
}

#[test]
fn keep_alive_one_connection_for_many_requests() {
    let srv = Server::start(reference_api());
    let mut b = backend(&settings(&srv.url("/api")));
    for i in 0..100 {
        let line: &[u8] = match i % 4 {
            0 => b"auth:alice:example.org:s3cret",
            1 => b"auth:alice:example.org:bad",
            2 => b"isuser:bob:example.org",
            _ => b"setpass:alice:example.org:x",
        };
        assert_ne!(ask(&mut b, line, 2000), V_UNAV);
    }
    assert_eq!(srv.requests().len(), 100);
    assert_eq!(
        srv.accepted(),
        1,
        "keep-alive: one connection for 100 requests"
    );
}

#[test]
fn host_substitution() {
    let srv = Server::start(reference_api());
    let mut b = backend(&settings(&srv.url("/tenants/$host/xmpp/")));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(srv.last().path, "/tenants/example.org/xmpp/check_password");
    assert_eq!(srv.last().param("server"), Some(&b"example.org"[..]));
    // a hostile host stays one encoded path segment
    ask(&mut b, b"isuser:alice:evil/../x?y#z", 2000);
    assert_eq!(
        srv.last().path,
        "/tenants/evil%2F..%2Fx%3Fy%23z/xmpp/user_exists"
    );
}

#[test]
fn writes_refused_unless_allowed() {
    let srv = Server::start(reference_api());
    let mut s = settings(&srv.url("/api"));
    s.allow_writes = false;
    let mut b = backend(&s);
    for line in [
        &b"setpass:alice:example.org:x"[..],
        b"tryregister:zed:example.org:x",
        b"removeuser:bob:example.org",
        b"removeuser3:alice:example.org:s3cret",
    ] {
        assert_eq!(ask(&mut b, line, 2000), V_UNAV);
    }
    assert_eq!(srv.requests().len(), 0, "nothing reached the api");
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
}

#[test]
fn setup_errors_are_actionable() {
    let err = |s: &Settings| HttpBackend::new(s).err().expect("setup error").to_string();
    let mut s = settings("http://x");
    s.http.url = None;
    assert!(err(&s).starts_with("http_url: not set"));
    assert!(err(&settings("ftp://x/api")).contains("want an http:// or https:// url"));
    let e = err(&settings("https://user:secretpw@x/api"));
    assert!(e.contains("credentials in the url are not allowed"));
    assert!(!e.contains("secretpw"), "{e}");
    assert!(!err(&settings("gopher://u:secretpw@x/")).contains("secretpw"));
    assert!(err(&settings("http://x/api?a=b")).contains("query"));
    let mut s = settings("http://x/api");
    s.http.auth_credentials = Some(Secret("nocolon".into()));
    assert!(err(&s).contains("http_auth_credentials: want user:password"));
    let mut s = settings("http://x/api");
    s.http.proxy = Some("not a url at all".into());
    assert!(err(&s).starts_with("http_proxy"));
    // Only plain-http CONNECT proxies: TLS to the API then runs inside the tunnel.
    for p in ["https://proxy.example:3128", "socks5://proxy.example:1080"] {
        s.http.proxy = Some(p.into());
        assert_eq!(
            err(&s),
            "http_proxy: invalid proxy url (want http://host:port)",
            "{p}"
        );
    }
    #[cfg(feature = "tls")]
    {
        let dir = TempDir::new("ca");
        let f = dir.path("empty.pem");
        std::fs::write(&f, "no pem here\n").unwrap();
        let mut s = settings("https://x/api");
        s.http.ca_file = Some(f.clone());
        let e = err(&s);
        assert_eq!(
            e,
            format!("http_ca_file {}: no certificates found", f.display())
        );
        s.http.ca_file = Some(dir.path("missing.pem"));
        assert!(err(&s).starts_with("http_ca_file "));
        let c = certs();
        let mut s = settings("https://x/api");
        s.http.ca_file = Some(c.ca.clone());
        s.http.client_cert = Some(c.client.0.clone());
        assert!(err(&s).contains("must be set together"));
        s.http.client_key = Some(c.good.1.clone()); // another cert's key
        assert!(err(&s).contains("does not fit"), "{}", err(&s));
    }
    #[cfg(not(feature = "tls"))]
    assert!(err(&settings("https://x/api")).contains("tls"));
    let b = backend(&settings("http://api.example.org/xmpp"));
    assert_eq!(
        b.describe(),
        "http http://api.example.org/xmpp (GET, cache off)"
    );
}

// ------------------------------------------------------------------ faults

/// After a fault, the same backend works again once the server is healthy.
fn healthy_again(srv: &Server, b: &mut HttpBackend) {
    srv.set(reference_api());
    let (v, _) = ask_timed(b, b"auth:alice:example.org:s3cret", 2000);
    assert_eq!(v, V_YES, "healthy again");
}

fn fault_logged(port: u16, what: &str) {
    let port = port.to_string();
    let lines = log_lines_with(&["http: ", &port, what]);
    assert!(
        !lines.is_empty(),
        "no fault logged for port {port} with {what:?}"
    );
    for l in &lines {
        assert!(l.contains("error"), "a fault is an error: {l}");
    }
}

#[test]
fn fault_not_listening_fails_fast() {
    let port = dead_port();
    let mut b = backend(&settings(&format!("http://127.0.0.1:{port}/api")));
    let (v, took) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 2000);
    assert_eq!(v, V_UNAV);
    assert!(
        took < Duration::from_millis(100),
        "refused must be fast: {took:?}"
    );
    fault_logged(port, "check_password: connection refused");
    // then it comes up on that port
    let listener = std::net::TcpListener::bind(("127.0.0.1", port));
    if listener.is_ok() {
        drop(listener);
    }
}

#[test]
fn fault_black_hole_answers_within_deadline() {
    let srv = Server::start(Arc::new(|_| Action::Hang));
    let mut b = backend(&settings(&srv.url("/api")));
    let (v, took) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 600);
    assert_eq!(v, V_UNAV);
    assert!(
        took >= Duration::from_millis(500),
        "waited for the answer: {took:?}"
    );
    fault_logged(srv.port(), "check_password: timed out");
    healthy_again(&srv, &mut b);
}

/// A connect that never completes: a listener with a full accept queue drops our SYNs
/// (a black-holed address behaves the same; this sandbox cannot route one). Answered
/// within the connect timeout, inside the deadline.
#[test]
fn fault_connect_black_hole_within_deadline() {
    let (_fd, port, _fillers) = full_backlog_listener();
    let mut s = settings(&format!("http://127.0.0.1:{port}/api"));
    s.http.connect_timeout = Duration::from_millis(300);
    let mut b = backend(&s);
    let (v, took) = ask_timed(&mut b, b"isuser:alice:example.org", 800);
    assert_eq!(v, V_UNAV);
    assert!(
        took < Duration::from_millis(300 + 150),
        "connect_timeout applies: {took:?}"
    );
    fault_logged(port, "user_exists: timed out");
    // and a deadline shorter than the connect timeout wins
    let (v, _) = ask_timed(&mut b, b"isuser:alice:example.org", 150);
    assert_eq!(v, V_UNAV);
}

/// A server that accepts the TCP connection and then never answers the TLS ClientHello.
/// `http_connect_timeout_ms` covers name resolution, the TCP connect and the TLS handshake
/// together (src/backend/http/deadline.rs): answered at the connect timeout, not at the
/// (much later) deadline.
#[cfg(feature = "tls")]
#[test]
fn fault_tls_handshake_black_hole_ends_at_the_connect_timeout() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s); // read nothing, answer nothing
        }
    });
    let mut s = settings(&format!("https://127.0.0.1:{port}/api"));
    s.http.ca_file = Some(certs().ca.clone());
    s.http.connect_timeout = Duration::from_millis(300);
    let mut b = backend(&s);
    let (v, took) = ask_timed(&mut b, b"isuser:alice:example.org", 3000);
    assert_eq!(v, V_UNAV);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(300 + 400),
        "the connect timeout bounds the handshake: {took:?}"
    );
    fault_logged(port, "user_exists: timed out (connect)");
}

/// listen(2) with a backlog of 0 and the queue filled by connections nobody accepts.
fn full_backlog_listener() -> (std::os::fd::OwnedFd, u16, Vec<std::net::TcpStream>) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor we own; addr is a valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
        let port = u16::from_be(got.sin_port);
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let a = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            if let Ok(s) = std::net::TcpStream::connect_timeout(&a, Duration::from_millis(100)) {
                fillers.push(s);
            }
        }
        (owned, port, fillers)
    }
}

#[test]
fn fault_slow_answer_past_deadline() {
    let srv = Server::start(Arc::new(|_| {
        Action::Delay(Duration::from_millis(1500), http(200, "true"))
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    let (v, _) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 500);
    assert_eq!(v, V_UNAV);
    fault_logged(srv.port(), "timed out");
    healthy_again(&srv, &mut b);
}

/// The pooled-connection hazard: the first request times out, its answer (`true`) arrives
/// later on the same connection. The next request must never read it.
#[test]
fn late_answer_is_never_read_by_the_next_request() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let srv = Server::start(Arc::new(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Action::Delay(Duration::from_millis(700), http(200, "true"))
        } else {
            Action::Reply(http(200, "false"))
        }
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    let (v, _) = ask_timed(&mut b, b"auth:alice:example.org:wrong1", 300);
    assert_eq!(v, V_UNAV);
    // wait until the late "true" has been written to the old connection
    std::thread::sleep(Duration::from_millis(600));
    for _ in 0..3 {
        let (v, _) = ask_timed(&mut b, b"auth:alice:example.org:wrong2", 1000);
        assert_eq!(
            v, V_NO,
            "the late `true` of the first request must not be read"
        );
    }
    assert_eq!(srv.accepted(), 2, "the timed-out connection was not reused");
}

/// A server that sends more than one answer (a stale extra response after the body): the
/// connection is not reused, so the extra `true` is never read as the next answer.
#[test]
fn extra_bytes_after_a_response_are_never_read_as_the_next_answer() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let srv = Server::start(Arc::new(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut b = http(200, "false");
            b.extend_from_slice(&http(200, "true"));
            Action::Reply(b)
        } else {
            Action::Reply(http(200, "false"))
        }
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:x", 1000), V_NO);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:x", 1000), V_NO);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn fault_closes_mid_response() {
    let srv = Server::start(Arc::new(|_| {
        Action::ReplyClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ntr".to_vec())
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    let (v, _) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000);
    assert_eq!(v, V_UNAV);
    fault_logged(srv.port(), "check_password");
    // closed before any status line
    srv.set(Arc::new(|_| Action::Close));
    let (v, _) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000);
    assert_eq!(v, V_UNAV);
    healthy_again(&srv, &mut b);
}

#[test]
fn fault_bad_answers_500_502_garbage_huge() {
    let srv = Server::start(Arc::new(|_| Action::Reply(http(500, "true"))));
    let mut b = backend(&settings(&srv.url("/api")));
    let port = srv.port();
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(port, "check_password: unexpected status 500");
    srv.set(Arc::new(|_| {
        Action::Reply(http(502, "<html>bad gateway</html>"))
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(port, "unexpected status 502");
    srv.set(Arc::new(|_| {
        Action::Reply(b"this is not http\r\n\r\n".to_vec())
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    srv.set(Arc::new(|_| {
        Action::Reply(http(200, "<html>login page</html>"))
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(port, "body other than true or false");
    // a big body starting with "true": too large, not yes
    let huge = format!("true{}", " ".repeat(100_000));
    srv.set(Arc::new(move |_| Action::Reply(http(200, &huge))));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(port, "response body larger than");
    healthy_again(&srv, &mut b);
}

#[test]
fn fault_endless_body_and_endless_headers_bounded() {
    // chunked body that never ends
    let srv = Server::start(Arc::new(|_| {
        Action::Endless(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntrue\r\n".to_vec(),
            b"400\r\n"
                .iter()
                .copied()
                .chain([b' '; 0x400])
                .chain(*b"\r\n")
                .collect(),
        )
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(srv.port(), "response body larger than");
    // close-delimited body that never ends
    srv.set(Arc::new(|_| {
        Action::Endless(b"HTTP/1.1 200 OK\r\n\r\ntrue".to_vec(), vec![b' '; 4096])
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    // headers that never end: long lines hit the size cap, short ones the count cap
    srv.set(Arc::new(|_| {
        let mut line = b"X-Filler: ".to_vec();
        line.extend_from_slice(&[b'a'; 1000]);
        line.extend_from_slice(b"\r\n");
        Action::Endless(b"HTTP/1.1 200 OK\r\n".to_vec(), line)
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(srv.port(), "response headers larger than 8192 bytes");
    srv.set(Arc::new(|_| {
        Action::Endless(b"HTTP/1.1 200 OK\r\n".to_vec(), b"X-F: a\r\n".to_vec())
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000).0,
        V_UNAV
    );
    fault_logged(srv.port(), "too many headers");
    // slowloris: a complete, valid `true` answer, one byte every 20 ms (~1.5 s in all):
    // no per-byte timer is reset, the deadline cuts it
    srv.set(Arc::new(|_| {
        Action::Trickle(Vec::new(), http(200, "true"), Duration::from_millis(20))
    }));
    let (v, took) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 400);
    assert_eq!(v, V_UNAV);
    assert!(took < Duration::from_millis(400), "{took:?}");
    // fast headers, then the body trickled
    srv.set(Arc::new(|_| {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n".to_vec();
        let body = format!("true{}", " ".repeat(36)).into_bytes();
        Action::Trickle(head, body, Duration::from_millis(20))
    }));
    assert_eq!(
        ask_timed(&mut b, b"auth:alice:example.org:s3cret", 400).0,
        V_UNAV
    );
    healthy_again(&srv, &mut b);
}

#[test]
fn fault_redirect_never_followed() {
    let other = Server::start(Arc::new(|_| Action::Reply(http(200, "true"))));
    let target = other.url("/steal");
    let srv = Server::start(Arc::new(move |_| {
        Action::Reply(
            format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes(),
        )
    }));
    let mut b = backend(&settings(&srv.url("/api")));
    for line in [
        &b"auth:alice:example.org:s3cret"[..],
        b"isuser:alice:example.org",
    ] {
        assert_eq!(ask_timed(&mut b, line, 1000).0, V_UNAV);
    }
    assert_eq!(other.requests().len(), 0, "the redirect target got nothing");
    fault_logged(srv.port(), "redirect (status 302) refused");
    healthy_again(&srv, &mut b);
}

#[test]
fn no_password_or_query_in_the_log() {
    let srv = Server::start(Arc::new(|_| Action::Reply(http(500, ""))));
    let mut b = backend(&settings(&srv.url("/api")));
    ask(&mut b, b"auth:alice:example.org:Sekr1t-in-log-test", 1000);
    let port = dead_port();
    let mut b2 = backend(&settings(&format!("http://127.0.0.1:{port}/api")));
    ask(&mut b2, b"auth:alice:example.org:Sekr1t-in-log-test", 1000);
    fault_logged(port, "refused");
    let log = log_text();
    assert!(!log.contains("Sekr1t"), "password in log");
    assert!(!log.contains("pass="), "query string in log");
}

#[test]
fn deadline_already_passed_answers_at_once() {
    let srv = Server::start(reference_api());
    let mut b = backend(&settings(&srv.url("/api")));
    let r = request::parse(b"auth:alice:example.org:s3cret").unwrap();
    let t = Instant::now();
    assert_eq!(b.handle(&r, Instant::now()), V_UNAV);
    assert!(t.elapsed() < Duration::from_millis(50));
    assert_eq!(srv.requests().len(), 0);
}

// ------------------------------------------------------------------ nginx (real server)

/// `xmpp:secret`
const NGINX_BASIC: &str = "Basic eG1wcDpzZWNyZXQ=";

/// The mod_auth_http API in nginx: `map` from the raw (still percent-encoded)
/// user:server to the encoded password, compared case-sensitively with `if`. Our encoding
/// is deterministic (upper-case hex, every reserved byte encoded), so the raw comparison
/// is exact. Writes answer per protocol; POST bodies are not inspected by nginx.
fn nginx_api_maps() -> String {
    r#"
  log_format conn '$connection $connection_requests $request_method $uri $status';
  map "$arg_user:$arg_server" $expected_pass {
    default "";
    "alice:example.org" "s3cret%20%26%3D%2B%25%3A";
    "j%C3%BCrgen:example.org" "p%C3%A4ss%20w%C3%B6rd";
  }
"#
    .to_owned()
}

fn nginx_api_locations(port: u16) -> String {
    format!(
        r#"
    access_log {{dir}}/logs/access-{port}.log conn;
    default_type text/plain;
    location = /api/check_password {{
      if ($http_authorization != "{NGINX_BASIC}") {{ return 401; }}
      if ($expected_pass = "") {{ return 200 "false"; }}
      if ($arg_pass = $expected_pass) {{ return 200 "true\n"; }}
      return 200 "false";
    }}
    location = /api/user_exists {{
      if ($http_authorization != "{NGINX_BASIC}") {{ return 401; }}
      if ($expected_pass = "") {{ return 200 "false"; }}
      return 200 "true";
    }}
    location = /api/set_password {{
      if ($http_authorization != "{NGINX_BASIC}") {{ return 401; }}
      if ($request_method != POST) {{ return 405; }}
      return 204;
    }}
    location = /api/register {{
      if ($http_authorization != "{NGINX_BASIC}") {{ return 401; }}
      if ($request_method != POST) {{ return 405; }}
      return 201;
    }}
    location = /api/remove_user {{
      if ($http_authorization != "{NGINX_BASIC}") {{ return 401; }}
      if ($request_method != POST) {{ return 405; }}
      return 200;
    }}
    location = /vhosts/example.org/check_password {{ return 200 "true"; }}
    location = /vhosts/example.net/check_password {{ return 200 "false"; }}
    location = /noimpl/register {{ return 501; }}
    location = /broken/check_password {{ return 502; }}
    location = /moved/check_password {{ return 302 http://127.0.0.1:1/elsewhere; }}
"#
    )
}

fn nginx_settings(url: &str) -> Settings {
    let mut s = settings(url);
    s.http.auth_credentials = Some(Secret("xmpp:secret".into()));
    s
}

/// Distinct `$connection` numbers nginx logged for a port.
fn nginx_connections(n: &Nginx, port: u16) -> std::collections::BTreeSet<String> {
    let log =
        std::fs::read_to_string(n.dir.path(&format!("logs/access-{port}.log"))).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.split(' ').next().map(str::to_owned))
        .collect()
}

#[test]
fn nginx_plain_http_real_server() {
    let Some(bin) = nginx_or_skip("nginx_plain_http_real_server") else {
        return;
    };
    let port = free_port();
    let conf = format!(
        "{}\n  server {{\n    listen 127.0.0.1:{port};\n{}\n  }}\n",
        nginx_api_maps(),
        nginx_api_locations(port)
    );
    let nginx = Nginx::start(&bin, &conf, &[port]);
    let base = format!("http://127.0.0.1:{port}");
    let mut b = backend(&nginx_settings(&format!("{base}/api/")));
    let pw: &[u8] = b"s3cret &=+%:";
    let auth = |b: &mut HttpBackend, user: &[u8], password: &[u8]| {
        let r = Request::Auth {
            user,
            host: b"example.org",
            password,
        };
        b.handle(&r, within(2000))
    };
    assert_eq!(auth(&mut b, b"alice", pw), V_YES);
    assert_eq!(auth(&mut b, b"alice", b"s3cret &=+%"), V_NO);
    assert_eq!(
        auth(&mut b, b"alice", b"S3CRET &=+%:"),
        V_NO,
        "case-sensitive"
    );
    assert_eq!(
        auth(&mut b, "jürgen".as_bytes(), "päss wörd".as_bytes()),
        V_YES
    );
    assert_eq!(auth(&mut b, "jürgen".as_bytes(), b"pass word"), V_NO);
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:mallory:example.org", 2000), V_NO);
    assert_eq!(ask(&mut b, b"setpass:alice:example.org:new", 2000), V_YES);
    assert_eq!(ask(&mut b, b"tryregister:zed:example.org:pw", 2000), V_YES);
    assert_eq!(ask(&mut b, b"removeuser:zed:example.org", 2000), V_YES);
    let r3 = Request::RemoveUser3 {
        user: b"alice",
        host: b"example.org",
        password: pw,
    };
    assert_eq!(b.handle(&r3, within(2000)), V_YES);
    for _ in 0..20 {
        assert_eq!(auth(&mut b, b"alice", pw), V_YES);
    }
    assert_eq!(
        nginx_connections(&nginx, port).len(),
        1,
        "keep-alive: nginx saw one connection"
    );

    // without the Basic credentials nginx says 401: no
    let mut anon = backend(&settings(&format!("{base}/api")));
    assert_eq!(auth(&mut anon, b"alice", pw), V_NO);

    // $host
    let mut vh = backend(&nginx_settings(&format!("{base}/vhosts/$host")));
    assert_eq!(ask(&mut vh, b"auth:alice:example.org:x", 2000), V_YES);
    assert_eq!(ask(&mut vh, b"auth:alice:example.net:x", 2000), V_NO);
    assert_eq!(ask(&mut vh, b"auth:alice:example.com:x", 2000), V_NO); // 404

    // 501, 502, redirect
    let mut ni = backend(&nginx_settings(&format!("{base}/noimpl")));
    assert_eq!(ask(&mut ni, b"tryregister:a:example.org:x", 2000), V_UNAV);
    let mut br = backend(&nginx_settings(&format!("{base}/broken")));
    assert_eq!(ask_timed(&mut br, b"auth:a:example.org:x", 2000).0, V_UNAV);
    fault_logged(port, "unexpected status 502");
    let mut mv = backend(&nginx_settings(&format!("{base}/moved")));
    assert_eq!(ask_timed(&mut mv, b"auth:a:example.org:x", 2000).0, V_UNAV);
    fault_logged(port, "redirect (status 302) refused");

    // nginx goes away: refused, fast; comes back: works
    drop(nginx);
    let (v, took) = ask_timed(&mut b, b"isuser:alice:example.org", 2000);
    assert_eq!(v, V_UNAV);
    assert!(took < Duration::from_millis(200), "{took:?}");
    let _nginx = Nginx::start(&bin, &conf, &[port]);
    assert_eq!(
        ask_timed(&mut b, b"isuser:alice:example.org", 2000).0,
        V_YES
    );
}

#[cfg(feature = "tls")]
#[test]
fn nginx_https_own_ca_and_tls_faults() {
    let Some(bin) = nginx_or_skip("nginx_https_own_ca_and_tls_faults") else {
        return;
    };
    let c = certs();
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let (good, expired, wrong, untrusted, mtls, old_tls) =
        (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
    let server = |port: u16, pair: &(std::path::PathBuf, std::path::PathBuf), extra: &str| {
        format!(
            "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {};\n    \
             ssl_certificate_key {};\n    {extra}\n{}\n  }}\n",
            pair.0.display(),
            pair.1.display(),
            nginx_api_locations(port)
        )
    };
    let conf = [
        nginx_api_maps(),
        server(good, &c.good, ""),
        server(expired, &c.expired, ""),
        server(wrong, &c.wrong_name, ""),
        server(untrusted, &c.untrusted, ""),
        server(
            mtls,
            &c.good,
            &format!(
                "ssl_client_certificate {};\n    ssl_verify_client on;",
                c.ca.display()
            ),
        ),
        server(
            old_tls,
            &c.good,
            "ssl_protocols TLSv1 TLSv1.1;\n    ssl_ciphers DEFAULT:@SECLEVEL=0;",
        ),
    ]
    .concat();
    let nginx = Nginx::start(&bin, &conf, &ports);
    let https = |port: u16| {
        let mut s = nginx_settings(&format!("https://127.0.0.1:{port}/api"));
        s.http.ca_file = Some(c.ca.clone());
        s
    };

    // the good server, by IP and by name, keep-alive over TLS
    let mut b = backend(&https(good));
    assert!(b.describe().starts_with("http https://127.0.0.1:"));
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:nobody:example.org", 2000), V_NO);
    for _ in 0..10 {
        let r = Request::Auth {
            user: b"alice",
            host: b"example.org",
            password: b"s3cret &=+%:",
        };
        assert_eq!(b.handle(&r, within(2000)), V_YES);
    }
    assert_eq!(ask(&mut b, b"setpass:alice:example.org:x", 2000), V_YES);
    assert_eq!(
        nginx_connections(&nginx, good).len(),
        1,
        "one TLS connection"
    );
    let mut s = nginx_settings(&format!("https://localhost:{good}/api"));
    s.http.ca_file = Some(c.ca.clone());
    assert_eq!(
        ask(&mut backend(&s), b"isuser:alice:example.org", 2000),
        V_YES
    );

    // through an http CONNECT proxy: TLS to the API runs inside the tunnel (the proxy
    // relays ciphertext; the API's certificate is still checked)
    let proxy = ConnectProxy::start();
    let mut s = https(good);
    s.http.proxy = Some(proxy.url());
    assert_eq!(
        ask(
            &mut backend(&s),
            b"auth:alice:example.org:s3cret &=+%:",
            2000
        ),
        V_YES
    );
    assert_eq!(proxy.targets(), vec![format!("127.0.0.1:{good}")]);
    let mut s = https(untrusted);
    s.http.proxy = Some(proxy.url());
    assert_eq!(
        ask(&mut backend(&s), b"isuser:alice:example.org", 2000),
        V_UNAV,
        "an untrusted certificate behind the proxy is still refused"
    );

    // the system bundle does not know our CA: a TLS fault, not a no
    let mut sys = backend(&nginx_settings(&format!("https://127.0.0.1:{good}/api")));
    assert_eq!(
        ask_timed(&mut sys, b"isuser:alice:example.org", 2000).0,
        V_UNAV
    );

    // bad certificates: unavailable within the deadline, logged as tls faults
    for (port, what) in [
        (expired, "expired"),
        (wrong, "wrong name"),
        (untrusted, "untrusted issuer"),
        (old_tls, "tls 1.0/1.1 only"),
    ] {
        let mut bad = backend(&https(port));
        let (v, _) = ask_timed(&mut bad, b"auth:alice:example.org:s3cret &=+%:", 1000);
        assert_eq!(v, V_UNAV, "{what}");
        fault_logged(port, "check_password: tls");
        // and the healthy server still answers through a backend configured the same way
        assert_eq!(
            ask(&mut b, b"isuser:alice:example.org", 2000),
            V_YES,
            "{what}"
        );
    }
    let log = log_text();
    for port in [expired, wrong, untrusted] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("127.0.0.1:{port}")))
            .unwrap_or_default();
        assert!(line.contains("invalid peer certificate"), "{line}");
    }

    // mutual TLS: with our client certificate yes; without, nginx answers 400: no
    let mut s = https(mtls);
    s.http.client_cert = Some(c.client.0.clone());
    s.http.client_key = Some(c.client.1.clone());
    let mut m = backend(&s);
    assert_eq!(ask(&mut m, b"isuser:alice:example.org", 2000), V_YES);
    let mut nocert = backend(&https(mtls));
    assert_ne!(ask(&mut nocert, b"isuser:alice:example.org", 2000), V_YES);
}

// ------------------------------------------------------------------ cache

fn cached(srv: &Server, ttl_ms: u64, grace_ms: u64) -> HttpBackend {
    let mut s = settings(&srv.url("/api"));
    s.http.cache_ttl = Duration::from_millis(ttl_ms);
    s.http.cache_grace = Duration::from_millis(grace_ms);
    backend(&s)
}

fn count(srv: &Server, path_end: &str) -> usize {
    srv.requests()
        .iter()
        .filter(|r| r.path.ends_with(path_end))
        .count()
}

#[test]
fn cache_hit_does_not_contact_the_server() {
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 60_000, 0);
    assert!(
        b.describe().contains("cache 60s, grace 0s"),
        "{}",
        b.describe()
    );
    for _ in 0..5 {
        assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    }
    assert_eq!(
        count(&srv, "check_password"),
        1,
        "hits served from the cache"
    );
    // a wrong password is asked every time, and never becomes yes
    for _ in 0..3 {
        assert_eq!(ask(&mut b, b"auth:alice:example.org:wrong", 2000), V_NO);
    }
    assert_eq!(count(&srv, "check_password"), 4);
    // another host's entry is not this one: asked again
    ask(&mut b, b"auth:alice:example.net:s3cret", 2000);
    assert_eq!(count(&srv, "check_password"), 5);
    // isuser: yes and no are both remembered
    for _ in 0..3 {
        assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
        assert_eq!(ask(&mut b, b"isuser:carol:example.org", 2000), V_NO);
    }
    assert_eq!(count(&srv, "user_exists"), 2);
    // the cache never holds the plaintext: nothing of it in the log either
    assert!(!log_text().contains("s3cret"));
}

#[test]
fn cache_expiry_asks_again() {
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 300, 0);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(count(&srv, "check_password"), 1);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(
        count(&srv, "check_password"),
        2,
        "expired entry: asked again"
    );
    // the API changed its mind after expiry: the no wins and the entry is gone
    srv.set(Arc::new(|_| Action::Reply(http(200, "false"))));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_NO);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_NO);
}

#[test]
fn cache_grace_during_an_outage() {
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 100, 5_000);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
    std::thread::sleep(Duration::from_millis(150));
    // outage: 503, then a black hole
    srv.set(Arc::new(|_| Action::Reply(http(503, ""))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
    let n = count(&srv, "check_password");
    assert_eq!(n, 2, "past the TTL the API is asked first");
    srv.set(Arc::new(|_| Action::Hang));
    let (v, took) = ask_timed(&mut b, b"auth:alice:example.org:s3cret", 1000);
    assert_eq!(v, V_YES, "grace also covers a timeout");
    assert!(
        took < Duration::from_millis(1000),
        "the graced yes is not late: {took:?}"
    );
    // a password never confirmed gets no grace; nor does the wrong one
    assert_eq!(ask(&mut b, b"auth:alice:example.org:wrong", 300), V_UNAV);
    assert_eq!(ask(&mut b, b"auth:bob:example.org:s3cret", 300), V_UNAV);
    let port = srv.port().to_string();
    assert!(
        !log_lines_with(&["answering yes for alice@example.org from the cache"]).is_empty(),
        "grace answers are logged"
    );
    assert!(!log_lines_with(&[&port, "unexpected status 503"]).is_empty());
    // the API says no (password revoked): the entry is gone, no grace afterwards
    srv.set(Arc::new(|_| Action::Reply(http(200, "false"))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_NO);
    srv.set(Arc::new(|_| Action::Reply(http(500, ""))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_UNAV);
}

#[test]
fn cache_no_grace_when_zero() {
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 100, 0);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    std::thread::sleep(Duration::from_millis(150));
    srv.set(Arc::new(|_| Action::Reply(http(500, ""))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_UNAV);
}

#[test]
fn cache_grace_only_mode_never_answers_while_the_api_is_up() {
    // ttl 0, grace > 0: the API is asked every time; the cache only bridges outages
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 0, 5_000);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(count(&srv, "check_password"), 2);
    srv.set(Arc::new(|_| Action::Reply(http(502, ""))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
}

#[test]
fn cache_invalidated_by_writes() {
    let srv = Server::start(reference_api());
    let mut b = cached(&srv, 60_000, 60_000);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(count(&srv, "check_password"), 1);
    // setpass through the helper drops alice's entries: the old password is asked again
    assert_eq!(ask(&mut b, b"setpass:alice:example.org:n3w", 2000), V_YES);
    srv.set(Arc::new(|r: &Recorded| {
        let ok = r.param("pass") == Some(&b"n3w"[..]);
        Action::Reply(http(200, if ok { "true" } else { "false" }))
    }));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_NO);
    assert_eq!(count(&srv, "check_password"), 2);
    // ...and no grace for it either
    srv.set(Arc::new(|_| Action::Reply(http(500, ""))));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_UNAV);
    // a failed setpass still drops the entries (the API may have applied it)
    srv.set(reference_api());
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(count(&srv, "user_exists"), 2);
    srv.set(Arc::new(|_| Action::Reply(http(500, ""))));
    assert_eq!(ask(&mut b, b"setpass:alice:example.org:x", 2000), V_UNAV);
    srv.set(reference_api());
    assert_eq!(ask(&mut b, b"isuser:alice:example.org", 2000), V_YES);
    assert_eq!(count(&srv, "user_exists"), 3);
    // removeuser and tryregister too
    assert_eq!(ask(&mut b, b"isuser:zed:example.org", 2000), V_NO);
    assert_eq!(ask(&mut b, b"tryregister:zed:example.org:pw", 2000), V_YES);
    srv.set(Arc::new(|_| Action::Reply(http(200, "true"))));
    assert_eq!(
        ask(&mut b, b"isuser:zed:example.org", 2000),
        V_YES,
        "not the cached no"
    );
    assert_eq!(ask(&mut b, b"removeuser:zed:example.org", 2000), V_YES); // 200
    srv.set(Arc::new(|_| Action::Reply(http(200, "false"))));
    assert_eq!(
        ask(&mut b, b"isuser:zed:example.org", 2000),
        V_NO,
        "not the cached yes"
    );
}

// ------------------------------------------------------------------ proxy, sizes

#[test]
fn proxy_only_from_the_config_never_from_the_environment() {
    let proxy = ConnectProxy::start();
    let api = Server::start(reference_api());
    // SAFETY (edition 2024 wants unsafe): every backend in this binary must ignore these
    // variables; if one did not, other tests would notice too, which is fine for a test.
    unsafe {
        for k in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            std::env::set_var(k, proxy.url());
        }
    }
    let mut b = backend(&settings(&api.url("/api")));
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(proxy.targets().len(), 0, "environment proxy ignored");

    // http_proxy from the config: the connection is tunnelled through it
    let mut s = settings(&api.url("/api"));
    s.http.proxy = Some(proxy.url());
    let mut b = backend(&s);
    assert_eq!(ask(&mut b, b"auth:alice:example.org:s3cret", 2000), V_YES);
    assert_eq!(ask(&mut b, b"isuser:bob:example.org", 2000), V_YES);
    assert_eq!(
        proxy.targets(),
        vec![api.addr.to_string()],
        "one tunnel, kept alive"
    );
}

#[test]
fn long_passwords() {
    let srv = Server::start(Arc::new(|r: &Recorded| {
        let ok = r.param("pass").is_some_and(|p| p.len() == 16_000);
        Action::Reply(http(200, if ok { "true" } else { "false" }))
    }));
    let pw = vec![b'%'; 16_000]; // 48 000 bytes encoded
    let r = Request::Auth {
        user: b"u",
        host: b"h",
        password: &pw,
    };
    let mut b = backend(&settings(&srv.url("/api")));
    assert_eq!(b.handle(&r, within(2000)), V_YES);
    let mut s = settings(&srv.url("/api"));
    s.http.check_method = HttpMethod::Post;
    assert_eq!(backend(&s).handle(&r, within(2000)), V_YES);
    // a request line beyond the request buffer is refused by the client, not sent half
    let huge = vec![b'%'; 60_000];
    let r = Request::Auth {
        user: b"u",
        host: b"h",
        password: &huge,
    };
    let before = srv.requests().len();
    assert_eq!(b.handle(&r, within(2000)), V_UNAV);
    assert_eq!(srv.requests().len(), before);
    // as a POST form it goes through
    s.http.check_method = HttpMethod::Post;
    let mut p = backend(&s);
    assert_eq!(p.handle(&r, within(2000)), V_NO); // the server wants 16 000
    assert_eq!(srv.last().param("pass").map(|p| p.len()), Some(60_000));
}
