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
//! - every timeout inside the request deadline: connect = min(connect_timeout, time left),
//!   and a global timeout of the time left covers resolve, send, headers and body;
//! - bounded memory: 8 KiB of response headers, [`MAX_BODY`] of body, small buffers.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use ureq::Agent;

use super::HttpSetupError;
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

/// The process's HTTP client.
pub struct Transport {
    agent: Agent,
    /// `Basic ...` header value, if the API wants credentials. Never logged.
    authorization: Option<String>,
    connect_timeout: Duration,
}

impl Transport {
    /// `https` says whether the base URL needs TLS (then the CA bundle must load now, not
    /// at the first login).
    pub fn new(
        settings: &HttpSettings,
        https: bool,
        authorization: Option<String>,
    ) -> Result<Transport, HttpSetupError> {
        let proxy = match &settings.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|_| {
                HttpSetupError::new("http_proxy: invalid proxy url (want http://host:port)")
            })?),
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
            .max_idle_age(Duration::from_secs(30));
        #[cfg(feature = "tls")]
        let builder = builder.tls_config(super::tls::config(settings, https)?);
        #[cfg(not(feature = "tls"))]
        if https {
            return Err(HttpSetupError::new(
                "http_url: https needs the `tls` feature; this build has plain http only",
            ));
        }
        Ok(Transport {
            agent: builder.build().new_agent(),
            authorization,
            connect_timeout: settings.connect_timeout,
        })
    }

    /// One request: GET `url?form` or POST `form` to `url`, finished by `deadline`.
    pub fn request(
        &self,
        post: bool,
        url: &str,
        form: &str,
        deadline: Instant,
    ) -> Result<Reply, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(Failure::NoTimeLeft);
        }
        let connect = self.connect_timeout.min(left);
        let result = if post {
            let mut req = self
                .agent
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(a) = &self.authorization {
                req = req.header("authorization", a);
            }
            req.config()
                .timeout_global(Some(left))
                .timeout_connect(Some(connect))
                .build()
                .send(form.as_bytes())
        } else {
            let full = format!("{url}?{form}");
            let mut req = self.agent.get(&full);
            if let Some(a) = &self.authorization {
                req = req.header("authorization", a);
            }
            req.config()
                .timeout_global(Some(left))
                .timeout_connect(Some(connect))
                .build()
                .call()
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

/// `Basic base64(user:password)`.
pub fn basic_authorization(credentials: &[u8]) -> String {
    let mut s = String::from("Basic ");
    base64_into(&mut s, credentials);
    s
}

fn base64_into(out: &mut String, data: &[u8]) {
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
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
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
            let mut s = String::new();
            base64_into(&mut s, i.as_bytes());
            assert_eq!(s, o);
        }
        assert_eq!(
            basic_authorization(b"Aladdin:open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
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
