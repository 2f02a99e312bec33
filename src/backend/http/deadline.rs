//! The time bounds of the request in flight, shared with the pieces ureq calls back into
//! (the [resolver](super::resolver), the [TCP connector and transport](super::socket)).
//!
//! Why not ureq's own per-request timeouts: a request-level ureq config makes its rustls
//! connector rebuild the TLS client config (parse the whole CA bundle) for every new
//! connection, costs a config copy per request, and ureq starts the connect budget only
//! after name resolution, which it bounds by the global timeout alone. Here a request sets
//! two instants before it calls ureq:
//! - `connect_by` = start + `http_connect_timeout_ms` (capped by `done_by`) bounds name
//!   resolution, the TCP connect, a proxy's CONNECT and the TLS handshake *together*;
//! - `done_by` (the HTTP deadline) bounds everything.
//!
//! Every wait in those pieces is the smaller of ureq's timeout and ours. Outside a request
//! no bound is set and every wait fails at once: fail closed, never block unbounded. One
//! request at a time per transport: the backend's `handle` takes `&mut self`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The bounds of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub connect_by: Instant,
    pub done_by: Instant,
}

impl Bounds {
    /// Bounds for a request that starts `now`, must end by `done_by`, and may spend at most
    /// `connect` getting a connection.
    pub fn new(now: Instant, connect: Duration, done_by: Instant) -> Bounds {
        let connect_by = now.checked_add(connect).unwrap_or(done_by).min(done_by);
        Bounds {
            connect_by,
            done_by,
        }
    }
}

/// The current request's [`Bounds`], if one is in flight. Cheap to clone (one `Arc`).
#[derive(Clone, Debug, Default)]
pub struct Deadlines(Arc<Mutex<Option<Bounds>>>);

impl Deadlines {
    fn lock(&self) -> MutexGuard<'_, Option<Bounds>> {
        // A poisoned lock still holds a valid Option; panics abort in release anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bounds until the returned guard is dropped.
    pub fn during(&self, bounds: Bounds) -> InFlight<'_> {
        *self.lock() = Some(bounds);
        InFlight(self)
    }

    pub fn get(&self) -> Option<Bounds> {
        *self.lock()
    }

    /// How long a wait that starts `now` may last: until `connect_by` while connecting,
    /// `done_by` otherwise; zero when no request is in flight.
    pub fn left(&self, connecting: bool, now: Instant) -> Duration {
        match self.get() {
            Some(b) => {
                let by = if connecting { b.connect_by } else { b.done_by };
                by.saturating_duration_since(now)
            }
            None => Duration::ZERO,
        }
    }
}

/// Clears the bounds when the request is over.
pub struct InFlight<'a>(&'a Deadlines);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_apply_only_while_in_flight() {
        let d = Deadlines::default();
        let now = Instant::now();
        assert_eq!(d.left(false, now), Duration::ZERO);
        {
            let _g = d.during(Bounds::new(
                now,
                Duration::from_secs(2),
                now + Duration::from_secs(5),
            ));
            assert_eq!(d.left(true, now), Duration::from_secs(2));
            assert_eq!(d.left(false, now), Duration::from_secs(5));
        }
        assert_eq!(d.get(), None);
        assert_eq!(d.left(true, now), Duration::ZERO);
    }

    #[test]
    fn connect_bound_never_past_the_deadline() {
        let now = Instant::now();
        let b = Bounds::new(now, Duration::from_secs(9), now + Duration::from_secs(1));
        assert_eq!(b.connect_by, b.done_by);
        let b = Bounds::new(now, Duration::MAX, now + Duration::from_secs(1));
        assert_eq!(b.connect_by, b.done_by);
    }
}
