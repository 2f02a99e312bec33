//! Our TCP connector and transport for ureq: what ureq's own do, in fewer syscalls.
//!
//! ureq 3.5's `TcpTransport` costs ~10 syscalls per keep-alive request against wrk's 2:
//! it sets `SO_RCVTIMEO`/`SO_SNDTIMEO` whenever the timeout differs from the last one
//! (every request: the time left shrinks), and it checks that a pooled connection is
//! still open (twice per request) with `ioctl(FIONBIO)` + `read` + `ioctl(FIONBIO)`.
//! Here:
//! - liveness is one `recv(MSG_PEEK | MSG_DONTWAIT)`: would block = open; end of stream,
//!   an error or unexpected bytes = not reusable (as ureq decides). ureq asks twice in a
//!   row (when the connection goes back to the pool and when it is taken again): the
//!   second answer is the first one if it is under [`RECHECK_AFTER`] old with no I/O
//!   since, as a server closing in that gap is the same race as one closing between the
//!   probe and the request;
//! - the socket timeout is changed only when the one in force is longer than the time
//!   left (it could overshoot the deadline) or much shorter (it would wake us for
//!   nothing); a wait that the socket timeout ends early is resumed for the rest of the
//!   time ([`retime`]). Each wait is bounded by the request's [`Deadlines`] as well as
//!   by ureq's timeout, so no wait can outlive the request, even one ureq has no timeout
//!   for;
//! - `TCP_NODELAY` (the request is one small write, never delay it), as ureq does;
//! - connecting tries the resolved addresses in order, each with a share of the connect
//!   bound (half of what is left, the last one all of it), and tells the resolver to look
//!   the name up again when none answers.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::Timeout;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

use super::deadline::Deadlines;
use super::resolver::ResolverHandle;

/// A liveness probe younger than this, with no I/O since, is not repeated.
const RECHECK_AFTER: Duration = Duration::from_millis(1);

/// Shortest share of the connect bound one address gets when there are several.
const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);

/// Opens plain TCP connections (the first link of the chain; TLS goes on top).
pub struct TcpConnector {
    deadlines: Deadlines,
    resolver: ResolverHandle,
}

impl TcpConnector {
    pub fn new(deadlines: Deadlines, resolver: ResolverHandle) -> TcpConnector {
        TcpConnector {
            deadlines,
            resolver,
        }
    }
}

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(t) = chained {
            // A proxy's CONNECT tunnel, opened by an earlier link.
            return Ok(Some(Either::A(t)));
        }
        let started = Instant::now();
        let limit = self
            .deadlines
            .left(true, started)
            .min(*details.timeout.after);
        let stream = match connect_any(&details.addrs, started, limit) {
            Ok(s) => s,
            Err(e) => {
                self.resolver.forget(details.uri);
                return Err(e);
            }
        };
        stream.set_nodelay(true)?;
        let config = details.config;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        let transport = TcpTransport::new(stream, buffers, self.deadlines.clone());
        (details.register_shutdown)(transport.shutdown_handle())?;
        Ok(Some(Either::B(transport)))
    }
}

/// Errors after which the next address may still answer (as ureq decides).
fn is_per_address(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::TimedOut
            | io::ErrorKind::WouldBlock
    )
}

fn connect_any(
    addrs: &[SocketAddr],
    started: Instant,
    limit: Duration,
) -> Result<TcpStream, ureq::Error> {
    let timed_out = || ureq::Error::Timeout(Timeout::Connect);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(timed_out());
        }
        let share = if i + 1 == addrs.len() {
            left
        } else {
            (left / 2).max(MIN_PER_ADDRESS).min(left)
        };
        match TcpStream::connect_timeout(addr, share) {
            Ok(s) => return Ok(s),
            Err(e) if is_per_address(&e) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match last {
        Some(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            Err(timed_out())
        }
        Some(e) => Err(e.into()),
        None => Err(ureq::Error::HostNotFound),
    }
}

/// The socket timeout to set for a wait of at most `limit`, or `None` if `current` (the
/// one in force) will do: it must not be longer than `limit` (the wait could outlive the
/// deadline) and should not be much shorter (it would end the wait early, costing a
/// resume). A new one is 7/8 of `limit` in whole milliseconds, so that the next requests,
/// whose time left is about the same, keep it: one `setsockopt` per connection in the
/// steady state instead of two per request.
pub fn retime(current: Option<Duration>, limit: Duration) -> Option<Duration> {
    if let Some(c) = current {
        if c <= limit && c >= limit / 2 {
            return None;
        }
    }
    let ms = Duration::from_millis((limit * 7 / 8).as_millis() as u64);
    // Never zero: a zero socket timeout means "wait forever".
    Some(if ms.is_zero() { limit } else { ms })
}

/// Which socket timeout.
#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

/// A connected TCP socket with ureq's buffers.
pub struct TcpTransport {
    /// Shared (weakly) with ureq's shutdown handle, as ureq's own transport does.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    deadlines: Deadlines,
    /// `SO_RCVTIMEO` / `SO_SNDTIMEO` as last set (`None`: never set, blocking).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// When a probe last found the connection open, if no I/O happened since.
    open_at: Option<Instant>,
}

impl TcpTransport {
    pub fn new(stream: TcpStream, buffers: LazyBuffers, deadlines: Deadlines) -> TcpTransport {
        TcpTransport {
            stream: Arc::new(stream),
            buffers,
            deadlines,
            read_timeout: None,
            write_timeout: None,
            open_at: None,
        }
    }

    fn shutdown_handle(&self) -> Weak<dyn ShutdownHandle> {
        Arc::downgrade(&self.stream) as Weak<dyn ShutdownHandle>
    }

    /// How long this wait may last: ureq's timeout and the request's bound (the connect
    /// bound while connecting, i.e. during a TLS handshake or a proxy's CONNECT).
    fn limit(&self, timeout: NextTimeout, now: Instant) -> Result<Duration, ureq::Error> {
        let connecting = timeout.reason == Timeout::Connect;
        let limit = self.deadlines.left(connecting, now).min(*timeout.after);
        if limit.is_zero() {
            Err(ureq::Error::Timeout(timeout.reason))
        } else {
            Ok(limit)
        }
    }
}

/// Makes the socket timeout fit a wait of at most `limit` (see [`retime`]).
fn fit(
    stream: &TcpStream,
    dir: Dir,
    current: &mut Option<Duration>,
    limit: Duration,
) -> io::Result<()> {
    if let Some(t) = retime(*current, limit) {
        match dir {
            Dir::Read => stream.set_read_timeout(Some(t))?,
            Dir::Write => stream.set_write_timeout(Some(t))?,
        }
        *current = Some(t);
    }
    Ok(())
}

/// A wait the socket timeout (or a signal) ended early: try again for the time left.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.open_at = None;
        let timeout = timeout.for_write();
        let started = Instant::now();
        let limit = self.limit(timeout, started)?;
        let output = &self.buffers.output()[..amount];
        let mut sent = 0;
        while sent < amount {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            fit(&self.stream, Dir::Write, &mut self.write_timeout, left)?;
            match (&*self.stream).write(&output[sent..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => sent += n,
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.open_at = None;
        let timeout = timeout.for_read();
        let started = Instant::now();
        let limit = self.limit(timeout, started)?;
        loop {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            fit(&self.stream, Dir::Read, &mut self.read_timeout, left)?;
            match (&*self.stream).read(self.buffers.input_append_buf()) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        if let Some(at) = self.open_at.take() {
            if at.elapsed() < RECHECK_AFTER {
                return true;
            }
        }
        let open = probe(&self.stream);
        if open {
            self.open_at = Some(Instant::now());
        }
        open
    }
}

/// Whether a connection can carry another request: nothing to read and not closed. One
/// non-blocking peek, leaving the socket's blocking mode alone.
fn probe(stream: &TcpStream) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: a valid socket descriptor and a one-byte buffer we own.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            // 0: the server closed; > 0: bytes nobody asked for.
            return false;
        }
        match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock => return true,
            io::ErrorKind::Interrupted => continue,
            _ => return false,
        }
    }
}

impl fmt::Debug for TcpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnector").finish()
    }
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::deadline::Bounds;
    use super::*;
    use std::net::TcpListener;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn socket_timeout_kept_while_it_fits() {
        // First wait: set, 7/8 of the limit in whole ms.
        assert_eq!(retime(None, ms(3800)), Some(ms(3325)));
        // The next requests have about the same time left: kept.
        for left in [3800, 3799, 3500, 4000, 6000] {
            assert_eq!(retime(Some(ms(3325)), ms(left)), None, "{left}");
        }
        // Longer than the time left: could overshoot the deadline, so lowered.
        assert_eq!(retime(Some(ms(3325)), ms(3000)), Some(ms(2625)));
        // Much shorter than the time left: raised.
        assert_eq!(retime(Some(ms(5)), ms(3800)), Some(ms(3325)));
        // Under a millisecond left: exactly that, never zero (= no timeout at all).
        let tiny = Duration::from_micros(300);
        assert_eq!(retime(None, tiny), Some(tiny));
    }

    /// A connected pair: our transport on one end, the server's socket on the other.
    fn pair(d: &Deadlines) -> (TcpTransport, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (
            TcpTransport::new(c, LazyBuffers::new(1024, 1024), d.clone()),
            s,
        )
    }

    fn next(reason: Timeout) -> NextTimeout {
        NextTimeout {
            reason,
            ..NextTimeout::default()
        }
    }

    fn in_flight(
        d: &Deadlines,
        connect_ms: u64,
        done_ms: u64,
    ) -> super::super::deadline::InFlight<'_> {
        let now = Instant::now();
        d.during(Bounds::new(now, ms(connect_ms), now + ms(done_ms)))
    }

    #[test]
    fn liveness_probe() {
        let d = Deadlines::default();
        let (mut t, mut s) = pair(&d);
        assert!(t.is_open(), "idle connection");
        s.write_all(b"x").unwrap();
        std::thread::sleep(ms(20));
        assert!(!t.is_open(), "unexpected bytes: not reusable");
        let (mut t, s) = pair(&d);
        drop(s);
        std::thread::sleep(ms(20));
        assert!(!t.is_open(), "closed by the server");
    }

    #[test]
    fn a_fresh_probe_is_not_repeated_but_an_old_one_is() {
        let d = Deadlines::default();
        let (mut t, s) = pair(&d);
        assert!(t.is_open());
        drop(s);
        std::thread::sleep(ms(20));
        // The first probe is 20 ms old: probed again, and the close is seen.
        assert!(!t.is_open());
        let (mut t, s) = pair(&d);
        // As if just probed, however slow this machine is.
        t.open_at = Some(Instant::now() + Duration::from_secs(3600));
        drop(s);
        // Within RECHECK_AFTER of a probe and no I/O since: its answer stands, once.
        assert!(t.is_open());
        std::thread::sleep(ms(20));
        assert!(!t.is_open());
    }

    #[test]
    fn round_trip_sets_the_socket_timeout_once() {
        let d = Deadlines::default();
        let (mut t, mut s) = pair(&d);
        for i in 0..3u8 {
            let _g = in_flight(&d, 2000, 4000);
            t.buffers().output()[0] = b'a' + i;
            t.transmit_output(1, next(Timeout::SendRequest)).unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            assert_eq!(b[0], b'a' + i);
            s.write_all(&[b'A' + i]).unwrap();
            assert!(t.await_input(next(Timeout::RecvResponse)).unwrap());
            assert_eq!(t.buffers().input(), &[b'A' + i]);
            t.buffers().input_consume(1);
        }
        // Bounded by the request (4 s), not ureq's "no timeout": 7/8 of ~4 s, set once.
        let r = t.read_timeout.unwrap();
        assert!(r > ms(3000) && r <= ms(3500), "{r:?}");
        // As the kernel has it (rounded up to its clock tick).
        let k = t.stream.read_timeout().unwrap().unwrap();
        assert!(k >= r && k < r + ms(20), "{k:?} vs {r:?}");
    }

    #[test]
    fn waits_end_at_the_request_bound_and_connecting_at_the_connect_bound() {
        let d = Deadlines::default();
        let (mut t, _s) = pair(&d);
        // A silent server: ureq gives no timeout, the request bound (300 ms) ends it.
        let _g = in_flight(&d, 100, 300);
        let started = Instant::now();
        let e = t.await_input(next(Timeout::RecvResponse)).unwrap_err();
        assert!(
            matches!(e, ureq::Error::Timeout(Timeout::RecvResponse)),
            "{e:?}"
        );
        let took = started.elapsed();
        assert!(took >= ms(250) && took < ms(3000), "{took:?}");
        // During a TLS handshake (reason Connect) the connect bound applies.
        let (mut t, _s) = pair(&d);
        let started = Instant::now();
        let e = t.await_input(next(Timeout::Connect)).unwrap_err();
        assert!(matches!(e, ureq::Error::Timeout(Timeout::Connect)), "{e:?}");
        assert!(started.elapsed() < ms(250), "{:?}", started.elapsed());
    }

    #[test]
    fn no_request_in_flight_nothing_waits() {
        let d = Deadlines::default();
        let (mut t, _s) = pair(&d);
        assert!(matches!(
            t.await_input(next(Timeout::RecvResponse)),
            Err(ureq::Error::Timeout(_))
        ));
        assert!(matches!(
            t.transmit_output(1, next(Timeout::SendRequest)),
            Err(ureq::Error::Timeout(_))
        ));
    }

    /// A connect that fails makes the resolver look the name up again at the next request
    /// (an API that moved to another address is found without a restart).
    #[test]
    fn a_failed_connect_drops_the_cached_name() {
        use super::super::resolver::CachingResolver;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use ureq::config::Config;
        use ureq::http::Uri;
        use ureq::unversioned::resolver::Resolver;
        use ureq::unversioned::transport::time;

        let dead = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let lookups = Arc::new(AtomicUsize::new(0));
        let n = lookups.clone();
        let lookup = move |_: &str, _: u16| {
            n.fetch_add(1, Ordering::SeqCst);
            Ok(vec![dead])
        };
        let d = Deadlines::default();
        let resolver =
            CachingResolver::with_lookup(d.clone(), Duration::from_secs(3600), Arc::new(lookup));
        let connector = TcpConnector::new(d.clone(), resolver.handle());
        let config = Config::default();
        let uri: Uri = "http://api.example/x".parse().unwrap();
        let _g = in_flight(&d, 2000, 4000);
        let resolve = || {
            resolver
                .resolve(&uri, &config, NextTimeout::default())
                .unwrap()
        };
        let addrs = resolve();
        assert_eq!(resolve()[0], dead, "cached");
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        let details = ConnectionDetails {
            uri: &uri,
            addrs,
            config: &config,
            request_level: false,
            resolver: &resolver,
            now: time::Instant::now(),
            timeout: NextTimeout {
                reason: Timeout::Connect,
                ..NextTimeout::default()
            },
            current_time: Arc::new(time::Instant::now),
            run_connector: Arc::new(|_| Err(ureq::Error::ConnectionFailed)),
            register_shutdown: Arc::new(|_| Ok(())),
        };
        let r = Connector::<()>::connect(&connector, &details, None);
        assert!(
            matches!(r, Err(ureq::Error::Io(ref e)) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{r:?}"
        );
        resolve();
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "looked up again");
    }

    #[test]
    fn connect_tries_the_next_address_and_is_bounded() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap();
        // A port nobody listens on: refused, then the next address answers.
        let dead = {
            let x = TcpListener::bind("127.0.0.1:0").unwrap();
            x.local_addr().unwrap()
        };
        let s = connect_any(&[dead, good], Instant::now(), ms(2000)).unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        assert!(matches!(
            connect_any(&[dead], Instant::now(), ms(2000)),
            Err(ureq::Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused
        ));
        assert!(matches!(
            connect_any(&[good], Instant::now(), Duration::ZERO),
            Err(ureq::Error::Timeout(Timeout::Connect))
        ));
    }
}
