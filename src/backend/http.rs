//! `backend = http`: the mod_auth_http client (PROTOCOLS.md §5).
//!
//! Each request becomes one HTTP call to `<http_url>/<method>` (two for `removeuser3`),
//! answered within the request's deadline. The answer table is the pure
//! [`verdict::verdict_from`]; the transport ([`transport`]) keeps connections alive and
//! every wait inside the deadline; [`cache`] optionally remembers successes.
//!
//! Fault handling, the reason this module exists rather than a 40-line script: anything
//! that is not a clear yes or no from the API (refused, black-holed, slow, 5xx, garbage,
//! TLS failure, redirect) is [`Verdict::Unavailable`], answered `0` and logged as a backend
//! fault, never as a wrong password; with `cache_grace`, a recent cached success may
//! answer yes during such an outage, and the log says so.

pub mod cache;
mod deadline;
pub mod encode;
mod resolver;
mod scrub;
mod socket;
#[cfg(feature = "tls")]
mod tls;
pub mod transport;
pub mod verdict;

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Verdict};
use crate::config::{HttpMethod, Settings};
use crate::request::Request;

use cache::{Cache, Kind};
use transport::{Failure, Transport};
use ureq::http::Uri;
use verdict::{ApiMethod, Outcome, verdict_from};

/// A start-up problem the admin must fix, worded for them (`key value: what is wrong`).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSetupError(String);

impl HttpSetupError {
    pub(crate) fn new(msg: impl Into<String>) -> HttpSetupError {
        HttpSetupError(msg.into())
    }
}

impl fmt::Display for HttpSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HttpSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpSetupError({:?})", self.0)
    }
}

impl std::error::Error for HttpSetupError {}

/// What one API call came to, after logging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    /// 501: not an outage, so no cache grace.
    Unsupported,
    /// Fault or transport failure: an outage, grace may apply.
    Down,
}

pub struct HttpBackend {
    /// `http_url` as configured (may contain `$host`); validated at start.
    base: String,
    /// `<base>/<method>` per [`ApiMethod`], parsed once, when the base has no `$host`.
    endpoints: Option<Vec<Uri>>,
    check_method: HttpMethod,
    transport: Transport,
    cache: Option<Cache>,
    /// One flag per [`ApiMethod`]: "501" is logged once per method, not per request.
    unsupported_logged: [bool; 5],
    allow_writes: bool,
    write_refusal_logged: bool,
    summary: String,
}

/// Largest credentials file we read.
const MAX_CREDENTIALS_FILE: u64 = 4096;

fn credentials_from_file(path: &Path) -> Result<Vec<u8>, HttpSetupError> {
    let err = |e: &dyn fmt::Display| {
        HttpSetupError::new(format!(
            "http_auth_credentials_file {}: {e}",
            path.display()
        ))
    };
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let meta = f.metadata().map_err(|e| err(&e))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(err(
            &"readable by everyone; chmod o-r it (e.g. 0640 root:prosody)",
        ));
    }
    let mut buf = Vec::new();
    f.take(MAX_CREDENTIALS_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(&e))?;
    if buf.len() as u64 > MAX_CREDENTIALS_FILE {
        return Err(err(&"too large (want one line user:password)"));
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.contains(&b':') {
        return Err(err(&"want user:password on the first line"));
    }
    Ok(line.to_vec())
}

/// Checks `http_url`; returns whether it is https.
fn check_url(url: &str) -> Result<bool, HttpSetupError> {
    // A URL with an `@` may carry a password: then it is not repeated in the message.
    let bad = |why: &str| {
        HttpSetupError::new(if url.contains('@') {
            format!("http_url: {why}")
        } else {
            format!("http_url {url}: {why}")
        })
    };
    let https = if url.starts_with("https://") {
        true
    } else if url.starts_with("http://") {
        false
    } else {
        return Err(bad("want an http:// or https:// url"));
    };
    let authority = url
        .split_once("://")
        .map(|(_, r)| r.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    if authority.contains('@') {
        return Err(bad(
            "credentials in the url are not allowed; use http_auth_credentials_file",
        ));
    }
    if url.contains(['?', '#']) {
        return Err(bad("must not contain a query (?) or fragment (#)"));
    }
    let sample = encode::endpoint(
        &encode::substitute_host(url, b"example.org"),
        "check_password",
    );
    if ureq::http::Uri::try_from(sample.as_str()).is_err() || authority.is_empty() {
        return Err(bad("not a valid url"));
    }
    Ok(https)
}

impl HttpBackend {
    pub fn new(settings: &Settings) -> Result<HttpBackend, HttpSetupError> {
        let http = &settings.http;
        let base = http.url.clone().ok_or_else(|| {
            HttpSetupError::new("http_url: not set (required for backend = http)")
        })?;
        let https = check_url(&base)?;

        let credentials = match (&http.auth_credentials, &http.auth_credentials_file) {
            (Some(_), Some(_)) => {
                return Err(HttpSetupError::new(
                    "http_auth_credentials and http_auth_credentials_file: set only one",
                ));
            }
            (Some(secret), None) => {
                if !secret.0.contains(':') {
                    return Err(HttpSetupError::new(
                        "http_auth_credentials: want user:password",
                    ));
                }
                Some(secret.0.as_bytes().to_vec())
            }
            (None, Some(path)) => Some(credentials_from_file(path)?),
            (None, None) => None,
        };
        let authorization = credentials.as_deref().map(transport::basic_authorization);

        let cache = if http.cache_ttl.is_zero() && http.cache_grace.is_zero() {
            None
        } else {
            let mut key = [0u8; 32];
            crate::hash::random_bytes(&mut key).map_err(|e| {
                HttpSetupError::new(format!(
                    "cache_ttl: cannot get a random cache key from the os: {e}"
                ))
            })?;
            Some(Cache::new(key, http.cache_ttl, http.cache_grace))
        };

        let transport = Transport::new(http, https, authorization)?;

        let method = match http.check_method {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        };
        let cache_words = if cache.is_some() {
            format!(
                "cache {}s, grace {}s",
                http.cache_ttl.as_secs(),
                http.cache_grace.as_secs()
            )
        } else {
            "cache off".to_owned()
        };
        let auth_words = if credentials.is_some() {
            ", basic auth"
        } else {
            ""
        };
        let summary = format!("http {base} ({method}, {cache_words}{auth_words})");

        let endpoints = if base.contains(encode::HOST_PLACEHOLDER) {
            None
        } else {
            let parsed: Result<Vec<Uri>, _> = ApiMethod::ALL
                .iter()
                .map(|m| Uri::try_from(encode::endpoint(&base, m.path())))
                .collect();
            Some(parsed.map_err(|_| HttpSetupError::new("http_url: not a valid url"))?)
        };

        Ok(HttpBackend {
            base,
            endpoints,
            check_method: http.check_method,
            transport,
            cache,
            unsupported_logged: [false; 5],
            allow_writes: settings.allow_writes,
            write_refusal_logged: false,
            summary,
        })
    }

    /// One API call, logged: faults as errors, 501 once per method.
    fn ask(
        &mut self,
        method: ApiMethod,
        user: &[u8],
        host: &[u8],
        pass: Option<&[u8]>,
        deadline: Instant,
    ) -> Answer {
        let uri = match &self.endpoints {
            Some(e) => e[method.index()].clone(),
            None => {
                let base = encode::substitute_host(&self.base, host);
                match Uri::try_from(encode::endpoint(&base, method.path())) {
                    Ok(u) => u,
                    Err(_) => {
                        // Only a `$host` that makes the url invalid can get here; it is
                        // percent-encoded, so not even that, but fail closed anyway.
                        error!("http: {method}: invalid request url for this host");
                        return Answer::Down;
                    }
                }
            }
        };
        let with_pass;
        let pairs: &[(&str, &[u8])] = match pass {
            Some(p) => {
                with_pass = [("user", user), ("server", host), ("pass", p)];
                &with_pass
            }
            None => &[("user", user), ("server", host)],
        };
        let post = !method.is_query() || self.check_method == HttpMethod::Post;
        let at = uri.authority().map_or("", |a| a.as_str());
        match self.transport.request(post, &uri, pairs, deadline) {
            Ok(reply) => match verdict_from(method, reply.status, &reply.body) {
                Outcome::Yes => Answer::Yes,
                Outcome::No => {
                    debug!("http: {method}: no (status {})", reply.status);
                    Answer::No
                }
                Outcome::Unsupported => {
                    let logged = &mut self.unsupported_logged[method.index()];
                    if !*logged {
                        *logged = true;
                        warn!(
                            "http: {method}: not implemented by the api (501) ({at}); answering 0"
                        );
                    }
                    Answer::Unsupported
                }
                Outcome::Fault(f) => {
                    error!("http: {method}: {f} ({at})");
                    Answer::Down
                }
            },
            Err(f) => {
                log_failure(method, &f, at);
                Answer::Down
            }
        }
    }

    fn auth(&mut self, user: &[u8], host: &[u8], pass: &[u8], deadline: Instant) -> Verdict {
        let now = Instant::now();
        if let Some(c) = &self.cache {
            if c.fresh(Kind::Auth, user, host, pass, now) == Some(true) {
                debug!("http: check_password: cache hit");
                return Verdict::Yes;
            }
        }
        let answer = self.ask(ApiMethod::CheckPassword, user, host, Some(pass), deadline);
        self.cached_answer(
            Kind::Auth,
            ApiMethod::CheckPassword,
            answer,
            user,
            host,
            pass,
        )
    }

    fn isuser(&mut self, user: &[u8], host: &[u8], deadline: Instant) -> Verdict {
        let now = Instant::now();
        if let Some(c) = &self.cache {
            if let Some(yes) = c.fresh(Kind::IsUser, user, host, b"", now) {
                debug!("http: user_exists: cache hit");
                return if yes { Verdict::Yes } else { Verdict::No };
            }
        }
        let answer = self.ask(ApiMethod::UserExists, user, host, None, deadline);
        self.cached_answer(Kind::IsUser, ApiMethod::UserExists, answer, user, host, b"")
    }

    /// Records a query's answer in the cache, or answers from it within the grace period.
    fn cached_answer(
        &mut self,
        kind: Kind,
        method: ApiMethod,
        answer: Answer,
        user: &[u8],
        host: &[u8],
        pass: &[u8],
    ) -> Verdict {
        let now = Instant::now();
        let Some(c) = &mut self.cache else {
            return plain(answer);
        };
        match answer {
            Answer::Yes => {
                c.store(kind, user, host, pass, true, now);
                Verdict::Yes
            }
            Answer::No => {
                // For auth this drops a stale success; a no is never stored as yes.
                c.store(kind, user, host, pass, false, now);
                Verdict::No
            }
            Answer::Unsupported => Verdict::Unavailable,
            Answer::Down => match c.grace(kind, user, host, pass, now) {
                Some(age) => {
                    warn!(
                        "http: {method}: api unavailable; answering yes for {}@{} from the cache (success {}s ago, cache_grace {}s)",
                        crate::log::Shown(user),
                        crate::log::Shown(host),
                        age.as_secs(),
                        grace_secs(c)
                    );
                    Verdict::Yes
                }
                None => Verdict::Unavailable,
            },
        }
    }

    /// Writes always go to the API and drop the user's cached answers first.
    fn write(
        &mut self,
        method: ApiMethod,
        user: &[u8],
        host: &[u8],
        pass: Option<&[u8]>,
        deadline: Instant,
    ) -> Verdict {
        if let Some(c) = &mut self.cache {
            c.forget_user(user, host);
        }
        plain(self.ask(method, user, host, pass, deadline))
    }
}

fn grace_secs(c: &Cache) -> u64 {
    c.grace_period().as_secs()
}

fn plain(a: Answer) -> Verdict {
    match a {
        Answer::Yes => Verdict::Yes,
        Answer::No => Verdict::No,
        Answer::Unsupported | Answer::Down => Verdict::Unavailable,
    }
}

fn log_failure(method: ApiMethod, f: &Failure, at: &str) {
    error!("http: {method}: {f} ({at})");
}

/// The HTTP exchange must end a little before the request's deadline, so that the
/// verdict (including a cache-grace yes after a black-holed request) still reaches the
/// server in time: 10% of the time left is held back, at most 200 ms (ureq's timeouts
/// overshoot by a few tens of milliseconds on a loaded machine).
fn http_deadline(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    let reserve = (left / 10).min(Duration::from_millis(200));
    deadline.checked_sub(reserve).unwrap_or(deadline)
}

impl Backend for HttpBackend {
    fn handle(&mut self, request: &Request<'_>, deadline: Instant) -> Verdict {
        let deadline = http_deadline(deadline);
        if request.is_write() && !self.allow_writes {
            if !self.write_refusal_logged {
                self.write_refusal_logged = true;
                warn!(
                    "http: {} refused: writes are disabled (set allow_writes = true to pass them to the api)",
                    request.command()
                );
            }
            return Verdict::Unavailable;
        }
        match *request {
            Request::Auth {
                user,
                host,
                password,
            } => self.auth(user, host, password, deadline),
            Request::IsUser { user, host } => self.isuser(user, host, deadline),
            Request::SetPass {
                user,
                host,
                password,
            } => self.write(ApiMethod::SetPassword, user, host, Some(password), deadline),
            Request::TryRegister {
                user,
                host,
                password,
            } => self.write(ApiMethod::Register, user, host, Some(password), deadline),
            Request::RemoveUser { user, host } => {
                self.write(ApiMethod::RemoveUser, user, host, None, deadline)
            }
            Request::RemoveUser3 {
                user,
                host,
                password,
            } => {
                // Never from the cache: a destructive write needs the API's own yes.
                match self.ask(
                    ApiMethod::CheckPassword,
                    user,
                    host,
                    Some(password),
                    deadline,
                ) {
                    Answer::Yes => {
                        self.write(ApiMethod::RemoveUser, user, host, Some(password), deadline)
                    }
                    a => plain(a),
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.summary.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_deadline_holds_back_a_tenth_at_most_200ms() {
        let now = Instant::now();
        let held = |ms: u64| {
            let d = now + Duration::from_millis(ms);
            d.saturating_duration_since(http_deadline(d))
        };
        let h = held(1000);
        assert!(
            h > Duration::from_millis(90) && h <= Duration::from_millis(100),
            "{h:?}"
        );
        assert_eq!(held(60_000), Duration::from_millis(200));
        assert!(held(0) <= Duration::from_millis(1));
    }

    #[test]
    fn urls() {
        assert_eq!(check_url("https://a.example/x"), Ok(true));
        assert_eq!(check_url("http://127.0.0.1:8080/"), Ok(false));
        assert_eq!(check_url("http://$host/api"), Ok(false));
        assert!(check_url("http:///api").is_err());
        assert!(check_url("HTTP://a/").is_err());
        assert!(check_url("http://a/x#f").is_err());
        assert!(check_url("http://a b/").is_err());
    }
}
