//! xmpp-extauth: the external authentication helper Prosody (`external_auth_command`) and
//! ejabberd (`extauth_program`) spawn and question over stdin/stdout.
//!
//! # Codemap
//! Data flows one way: bytes -> frame -> request -> backend -> verdict -> reply bytes.
//!
//! - [`wire`]: framing as pure functions over bytes (generic lines, ejabberd 2-byte
//!   lengths, detection from the first byte).
//! - [`request`]: a frame payload -> [`request::Request`] (six commands; everything else `0`).
//! - [`serve`]: the only code that touches stdin/stdout: terminal hygiene, poll with a read
//!   timeout, decode, dispatch under the deadline, one `write()` per batch of replies.
//! - [`backend`]: the [`backend::Backend`] trait and its tri-state [`backend::Verdict`];
//!   `backend::file` (users file) and `backend::http` (mod_auth_http client).
//! - [`hash`]: SHA-crypt and friends, chosen by prefix, verified in constant time.
//! - [`config`], [`cli`]: `/etc/xmpp-extauth.conf` and argv -> validated settings.
//! - [`log`]: syslog / stderr / file logger. [`sys`]: the few raw syscalls.
//!
//! # Invariants (never break these)
//! 1. stdout carries protocol replies and nothing else — not a log line, not a banner, not
//!    help text while serving. Enforced by `clippy::print_stdout = "deny"` outside the one
//!    CLI printer.
//! 2. Fail closed: any error, timeout, unsupported command or malformed input answers `0`.
//! 3. Every reply leaves before the request's deadline (below the server's own timeout), or
//!    is answered `0`; never a late `1`, which could be read as the answer to someone
//!    else's login.
//! 4. A password never appears in a log, an error message, argv, or a panic message
//!    (`Request`'s `Debug` omits it).
//! 5. One request in, exactly one reply out, in order; a malformed frame never
//!    desynchronises the stream. Under a terminal, a request the server has visibly given
//!    up on is skipped, as PROTOCOLS.md §4 requires.
//! 6. The users file is never left half-written: writes are locked, written to a temporary
//!    file in the same directory, fsynced and renamed over the original.
//! 7. No panics on any input (`unwrap`/`expect` only where an invariant proves it safe).
//! 8. Memory stays bounded whatever the input: one request buffer of at most 64 KiB + 2.
//! 9. A change to the users file made before a request was sent is seen by that request
//!    (inotify + SIGIO while serving, a `stat` per request where that is unavailable).

#[macro_use]
pub mod log;

pub mod admin;
pub mod backend;
pub mod cli;
pub mod config;
pub mod demo;
pub mod hash;
pub mod printer;
pub mod prompt;
pub mod request;
pub mod serve;
pub mod sys;
pub mod wire;
