//! The process's HTTP client and the single request it knows how to make.
//!
//! HTTP/1.1 is ureq-proto's (sans-IO, the protocol half of ureq), driven here over ureq's
//! connector chain with our resolver, TCP, TLS and scrubbing layers. ureq's agent did this
//! for us until it was most of the CPU time of a keep-alive request (~48k of ~62k
//! instructions: request building, its pool, timers, body reader layers); what it did
//! that we need is here, in `exchange` and `Transport::connection`.
//!
//! Why these rules:
//! - keep-alive: a connection goes back to the idle list only after a response was read
//!   to its end with nothing left over, neither side asked to close, and a liveness probe
//!   finds nothing more to read; on any error or timeout it is dropped, so a late answer
//!   can never be read as the answer to a later request (proved by
//!   `late_answer_is_never_read_by_the_next_request` in tests/http_backend.rs);
//! - status codes are data, redirects are never followed (a 3xx comes back as a status
//!   and is a fault);
//! - no proxy from the environment: only `http_proxy` from the config;
//! - every wait inside the request deadline, enforced by our resolver and TCP layer from
//!   the request's [`Deadlines`]: resolve + connect + TLS handshake together within
//!   `http_connect_timeout_ms` (and the deadline), the whole exchange within the deadline;
//! - passwords wiped after use ([`super::scrub`]; an unsent request is wiped on error);
//! - bounded memory: 8 KiB of response headers, [`MAX_BODY`] of body, small buffers.

use std::fmt;
use std::io;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ureq::ProxyProtocol;
use ureq::http::uri::{Authority, PathAndQuery, Scheme};
use ureq::http::{HeaderValue, Method, Request, Uri, header};
use ureq::unversioned::resolver::Resolver;
use ureq::unversioned::transport::{
    ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, ShutdownHandle,
    Transport as UreqTransport,
};
use ureq_proto::BodyMode;
use ureq_proto::client::{Call, RecvBodyResult, RecvResponseResult, SendRequestResult};

use super::HttpSetupError;
use super::deadline::{Bounds, Deadlines};
use super::encode;
use super::resolver::CachingResolver;
use super::scrub::{ScrubConnector, SecretBuf};
use super::socket::TcpConnector;
use crate::config::HttpSettings;
use crate::hash::wipe_bytes;

/// Largest response body we read; a larger one is a fault (and we stop reading there, so
/// an endless body costs nothing).
pub const MAX_BODY: u64 = 4096;
/// Largest response header block.
pub const MAX_HEADERS: usize = 8 * 1024;
/// Socket read buffer (must hold the header block).
const INPUT_BUFFER: usize = 16 * 1024;
/// Request buffer: the request line and headers must fit, and a GET carries the
/// percent-encoded password in the request line (a 64 KiB frame, encoded, is ~192 KiB;
/// such requests fail as a fault, the API never sees half of one).
const OUTPUT_BUFFER: usize = 64 * 1024;
const USER_AGENT: &str = concat!("xmpp-extauth/", env!("CARGO_PKG_VERSION"));

/// One HTTP exchange's result: status and (capped) body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why no reply could be had. Display is for logs: no URL, no query, no credentials.
#[derive(Debug)]
pub enum Failure {
    /// The deadline had already passed before we could start.
    NoTimeLeft,
    Timeout(&'static str),
    Io(io::ErrorKind),
    HostNotFound,
    Tls(String),
    HeadersTooLarge,
    BodyTooLarge,
    Protocol(String),
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NoTimeLeft => f.write_str("no time left before the deadline"),
            Failure::Timeout(phase) => write!(f, "timed out ({phase})"),
            Failure::Io(kind) => write!(f, "{kind}"),
            Failure::HostNotFound => f.write_str("host not found"),
            Failure::Tls(e) => write!(f, "tls: {e}"),
            Failure::HeadersTooLarge => {
                write!(f, "response headers larger than {MAX_HEADERS} bytes")
            }
            Failure::BodyTooLarge => write!(f, "response body larger than {MAX_BODY} bytes"),
            Failure::Protocol(e) => write!(f, "bad http: {e}"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

/// ureq errors -> log words. Deliberately exhaustive by hand: some ureq errors carry the
/// URL (`BadUri`, `RequireHttpsOnly`), whose query holds the password of a GET.
fn failure(e: ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => Failure::Timeout(match t {
            ureq::Timeout::Resolve => "resolve",
            ureq::Timeout::Connect => "connect",
            ureq::Timeout::SendRequest | ureq::Timeout::SendBody => "sending request",
            ureq::Timeout::RecvResponse => "waiting for response",
            ureq::Timeout::RecvBody => "reading body",
            _ => "deadline",
        }),
        // rustls reports handshake failures through io::Error (InvalidData).
        #[cfg(feature = "tls")]
        E::Io(e) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            let detail = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .map(|r| r.to_string())
                .unwrap_or_default();
            Failure::Tls(detail)
        }
        E::Io(e) => match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout("i/o"),
            k => Failure::Io(k),
        },
        E::HostNotFound => Failure::HostNotFound,
        E::BodyExceedsLimit(_) => Failure::BodyTooLarge,
        E::LargeResponseHeader(..) => Failure::HeadersTooLarge,
        E::Protocol(p) => Failure::Protocol(p.to_string()),
        E::Tls(s) => Failure::Tls(s.to_owned()),
        #[cfg(feature = "tls")]
        E::Rustls(r) => Failure::Tls(r.to_string()),
        #[cfg(feature = "tls")]
        E::Pem(_) => Failure::Tls("bad pem".to_owned()),
        E::TlsRequired => Failure::Tls("tls required but not available".to_owned()),
        E::BadUri(_) | E::Http(_) => Failure::Other("invalid request url".to_owned()),
        E::ConnectionFailed => Failure::Io(io::ErrorKind::ConnectionRefused),
        E::TooManyRedirects | E::RedirectFailed => Failure::Other("redirect refused".to_owned()),
        E::InvalidProxyUrl => Failure::Other("invalid proxy url".to_owned()),
        E::ConnectProxyFailed(_) => Failure::Other("proxy connect failed".to_owned()),
        E::BodyStalled => Failure::Protocol("body stalled".to_owned()),
        _ => Failure::Other("request failed".to_owned()),
    }
}

/// Bounds handed to the transport layers with each wait. They only name the phase for
/// the log (connect, waiting for response...): the real bounds are the request's
/// [`Deadlines`], which every wait obeys. A day is "no bound of its own".
const PHASE_LABEL: Duration = Duration::from_secs(24 * 3600);

fn phase(reason: ureq::Timeout) -> NextTimeout {
    NextTimeout {
        after: PHASE_LABEL.into(),
        reason,
        per_read: None,
        per_write: None,
    }
}

/// Idle keep-alive connections kept, at most, and for how long.
const MAX_IDLE: usize = 4;
const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

type Conn = Box<dyn UreqTransport>;
type RunConnector = dyn Fn(&ConnectionDetails) -> Result<Conn, ureq::Error> + Send + Sync + 'static;

/// A connection that carried a whole exchange and may carry the next one to the same
/// scheme and authority.
struct Idle {
    key: Key,
    conn: Conn,
    since: Instant,
}

/// The process's HTTP client: HTTP/1.1 by ureq-proto (sans-IO), over ureq's connector
/// chain with our resolver, TCP, TLS and scrubbing layers.
pub struct Transport {
    config: ureq::config::Config,
    resolver: CachingResolver,
    run_connector: Arc<RunConnector>,
    idle: Vec<Idle>,
    /// The response body is read here (one byte more than allowed, to tell a body too
    /// large), then copied out at its size.
    scratch: Box<[u8; MAX_BODY as usize + 1]>,
    user_agent: HeaderValue,
    /// The `Host` header of the last scheme and authority asked, built once (ureq-proto
    /// would format and copy it for every request).
    host: Option<(Key, HeaderValue)>,
    /// `Basic ...` header value, if the API wants credentials. Never logged (marked
    /// sensitive), and shared by every request instead of copied into each.
    authorization: Option<HeaderValue>,
    connect_timeout: Duration,
    deadlines: Deadlines,
}

impl Transport {
    /// `https` says whether the base URL needs TLS (then the CA bundle must load now, not
    /// at the first login).
    pub fn new(
        settings: &HttpSettings,
        https: bool,
        authorization: Option<SecretBuf>,
    ) -> Result<Transport, HttpSetupError> {
        let proxy = match &settings.proxy {
            Some(p) => Some(
                ureq::Proxy::new(p)
                    .ok()
                    .filter(|p| {
                        // Plain-http CONNECT proxies only. Our chain has no SOCKS connector
                        // (ureq's default one panics on a SOCKS proxy without its feature; we
                        // would connect around it), and through an https:// proxy ureq's
                        // rustls connector sees a transport that is already TLS (to the
                        // proxy) and skips TLS to the API: the password would reach the
                        // proxy in clear and the API's certificate would go unchecked.
                        p.protocol() == ProxyProtocol::Http
                    })
                    .ok_or_else(|| {
                        HttpSetupError::new("http_proxy: invalid proxy url (want http://host:port)")
                    })?,
            ),
            None => None,
        };
        // What the connectors read: the proxy, TLS settings, buffer sizes, the user agent
        // of a proxy CONNECT.
        let builder = ureq::Agent::config_builder()
            .proxy(proxy)
            .user_agent(USER_AGENT)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER);
        #[cfg(feature = "tls")]
        let builder = builder.tls_config(super::tls::config(settings, https)?);
        #[cfg(not(feature = "tls"))]
        if https {
            return Err(HttpSetupError::new(
                "http_url: https needs the `tls` feature; this build has plain http only",
            ));
        }
        let authorization = match authorization {
            Some(a) => {
                let mut v = HeaderValue::from_maybe_shared(Bytes::from_owner(a)).map_err(|_| {
                    HttpSetupError::new("http_auth_credentials: not usable in an http header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let deadlines = Deadlines::default();
        let resolver = CachingResolver::new(deadlines.clone());
        Ok(Transport {
            config: builder.build(),
            run_connector: connector_chain(deadlines.clone(), &resolver),
            resolver,
            idle: Vec::new(),
            scratch: Box::new([0; MAX_BODY as usize + 1]),
            user_agent: HeaderValue::from_static(USER_AGENT),
            host: None,
            authorization,
            connect_timeout: settings.connect_timeout,
            deadlines,
        })
    }

    /// One request: GET `url?form` or POST `form` to `url` (which has no query), finished
    /// by `deadline`.
    pub fn request(
        &mut self,
        post: bool,
        url: &Uri,
        pairs: &[(&str, &[u8])],
        deadline: Instant,
    ) -> Result<Reply, Failure> {
        let now = Instant::now();
        if deadline.saturating_duration_since(now) < Duration::from_millis(1) {
            return Err(Failure::NoTimeLeft);
        }
        let deadlines = self.deadlines.clone();
        let _in_flight = deadlines.during(Bounds::new(now, self.connect_timeout, deadline));
        let bad_url = || Failure::Other("invalid request url".to_owned());
        let mut request = Request::new(());
        let mut body = None;
        if post {
            let form = encode::form(pairs);
            *request.method_mut() = Method::POST;
            *request.uri_mut() = url.clone();
            let h = request.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(form.len()));
            body = Some(form);
        } else {
            // The query holds the password: built in a wiped buffer that becomes the
            // Uri's path without a copy. Scheme and authority are separate allocations,
            // so what we keep of the Uri after the request (the idle connection's key
            // holds the authority) holds no password.
            let pq = encode::path_and_query(url.path(), pairs);
            let mut parts = url.clone().into_parts();
            parts.path_and_query = Some(
                PathAndQuery::from_maybe_shared(Bytes::from_owner(pq)).map_err(|_| bad_url())?,
            );
            *request.uri_mut() = Uri::from_parts(parts).map_err(|_| bad_url())?;
        }
        let host = self.host(url).ok_or_else(bad_url)?;
        let h = request.headers_mut();
        h.insert(header::HOST, host);
        h.insert(header::USER_AGENT, self.user_agent.clone());
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if let Some(a) = &self.authorization {
            h.insert(header::AUTHORIZATION, a.clone());
        }

        let mut conn = self.connection(url, now).map_err(failure)?;
        let body = body.as_ref().map(|b| b.as_bytes());
        let (reply, reusable) = exchange(&mut *conn, request, body, &mut self.scratch)?;
        if reusable && conn.buffers().input().is_empty() && conn.is_open() {
            self.idle.push(Idle {
                key: key(url),
                conn,
                since: Instant::now(),
            });
            if self.idle.len() > MAX_IDLE {
                self.idle.remove(0);
            }
        }
        Ok(reply)
    }

    /// [`host_header`]`(url)`, remembered for the next request to the same place.
    fn host(&mut self, url: &Uri) -> Option<HeaderValue> {
        if let Some((k, v)) = &self.host {
            if same_key(k, url) {
                return Some(v.clone());
            }
        }
        let value = host_header(url)?;
        self.host = Some((key(url), value.clone()));
        Some(value)
    }

    /// An idle connection to `url`'s scheme and authority that still looks open, or a new
    /// one.
    fn connection(&mut self, url: &Uri, now: Instant) -> Result<Conn, ureq::Error> {
        self.idle
            .retain(|i| now.saturating_duration_since(i.since) < MAX_IDLE_AGE);
        while let Some(at) = self.idle.iter().rposition(|i| same_key(&i.key, url)) {
            let mut idle = self.idle.remove(at);
            if idle.conn.is_open() {
                return Ok(idle.conn);
            }
        }
        // As ureq's agent: the proxy resolves the API's name.
        let addrs = if self.config.proxy().is_some() {
            self.resolver.empty()
        } else {
            self.resolver
                .resolve(url, &self.config, phase(ureq::Timeout::Resolve))?
        };
        let details = ConnectionDetails {
            uri: url,
            addrs,
            config: &self.config,
            request_level: false,
            resolver: &self.resolver,
            now: ureq::unversioned::transport::time::Instant::Exact(now),
            timeout: phase(ureq::Timeout::Connect),
            current_time: Arc::new(ureq::unversioned::transport::time::Instant::now),
            run_connector: self.run_connector.clone(),
            register_shutdown: Arc::new(|_: Weak<dyn ShutdownHandle>| Ok(())),
        };
        let conn = (self.run_connector)(&details)?;
        if details.needs_tls() && !conn.is_tls() {
            return Err(ureq::Error::TlsRequired);
        }
        Ok(conn)
    }
}

/// Where a connection goes: scheme and authority (no path: no query, no password).
type Key = (Option<Scheme>, Option<Authority>);

fn key(url: &Uri) -> Key {
    (url.scheme().cloned(), url.authority().cloned())
}

/// `url`'s `Host` header: its host, and its port unless the scheme's default (what
/// ureq-proto sends when the request has none).
fn host_header(url: &Uri) -> Option<HeaderValue> {
    let host = url.host()?;
    let value = match (url.port_u16(), url.scheme().and_then(default_port)) {
        (Some(p), Some(d)) if p != d => format!("{host}:{p}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_maybe_shared(Bytes::from(value)).ok()
}

fn default_port(scheme: &Scheme) -> Option<u16> {
    if *scheme == Scheme::HTTPS {
        Some(443)
    } else if *scheme == Scheme::HTTP {
        Some(80)
    } else {
        None
    }
}

fn same_key(key: &Key, url: &Uri) -> bool {
    // Byte for byte (`Authority`'s own `==` ignores case, one byte at a time): a name
    // spelt in another case is another key, which costs at most a connection.
    key.0.as_ref() == url.scheme()
        && key.1.as_ref().map(Authority::as_str) == url.authority().map(Authority::as_str)
}

fn proto(e: ureq_proto::Error) -> Failure {
    failure(ureq::Error::Protocol(e))
}

/// One request and its response over `conn`, ureq-proto driving HTTP/1.1: what ureq's
/// agent does for us minus redirects, cookies, decompression, and per-call timers (the
/// request's [`Deadlines`] bound every wait). Returns the reply and whether the
/// connection may carry another request: only after a response read to its end, that
/// neither side asked to close. Status codes are data; a 3xx is returned, not followed.
fn exchange(
    conn: &mut dyn UreqTransport,
    request: Request<()>,
    body: Option<&[u8]>,
    scratch: &mut [u8; MAX_BODY as usize + 1],
) -> Result<(Reply, bool), Failure> {
    let result = send_and_receive(conn, request, body, scratch);
    if result.is_err() {
        // The connection is dropped: what it did not send (the request, maybe a
        // password) must not go with it unwiped.
        wipe_bytes(conn.buffers().output());
    }
    result
}

fn send_and_receive(
    conn: &mut dyn UreqTransport,
    request: Request<()>,
    body: Option<&[u8]>,
    body_buf: &mut [u8; MAX_BODY as usize + 1],
) -> Result<(Reply, bool), Failure> {
    let mut call = Call::new(request).map_err(proto)?.proceed();
    // Request line and headers, and a POST body after them in the same write.
    let mut used = 0;
    while !call.can_proceed() {
        let out = &mut conn.buffers().output()[used..];
        let n = call.write(out).map_err(proto)?;
        if n == 0 {
            if used == 0 {
                return Err(proto(ureq_proto::Error::OutputOverflow));
            }
            conn.transmit_output(used, phase(ureq::Timeout::SendRequest))
                .map_err(failure)?;
            used = 0;
        }
        used += n;
    }
    let call = match call.proceed().map_err(proto)? {
        Some(SendRequestResult::RecvResponse(call)) => call,
        Some(SendRequestResult::SendBody(mut call)) => {
            let mut body = body.unwrap_or_default();
            while !call.can_proceed() {
                let out = &mut conn.buffers().output()[used..];
                if body.is_empty() {
                    return Err(Failure::Protocol("body shorter than its length".to_owned()));
                }
                let n = body.len().min(out.len());
                if n == 0 {
                    conn.transmit_output(used, phase(ureq::Timeout::SendBody))
                        .map_err(failure)?;
                    used = 0;
                    continue;
                }
                out[..n].copy_from_slice(&body[..n]);
                call.consume_direct_write(n).map_err(proto)?;
                body = &body[n..];
                used += n;
            }
            call.proceed()
                .ok_or_else(|| Failure::Protocol("body not sent".to_owned()))?
        }
        // No `Expect: 100-continue` is ever sent.
        Some(SendRequestResult::Await100(_)) | None => {
            return Err(Failure::Protocol("unexpected request state".to_owned()));
        }
    };
    conn.transmit_output(used, phase(ureq::Timeout::SendRequest))
        .map_err(failure)?;

    let mut call = call;
    let (response, next) = loop {
        let progress = conn
            .maybe_await_input(phase(ureq::Timeout::RecvResponse))
            .map_err(failure)?;
        let input = conn.buffers().input();
        let (n, response) = call.try_response(input, false).map_err(proto)?;
        if (if response.is_some() { n } else { input.len() }) > MAX_HEADERS {
            return Err(Failure::HeadersTooLarge);
        }
        conn.buffers().input_consume(n);
        if let Some(r) = response {
            break (r, call.proceed());
        }
        if !progress {
            return Err(Failure::Io(io::ErrorKind::UnexpectedEof));
        }
    };
    let status = response.status().as_u16();
    let mut call = match next {
        Some(RecvResponseResult::RecvBody(call)) => call,
        Some(RecvResponseResult::Cleanup(call)) => {
            let reuse = !call.must_close_connection();
            return Ok((
                Reply {
                    status,
                    body: Vec::new(),
                },
                reuse,
            ));
        }
        // A redirect without a body: a 3xx is the caller's to judge; never followed, and
        // its connection is not kept.
        Some(RecvResponseResult::Redirect(_)) => {
            return Ok((
                Reply {
                    status,
                    body: Vec::new(),
                },
                false,
            ));
        }
        None => return Err(Failure::Protocol("incomplete response".to_owned())),
    };

    // The body, up to MAX_BODY: one byte more is a fault, and we stop reading there.
    let close_delimited = call.body_mode() == BodyMode::CloseDelimited;
    let body = body_buf;
    let mut len = 0;
    let mut closed = false;
    loop {
        if !close_delimited && call.can_proceed() {
            break;
        }
        if len > MAX_BODY as usize {
            return Err(Failure::BodyTooLarge);
        }
        let progress = if closed {
            false
        } else {
            match conn.maybe_await_input(phase(ureq::Timeout::RecvBody)) {
                Ok(p) => p,
                // As ureq: a close-delimited body ends when the server closes, also
                // without TLS close_notify.
                Err(ureq::Error::Io(e))
                    if close_delimited
                        && matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof
                                | io::ErrorKind::ConnectionAborted
                                | io::ErrorKind::ConnectionReset
                        ) =>
                {
                    false
                }
                Err(e) => return Err(failure(e)),
            }
        };
        let input = conn.buffers().input();
        let ended = input.is_empty();
        let (used, out) = call.read(input, &mut body[len..]).map_err(proto)?;
        conn.buffers().input_consume(used);
        len += out;
        if used == 0 && out == 0 {
            if !progress && ended {
                if close_delimited {
                    break;
                }
                return Err(Failure::Io(io::ErrorKind::UnexpectedEof));
            }
            if !progress {
                return Err(Failure::Protocol("body stalled".to_owned()));
            }
        }
        closed |= !progress;
    }
    if len > MAX_BODY as usize {
        return Err(Failure::BodyTooLarge);
    }
    let body = body[..len].to_vec();
    let reuse = !close_delimited
        && match call.proceed() {
            Some(RecvBodyResult::Cleanup(c)) => !c.must_close_connection(),
            _ => false,
        };
    Ok((Reply { status, body }, reuse))
}

/// The connector chain: our resolver and TCP layer (see [`super::resolver`],
/// [`super::socket`]), ureq's CONNECT-proxy and rustls connectors, and the scrubbing
/// wrapper outermost (above TLS: it wipes the plaintext written). A CONNECT proxy runs the
/// chain again for its own connection, as ureq's agent does.
fn connector_chain(deadlines: Deadlines, resolver: &CachingResolver) -> Arc<RunConnector> {
    let chain =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::new(deadlines, resolver.handle()));
    #[cfg(feature = "tls")]
    let chain = chain.chain(ureq::unversioned::transport::RustlsConnector::default());
    let chain = chain.chain(ScrubConnector);
    Arc::new(move |details: &ConnectionDetails| {
        let t = chain.connect(details, None)?;
        t.map(|t| Box::new(t) as Conn)
            .ok_or(ureq::Error::ConnectionFailed)
    })
}

/// `Basic base64(user:password)`, in a buffer wiped when the process's last request
/// header referring to it is gone.
pub fn basic_authorization(credentials: &[u8]) -> SecretBuf {
    let mut s = SecretBuf::with_capacity(6 + credentials.len().div_ceil(3) * 4);
    s.push(b"Basic ");
    base64_into(&mut s, credentials);
    s
}

fn base64_into(out: &mut SecretBuf, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(&[ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]]);
            } else {
                out.push(b"=");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::{Buffers, LazyBuffers};

    /// The far end of a connection, scripted: keeps what each transmit sent, answers
    /// `reply` (then end of stream) to reads.
    #[derive(Debug)]
    struct Script {
        buffers: LazyBuffers,
        sent: Vec<Vec<u8>>,
        reply: Vec<u8>,
    }

    impl Script {
        fn new(reply: &[u8]) -> Script {
            Script {
                buffers: LazyBuffers::new(INPUT_BUFFER, OUTPUT_BUFFER),
                sent: Vec::new(),
                reply: reply.to_vec(),
            }
        }
    }

    impl UreqTransport for Script {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, n: usize, _: NextTimeout) -> Result<(), ureq::Error> {
            self.sent.push(self.buffers.output()[..n].to_vec());
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, ureq::Error> {
            let buf = self.buffers.input_append_buf();
            let n = self.reply.len().min(buf.len());
            buf[..n].copy_from_slice(&self.reply[..n]);
            self.reply.drain(..n);
            self.buffers.input_appended(n);
            Ok(n > 0)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn post(form: &str) -> Request<()> {
        let mut r = Request::new(());
        *r.method_mut() = Method::POST;
        *r.uri_mut() = Uri::from_static("http://api.test/auth/check_password");
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(form.len()));
        r
    }

    fn run(reply: &[u8], form: &str) -> (Script, Result<(Reply, bool), Failure>) {
        let mut conn = Script::new(reply);
        let mut buf = [0; MAX_BODY as usize + 1];
        let r = exchange(&mut conn, post(form), Some(form.as_bytes()), &mut buf);
        (conn, r)
    }

    #[test]
    fn post_is_one_write_and_a_complete_answer_keeps_the_connection() {
        let (conn, r) = run(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntrue",
            "user=a&pass=b",
        );
        let (reply, reuse) = r.unwrap();
        assert_eq!(
            (reply.status, &reply.body[..], reuse),
            (200, &b"true"[..], true)
        );
        assert_eq!(conn.sent.len(), 1, "headers and body in one write");
        let sent = String::from_utf8(conn.sent[0].clone()).unwrap();
        assert!(
            sent.starts_with("POST /auth/check_password HTTP/1.1\r\n"),
            "{sent}"
        );
        assert!(sent.ends_with("\r\n\r\nuser=a&pass=b"), "{sent}");
        assert!(sent.contains("\r\nhost: api.test\r\n"), "{sent}");
    }

    #[test]
    fn connection_kept_only_when_neither_side_closes() {
        for (answer, reuse) in [
            (
                &b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\ntrue"[..],
                false,
            ),
            // close-delimited: the body ends at end of stream
            (b"HTTP/1.1 200 OK\r\n\r\ntrue", false),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\ntrue", false),
            // a redirect is returned, never followed
            (
                b"HTTP/1.1 302 Found\r\nLocation: http://x/\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", true),
        ] {
            let (_, r) = run(answer, "a=b");
            let (reply, kept) = r.unwrap();
            assert_eq!(kept, reuse, "{:?}", String::from_utf8_lossy(answer));
            assert!(reply.body.is_empty() || reply.body == b"true");
        }
    }

    #[test]
    fn host_header_as_ureq_proto_writes_it() {
        for (url, host) in [
            ("http://api.test/a", "api.test"),
            ("http://api.test:80/a", "api.test"),
            ("http://api.test:8080/a", "api.test:8080"),
            ("https://api.test:443/a", "api.test"),
            ("https://api.test:80/a", "api.test:80"),
            ("https://[::1]:8443/a", "[::1]:8443"),
            (
                "http://127.0.0.1:8390/auth/check_password",
                "127.0.0.1:8390",
            ),
        ] {
            let url = Uri::try_from(url).unwrap();
            assert_eq!(host_header(&url).unwrap(), host);
            // what ureq-proto sends when the request has no Host header
            let mut r = Request::new(());
            *r.uri_mut() = url;
            let mut conn = Script::new(b"HTTP/1.1 204 No Content\r\n\r\n");
            let mut buf = [0; MAX_BODY as usize + 1];
            exchange(&mut conn, r, None, &mut buf).unwrap();
            let sent = String::from_utf8(conn.sent[0].clone()).unwrap();
            assert!(sent.contains(&format!("\r\nhost: {host}\r\n")), "{sent}");
        }
    }

    #[test]
    fn body_cap_is_exact() {
        let answer = |n: usize| {
            let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
            a.resize(a.len() + n, b' ');
            a
        };
        let (_, r) = run(&answer(MAX_BODY as usize), "a=b");
        assert_eq!(r.unwrap().0.body.len(), MAX_BODY as usize);
        let (_, r) = run(&answer(MAX_BODY as usize + 1), "a=b");
        assert!(matches!(r, Err(Failure::BodyTooLarge)));
        // close-delimited too
        let mut a = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        a.resize(a.len() + 100_000, b' ');
        let (_, r) = run(&a, "a=b");
        assert!(matches!(r, Err(Failure::BodyTooLarge)));
    }

    #[test]
    fn cut_answers_are_faults() {
        for answer in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ntrue",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntrue\r\n",
        ] {
            let (_, r) = run(answer, "a=b");
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(answer));
        }
    }

    #[test]
    fn a_failed_exchange_leaves_no_request_in_the_output_buffer() {
        let (mut conn, r) = run(b"this is not http\r\n\r\n", "user=a&pass=hunter2");
        assert!(r.is_err());
        let out = conn.buffers().output();
        assert!(out.iter().all(|&b| b == 0), "request left in the buffer");
        // what the server got was the request (the buffer was not wiped before sending)
        assert!(conn.sent[0].ends_with(b"pass=hunter2"));
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = SecretBuf::with_capacity(o.len());
            base64_into(&mut s, i.as_bytes());
            assert_eq!(s.as_bytes(), o.as_bytes());
        }
        assert_eq!(
            basic_authorization(b"Aladdin:open sesame").as_bytes(),
            b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn failures_never_show_urls() {
        let f = failure(ureq::Error::BadUri(
            "http://x/check_password?pass=hunter2".into(),
        ));
        assert!(!f.to_string().contains("hunter2"));
        let f = failure(ureq::Error::RequireHttpsOnly(
            "http://x/?pass=hunter2".into(),
        ));
        assert!(!f.to_string().contains("hunter2"));
        let f = failure(ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "x",
        )));
        assert_eq!(f.to_string(), "connection refused");
    }
}
