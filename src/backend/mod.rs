//! Where verdicts come from. Backends know nothing of framing; framing knows nothing of
//! backends. `serve` hands each parsed [`Request`] to a `&mut dyn Backend` with the
//! request's deadline and turns the [`Verdict`] into `1` or `0`.

use std::time::Instant;

use crate::request::Request;

pub mod file;
#[cfg(feature = "http")]
pub mod http;

/// Tri-state on purpose: "the backend could not say" must never be confused with "no"
/// in logs, and never with "yes" anywhere. Only [`Verdict::Yes`] answers `1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    No,
    /// The backend could not decide (down, timed out, refused the operation, file
    /// unreadable...). Answered `0`; the backend has already logged why.
    Unavailable,
}

impl Verdict {
    pub fn is_yes(self) -> bool {
        self == Verdict::Yes
    }

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "no",
            Verdict::Unavailable => "unavailable",
        }
    }
}

/// A source of account facts.
///
/// `deadline` is when the server stops waiting: a backend that blocks (HTTP, a slow
/// hash) must return by then, with [`Verdict::Unavailable`] if it has to give up.
/// `serve` answers `0` anyway to a verdict that comes back late.
pub trait Backend {
    fn handle(&mut self, request: &Request<'_>, deadline: Instant) -> Verdict;

    /// Called once before the serving loop starts (not for one-off admin commands): set up
    /// whatever keeps the per-request path cheap.
    fn prepare_to_serve(&mut self) {}

    /// One line for the start-up log, e.g. `file /etc/xmpp-extauth/users (12 entries)`.
    fn describe(&self) -> String;
}
