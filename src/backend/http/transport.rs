//! The one `ureq::Agent` of the process and the single request it knows how to make.
//!
//! Why these settings:
//! - keep-alive: one Agent for the process life; ureq returns a connection to its pool only
//!   after a response was read to its end with nothing left over, and drops it on any
//!   error or timeout, so a late answer can never be read as the answer to a later request
//!   (proved by `late_answer_is_never_read_by_the_next_request` in tests/http_backend.rs);
//! - status codes are data (`http_status_as_error(false)`), redirects are never followed
//!   (`max_redirects(0)`: a 3xx comes back as a status and is a fault);
//! - no proxy from the environment: only `http_proxy` from the config;
//! - every wait inside the request deadline, enforced by our resolver and TCP layer from
//!   the request's [`Deadlines`]: resolve + connect + TLS handshake together within
//!   `http_connect_timeout_ms` (and the deadline), the whole exchange within the deadline;
//! - passwords wiped after use ([`super::scrub`]);
//! - bounded memory: 8 KiB of response headers, [`MAX_BODY`] of body, small buffers.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ureq::http::uri::PathAndQuery;
use ureq::http::{HeaderValue, Uri};
use ureq::unversioned::transport::{ConnectProxyConnector, Connector};
use ureq::{Agent, ProxyProtocol};

use super::HttpSetupError;
use super::deadline::{Bounds, Deadlines};
use super::encode;
use super::resolver::CachingResolver;
use super::scrub::{ScrubConnector, SecretBuf};
use super::socket::TcpConnector;
use crate::config::HttpSettings;

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

/// ureq's own timeouts, set agent-wide only so that its timeout errors name the phase
/// (connect, waiting for response...) for the log: the real bounds are the request's
/// [`Deadlines`], which every wait also obeys. A day is "no bound of ureq's own".
const PHASE_LABEL: Duration = Duration::from_secs(24 * 3600);

/// The process's HTTP client.
pub struct Transport {
    agent: Agent,
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
        let builder = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy)
            .user_agent(concat!("xmpp-extauth/", env!("CARGO_PKG_VERSION")))
            .max_response_header_size(MAX_HEADERS)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_idle_connections(4)
            .max_idle_connections_per_host(2)
            .max_idle_age(Duration::from_secs(30))
            .timeout_resolve(Some(PHASE_LABEL))
            .timeout_connect(Some(PHASE_LABEL))
            .timeout_send_request(Some(PHASE_LABEL))
            .timeout_send_body(Some(PHASE_LABEL))
            .timeout_recv_response(Some(PHASE_LABEL))
            .timeout_recv_body(Some(PHASE_LABEL));
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
        Ok(Transport {
            agent: agent(builder.build(), deadlines.clone()),
            authorization,
            connect_timeout: settings.connect_timeout,
            deadlines,
        })
    }

    /// One request: GET `url?form` or POST `form` to `url` (which has no query), finished
    /// by `deadline`.
    pub fn request(
        &self,
        post: bool,
        url: &Uri,
        pairs: &[(&str, &[u8])],
        deadline: Instant,
    ) -> Result<Reply, Failure> {
        let now = Instant::now();
        if deadline.saturating_duration_since(now) < Duration::from_millis(1) {
            return Err(Failure::NoTimeLeft);
        }
        let _in_flight = self
            .deadlines
            .during(Bounds::new(now, self.connect_timeout, deadline));
        let bad_url = || Failure::Other("invalid request url".to_owned());
        let uri = url.clone();
        let result = if post {
            let form = encode::form(pairs);
            let mut req = self
                .agent
                .post(uri)
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(a) = &self.authorization {
                req = req.header("authorization", a.clone());
            }
            req.send(form.as_bytes())
        } else {
            // The query holds the password: built in a wiped buffer that becomes the
            // Uri's path without a copy. Scheme and authority are separate allocations,
            // so what ureq keeps of the Uri after the request (its pool key holds the
            // authority) holds no password.
            let pq = encode::path_and_query(uri.path(), pairs);
            let mut parts = uri.into_parts();
            parts.path_and_query = Some(
                PathAndQuery::from_maybe_shared(Bytes::from_owner(pq)).map_err(|_| bad_url())?,
            );
            let uri = Uri::from_parts(parts).map_err(|_| bad_url())?;
            let mut req = self.agent.get(uri);
            if let Some(a) = &self.authorization {
                req = req.header("authorization", a.clone());
            }
            req.call()
        };
        let mut response = result.map_err(failure)?;
        let status = response.status().as_u16();
        // Reading to the end (within the cap) is what lets ureq pool the connection;
        // stopping early drops it, which is what we want for an oversized body.
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(failure)?;
        Ok(Reply { status, body })
    }
}

/// The agent: ureq's connector chain with our resolver and TCP layer (see
/// [`super::resolver`], [`super::socket`]), ureq's CONNECT-proxy and rustls connectors, and
/// the scrubbing wrapper outermost (above TLS: it wipes the plaintext ureq wrote).
fn agent(config: ureq::config::Config, deadlines: Deadlines) -> Agent {
    let resolver = CachingResolver::new(deadlines.clone());
    let chain =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::new(deadlines, resolver.handle()));
    #[cfg(feature = "tls")]
    let chain = chain.chain(ureq::unversioned::transport::RustlsConnector::default());
    let chain = chain.chain(ScrubConnector);
    Agent::with_parts(config, chain, resolver)
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
