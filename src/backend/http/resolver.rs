//! Name resolution for the HTTP backend: once, not once per request.
//!
//! ureq 3.5 resolves the host before *every* request, even one that reuses a pooled
//! connection, and with a timeout it does so on a freshly spawned thread: ~20 of the ~28
//! syscalls a keep-alive request cost. This resolver:
//! - answers an IP-literal host (`http://127.0.0.1:8080/`) without any lookup;
//! - looks a name up once and keeps the answer for [`TTL`], or until a connect to it
//!   fails ([`ResolverHandle::forget`], called by the TCP connector), so an API that moved
//!   is found again at the next request;
//! - bounds each lookup by the request's connect bound ([`Deadlines`]): `getaddrinfo`
//!   cannot be cancelled, so it runs on a helper thread that we stop waiting for; a lookup
//!   still running is waited for by the next request rather than doubled, so a
//!   black-holed DNS server costs one thread, not one per login;
//! - fails closed: no answer in time is a timeout (the login is answered `0`), a failed
//!   lookup is "host not found", and neither is cached.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ureq::config::{Config, IpFamily};
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::deadline::Deadlines;

/// How long a looked-up address is used before the name is looked up again. DNS TTLs are
/// not visible through `getaddrinfo`; a minute follows a moved API soon enough, and a
/// failed connect makes us look again at once anyway.
pub const TTL: Duration = Duration::from_secs(60);
/// Names remembered at once, oldest out first (`https://$host/...` gives one per virtual
/// host; a `$host` in the path alone does not). A hit is a linear scan: keep it small.
const MAX_NAMES: usize = 32;

/// `(host, port) -> addresses`, blocking. The system resolver, or a stand-in in tests.
pub type Lookup = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync;

fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

type Answer = io::Result<Vec<SocketAddr>>;

/// Entries are found by the URL's scheme and authority as written, so that a cache hit
/// needs no parsing; the lookup itself uses host and port.
struct Entry {
    scheme: String,
    authority: String,
    /// Kept in ureq's form: a cache hit is one copy, no allocation.
    addrs: ResolvedSocketAddrs,
    /// `None` for an IP literal: parsed once, never stale.
    at: Option<Instant>,
}

/// A lookup thread whose answer nobody has taken yet.
struct Pending {
    scheme: String,
    authority: String,
    answer: Receiver<Answer>,
}

/// `(scheme, authority)` of a URL.
type Key<'a> = (&'a str, &'a str);

fn key(uri: &Uri) -> Option<Key<'_>> {
    Some((uri.scheme_str()?, uri.authority()?.as_str()))
}

impl Entry {
    fn is(&self, k: Key<'_>) -> bool {
        self.scheme == k.0 && self.authority == k.1
    }
}

impl Pending {
    fn is(&self, k: Key<'_>) -> bool {
        self.scheme == k.0 && self.authority == k.1
    }
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    pending: Option<Pending>,
}

struct Shared {
    deadlines: Deadlines,
    ttl: Duration,
    lookup: Arc<Lookup>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, k: Key<'_>, now: Instant) -> Option<ResolvedSocketAddrs> {
        let st = self.lock();
        let e = st.entries.iter().find(|e| e.is(k))?;
        let fresh =
            e.at.is_none_or(|at| now.saturating_duration_since(at) < self.ttl);
        fresh.then(|| e.addrs.clone())
    }

    /// Remembers `addrs` (at most ureq's 16) for `k`; a literal never expires.
    fn store(&self, k: Key<'_>, addrs: &[SocketAddr], literal: bool) {
        let kept = resolved(addrs);
        let mut st = self.lock();
        st.entries.retain(|e| !e.is(k));
        if st.entries.len() >= MAX_NAMES {
            // Oldest first out.
            st.entries.remove(0);
        }
        st.entries.push(Entry {
            scheme: k.0.to_owned(),
            authority: k.1.to_owned(),
            addrs: kept,
            at: (!literal).then(Instant::now),
        });
    }

    /// The answer channel of a lookup for `k` (`host:port`): the one already running, or
    /// a new thread. `None` when another name's lookup still runs (at most one thread).
    fn lookup_channel(
        &self,
        k: Key<'_>,
        host: &str,
        port: u16,
    ) -> io::Result<Option<Receiver<Answer>>> {
        let mut st = self.lock();
        if let Some(p) = st.pending.take() {
            if p.is(k) {
                return Ok(Some(p.answer));
            }
            match p.answer.try_recv() {
                // Finished: remember its answer for its own next request, start ours.
                Ok(Ok(addrs)) if !addrs.is_empty() => {
                    drop(st);
                    self.store((&p.scheme, &p.authority), &addrs, false);
                    st = self.lock();
                }
                Ok(_) | Err(TryRecvError::Disconnected) => {}
                Err(TryRecvError::Empty) => {
                    st.pending = Some(p);
                    return Ok(None);
                }
            }
        }
        drop(st);
        let (tx, rx) = mpsc::sync_channel(1);
        let lookup = self.lookup.clone();
        let (h, p) = (host.to_owned(), port);
        std::thread::Builder::new()
            .name("resolve".to_owned())
            .spawn(move || {
                let _ = tx.send(lookup(&h, p));
            })?;
        Ok(Some(rx))
    }

    fn look_up(
        &self,
        k: Key<'_>,
        host: &str,
        port: u16,
        limit: Duration,
    ) -> Result<Vec<SocketAddr>, ureq::Error> {
        let timeout = ureq::Error::Timeout(ureq::Timeout::Resolve);
        if limit.is_zero() {
            return Err(timeout);
        }
        let Some(rx) = self
            .lookup_channel(k, host, port)
            .map_err(ureq::Error::Io)?
        else {
            return Err(timeout);
        };
        match rx.recv_timeout(limit) {
            Ok(Ok(addrs)) if !addrs.is_empty() => {
                self.store(k, &addrs, false);
                Ok(addrs)
            }
            Ok(_) | Err(RecvTimeoutError::Disconnected) => Err(ureq::Error::HostNotFound),
            Err(RecvTimeoutError::Timeout) => {
                // Still running: the next request waits for this one instead of another.
                let mut st = self.lock();
                if st.pending.is_none() {
                    st.pending = Some(Pending {
                        scheme: k.0.to_owned(),
                        authority: k.1.to_owned(),
                        answer: rx,
                    });
                }
                Err(timeout)
            }
        }
    }
}

/// The first 16 of `addrs` (ureq's list has a fixed capacity).
fn resolved(addrs: &[SocketAddr]) -> ResolvedSocketAddrs {
    let mut out = ResolvedSocketAddrs::from_fn(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    for a in addrs {
        if out.try_push(*a).is_err() {
            break;
        }
    }
    out
}

/// The resolver of the transport (and of ureq's CONNECT-proxy connector).
pub struct CachingResolver(Arc<Shared>);

/// Lets the connector drop a name whose addresses did not answer.
#[derive(Clone)]
pub struct ResolverHandle(Arc<Shared>);

impl CachingResolver {
    pub fn new(deadlines: Deadlines) -> CachingResolver {
        CachingResolver::with_lookup(deadlines, TTL, Arc::new(system_lookup))
    }

    pub fn with_lookup(deadlines: Deadlines, ttl: Duration, lookup: Arc<Lookup>) -> Self {
        CachingResolver(Arc::new(Shared {
            deadlines,
            ttl,
            lookup,
            state: Mutex::default(),
        }))
    }

    pub fn handle(&self) -> ResolverHandle {
        ResolverHandle(self.0.clone())
    }
}

impl ResolverHandle {
    /// Forgets the addresses of `uri`'s host: the next request looks it up again.
    pub fn forget(&self, uri: &Uri) {
        if let Some(k) = key(uri) {
            self.0.lock().entries.retain(|e| !e.is(k));
        }
    }
}

/// Host (without IPv6 brackets) and port, the scheme's default port if none is given.
fn host_port(uri: &Uri) -> Option<(&str, u16)> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(p), _) => p,
        (None, Some("https")) => 443,
        (None, Some("http")) => 80,
        _ => return None,
    };
    Some((host, port))
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let k = key(uri).ok_or(ureq::Error::HostNotFound)?;
        let now = Instant::now();
        let addrs = match self.0.cached(k, now) {
            Some(a) => a,
            None => {
                let (host, port) = host_port(uri).ok_or(ureq::Error::HostNotFound)?;
                if let Ok(ip) = host.parse::<IpAddr>() {
                    let a = [SocketAddr::new(ip, port)];
                    self.0.store(k, &a, true);
                    resolved(&a)
                } else {
                    let limit = self.0.deadlines.left(true, now).min(*timeout.after);
                    resolved(&self.0.look_up(k, host, port, limit)?)
                }
            }
        };
        if config.ip_family() == IpFamily::Any {
            return Ok(addrs);
        }
        let mut out = self.empty();
        for a in config.ip_family().keep_wanted(addrs.iter().copied()) {
            out.push(a);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

impl fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingResolver").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::deadline::Bounds;
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn timeout() -> NextTimeout {
        NextTimeout::default()
    }

    /// A lookup that counts its calls and answers 192.0.2.N for the Nth call.
    fn counting() -> (Arc<AtomicUsize>, Arc<Lookup>) {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let f = move |_: &str, port: u16| {
            let k = c.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(vec![SocketAddr::new(
                IpAddr::from([192, 0, 2, k as u8]),
                port,
            )])
        };
        (n, Arc::new(f))
    }

    fn in_flight(d: &Deadlines, ms: u64) -> super::super::deadline::InFlight<'_> {
        let now = Instant::now();
        d.during(Bounds::new(
            now,
            Duration::from_millis(ms),
            now + Duration::from_millis(ms),
        ))
    }

    fn first(r: &CachingResolver, u: &str) -> Result<SocketAddr, ureq::Error> {
        r.resolve(&uri(u), &Config::default(), timeout())
            .map(|a| a[0])
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let d = Deadlines::default();
        let (n, f) = counting();
        let r = CachingResolver::with_lookup(d.clone(), TTL, f);
        // Not even a deadline is needed.
        assert_eq!(
            first(&r, "http://127.0.0.1:8390/a").unwrap(),
            "127.0.0.1:8390".parse().unwrap()
        );
        assert_eq!(
            first(&r, "https://[::1]/a").unwrap(),
            "[::1]:443".parse().unwrap()
        );
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_name_is_looked_up_once_within_the_ttl() {
        let d = Deadlines::default();
        let (n, f) = counting();
        let r = CachingResolver::with_lookup(d.clone(), TTL, f);
        let _g = in_flight(&d, 5000);
        for _ in 0..5 {
            assert_eq!(
                first(&r, "http://api.example:81/x").unwrap(),
                "192.0.2.1:81".parse().unwrap()
            );
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Another port of the same name is another entry.
        assert_eq!(first(&r, "http://api.example/x").unwrap().port(), 80);
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn expired_names_are_looked_up_again() {
        let d = Deadlines::default();
        let (n, f) = counting();
        let r = CachingResolver::with_lookup(d.clone(), Duration::ZERO, f);
        let _g = in_flight(&d, 5000);
        first(&r, "http://api.example/").unwrap();
        let again = first(&r, "http://api.example/").unwrap();
        assert_eq!(again, "192.0.2.2:80".parse().unwrap());
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_connect_makes_the_next_request_look_again() {
        let d = Deadlines::default();
        let (n, f) = counting();
        let r = CachingResolver::with_lookup(d.clone(), TTL, f);
        let _g = in_flight(&d, 5000);
        first(&r, "http://api.example/").unwrap();
        r.handle().forget(&uri("http://api.example/other"));
        assert_eq!(
            first(&r, "http://api.example/").unwrap(),
            "192.0.2.2:80".parse().unwrap()
        );
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn failures_are_host_not_found_and_not_cached() {
        let d = Deadlines::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let f = move |_: &str, _: u16| -> Answer {
            c.fetch_add(1, Ordering::SeqCst);
            Err(io::Error::other("no such name"))
        };
        let r = CachingResolver::with_lookup(d.clone(), TTL, Arc::new(f));
        let _g = in_flight(&d, 5000);
        for _ in 0..2 {
            assert!(matches!(
                first(&r, "http://nowhere.example/"),
                Err(ureq::Error::HostNotFound)
            ));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn no_request_in_flight_no_lookup() {
        let d = Deadlines::default();
        let (n, f) = counting();
        let r = CachingResolver::with_lookup(d, TTL, f);
        assert!(matches!(
            first(&r, "http://api.example/"),
            Err(ureq::Error::Timeout(ureq::Timeout::Resolve))
        ));
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }

    /// A lookup that hangs (a black-holed DNS server) ends the request at its connect
    /// bound; the next request waits for the same lookup instead of starting another, and
    /// gets its answer once it comes.
    #[test]
    fn a_hanging_lookup_is_bounded_and_never_doubled() {
        let d = Deadlines::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let c = calls.clone();
        let f = move |_: &str, port: u16| -> Answer {
            c.fetch_add(1, Ordering::SeqCst);
            let _ = gate.lock().unwrap().recv();
            Ok(vec![SocketAddr::new(IpAddr::from([192, 0, 2, 9]), port)])
        };
        let r = CachingResolver::with_lookup(d.clone(), TTL, Arc::new(f));
        for _ in 0..3 {
            let _g = in_flight(&d, 100);
            let t = Instant::now();
            assert!(matches!(
                first(&r, "http://slow.example/"),
                Err(ureq::Error::Timeout(ureq::Timeout::Resolve))
            ));
            // Bounded: returns at the connect bound (generous margin for a loaded machine).
            assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        }
        // Another name while the hung lookup runs: refused at once, no second thread.
        {
            let _g = in_flight(&d, 100);
            assert!(first(&r, "http://other.example/").is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        let _g = in_flight(&d, 5000);
        assert_eq!(
            first(&r, "http://slow.example/").unwrap(),
            "192.0.2.9:80".parse().unwrap()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
