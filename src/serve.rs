//! The serving loop: the only code that reads requests and writes replies.
//!
//! Generic over [`Input`] (poll + read) and [`std::io::Write`], with a `&mut dyn Backend`,
//! so the whole loop runs in memory in tests. Single thread, blocking, no runtime.
//!
//! Rules that come from what real servers do (PROTOCOLS.md):
//! - replies are whole: a batch of complete replies goes out in one `write()`, flushed at
//!   once, never a reply split across writes;
//! - one reply per request, in order; malformed frames get `0`;
//! - under a terminal (Prosody's pty) the first request is left unanswered (the pty may
//!   have echoed it back to the server, which took the echo as the reply), and a request
//!   the server has visibly given up on (more input already waiting) is skipped, so replies
//!   never run one behind;
//! - a reply that would leave after its request's deadline is answered `0`; under a
//!   terminal it is not answered at all, because a late reply to a server that gave up
//!   would be read as the answer to the next login.
//!
//! Clock reads: one per `read()` (the arrival time, and so the deadline, of every request
//! that read completes), one before each `write()` (the deadline check, done where the
//! replies actually leave, so it also covers the time a reply waited in the batch), and
//! one per [`CLOCK_EVERY`] backend calls to flush a batch that grew old behind slow calls.
//! A clock read costs ~20 ns in a VM (`clock_gettime` through the vDSO): per request it
//! was as much as the whole table lookup.

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Verdict};
use crate::config::ProtocolChoice;
use crate::log::Shown;
use crate::request::{self, Invalid, Request};
use crate::sys::{self, Readiness};
use crate::wire::{Decoder, Event, Malformed, Protocol};

/// Input buffer: one maximal ejabberd frame (2 + 65535 bytes) or generic line
/// (64 KiB + CR LF), plus room for the next read.
const BUF_SIZE: usize = 2 + 65535 + 4096;
/// Pending replies are written once this long has passed since the read they came from
/// (checked every [`CLOCK_EVERY`] backend calls): slow calls (hashing, HTTP) must not hold
/// back the replies of earlier requests.
const BATCH_AGE: Duration = Duration::from_millis(1);
/// Backend calls between two clock reads for the batch age. Only liveness depends on it:
/// after a slow call the next write may come up to this many calls late, and the deadline
/// check at the write then answers what is late `0`. Correctness never does.
pub const CLOCK_EVERY: u32 = 16;
/// Pending replies are written once they fill this many bytes.
const BATCH_BYTES: usize = 4096;

/// How the loop behaves; built from the settings by `main`.
#[derive(Clone, Debug)]
pub struct Options {
    pub protocol: ProtocolChoice,
    /// Exit when no byte arrives for this long (`None`: wait forever).
    pub read_timeout: Option<Duration>,
    /// Per-request deadline, counted from the read that completed the request.
    pub deadline: Duration,
    /// stdin is a terminal (Prosody): skip rules apply.
    pub tty: bool,
    /// Leave the first request unanswered (under a terminal when nothing was queued at
    /// start: see `main::serve_main`; the server may have read the pty's echo of it).
    pub drop_first: bool,
}

/// Why serving stopped. All but [`End::Error`] are a normal end (exit 0): the server closed
/// the stream, or a restart by the server is the best way on.
#[derive(Debug)]
pub enum End {
    /// stdin reached end of file.
    Eof,
    /// The terminal hung up (EIO / POLLHUP): the server is gone.
    HangUp,
    /// No input for `read_timeout`.
    ReadTimeout,
    /// stdout is closed (EPIPE): the server is gone.
    OutputClosed,
    /// An unexpected IO error.
    Error(io::Error),
}

impl End {
    pub fn is_normal(&self) -> bool {
        !matches!(self, End::Error(_))
    }
}

/// The source of request bytes: poll with a timeout, then read.
pub trait Input {
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Readiness>;
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// True if more input is waiting right now (only asked under a terminal).
    fn pending(&mut self) -> bool;
}

/// A file descriptor (stdin).
pub struct FdInput(pub RawFd);

impl Input for FdInput {
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Readiness> {
        sys::wait_readable(self.0, timeout)
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read_fd(self.0, buf)
    }
    fn pending(&mut self) -> bool {
        sys::input_pending(self.0)
    }
}

/// A file descriptor (stdout), written with raw `write(2)`: no userspace buffer that could
/// split or hold back a reply.
pub struct FdOutput(pub RawFd);

impl Write for FdOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::write_all_fd(self.0, buf).map(|_| buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        sys::write_all_fd(self.0, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serves until the input ends. Returns why it stopped.
pub fn serve(
    input: &mut dyn Input,
    output: &mut dyn Write,
    backend: &mut dyn Backend,
    opts: &Options,
) -> End {
    let mut s = Server {
        backend,
        opts,
        out: Box::new([0; BATCH_BYTES + 4]),
        out_len: 0,
        protocol: Protocol::Generic,
        deadline: Instant::now(),
        flush_at: Instant::now(),
        calls: 0,
        first_request_seen: !opts.drop_first,
        burst_tainted: false,
    };
    let mut buf = vec![0u8; BUF_SIZE];
    let mut len = 0usize;
    let mut decoder: Option<Decoder> = match opts.protocol {
        ProtocolChoice::Auto => None,
        ProtocolChoice::Generic => Some(Decoder::new(Protocol::Generic)),
        ProtocolChoice::Ejabberd => Some(Decoder::new(Protocol::Ejabberd)),
    };

    loop {
        // With no read timeout a blocking read() alone does the job: a poll() first would
        // cost one more syscall per round trip (~0.3 µs of a ~2 µs pipe round trip).
        let ready = match opts.read_timeout {
            None => Ok(Readiness::Readable),
            Some(_) => input.wait(opts.read_timeout),
        };
        match ready {
            Ok(Readiness::Readable) | Ok(Readiness::HangUp) => {}
            Ok(Readiness::TimedOut) => {
                if decoder.as_ref().is_some_and(|d| d.in_partial(len)) {
                    warn!("a partial request stalled for the read timeout: discarded");
                }
                info!(
                    "no input for {:?}: exiting",
                    opts.read_timeout.unwrap_or_default()
                );
                return End::ReadTimeout;
            }
            Err(e) => return End::Error(e),
        }
        let n = match input.read(&mut buf[len..]) {
            Ok(n) => n,
            // A pty whose other side is gone reads EIO.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                info!("input hung up: exiting");
                return End::HangUp;
            }
            Err(e) => return End::Error(e),
        };
        if n == 0 {
            if decoder.as_ref().is_some_and(|d| d.in_partial(len)) {
                info!("end of input in the middle of a request: discarded");
            }
            debug!("end of input: exiting");
            return End::Eof;
        }
        // One clock read per read(): every request this read completes shares its arrival
        // time and so its deadline. The batch is empty here (flushed after every read).
        let arrival = Instant::now();
        s.deadline = arrival + opts.deadline;
        s.flush_at = arrival + BATCH_AGE;
        s.calls = 0;
        len += n;
        let decoder = decoder.get_or_insert_with(|| {
            let p = Protocol::detect(buf[0]);
            info!("protocol {} (detected from the first byte)", p.name());
            Decoder::new(p)
        });
        s.protocol = decoder.protocol();

        let mut start = 0;
        loop {
            let step = decoder.next(&buf[start..len]);
            let consumed = step.consumed;
            if let Some(event) = step.event {
                // Under a terminal, anything after this request already in our buffer means
                // the server gave up on it: Prosody never sends N+1 before finishing N.
                let more_buffered = start + consumed < len;
                if let Err(end) = s.on_event(event, arrival, more_buffered, input, output) {
                    return end;
                }
            }
            start += consumed;
            if consumed == 0 {
                break;
            }
        }
        buf.copy_within(start..len, 0);
        // Consumed requests held passwords: wipe what the move did not overwrite (before
        // the replies go out), so a password does not sit in memory until the next request
        // happens to cover it.
        buf[len - start..len].fill(0);
        len -= start;
        if let Err(end) = s.flush(output) {
            return end;
        }
        if s.burst_tainted && len == 0 && !input.pending() {
            s.burst_tainted = false; // the burst is over: nothing partial, nothing waiting
        }
    }
}

/// Commands servers send that we do not serve: named in the log when they arrive. Any other
/// unknown command word is not shown (it may be part of a password).
const KNOWN_UNSERVED: &[&[u8]] = &[b"certauth"];

/// The command word of a request (up to the first `:`), at most 32 bytes, for the log.
fn command_word(payload: &[u8]) -> &[u8] {
    let word = payload.split(|&b| b == b':').next().unwrap_or_default();
    &word[..word.len().min(32)]
}

struct Server<'a> {
    backend: &'a mut dyn Backend,
    opts: &'a Options,
    /// Replies decoded from one read, written together (fixed size: one reply past
    /// `BATCH_BYTES`; `out_len` bytes are in use).
    out: Box<[u8; BATCH_BYTES + 4]>,
    out_len: usize,
    /// The stream's framing (every reply in `out` is `protocol.reply(_)`).
    protocol: Protocol,
    /// Deadline of every request of the current read, so of every reply in `out`.
    deadline: Instant,
    /// When `out` is due to be written (checked every `CLOCK_EVERY` backend calls).
    flush_at: Instant,
    /// Backend calls since the last clock read.
    calls: u32,
    first_request_seen: bool,
    /// Under a terminal: a line of the current burst of input was skipped because more
    /// input followed it. The rest of the burst is either the tail of that line (Prosody
    /// passes a line feed inside a `setpass` password through, so `x\nauth:victim:host:guess`
    /// would otherwise be run as a request and its verdict returned as the `setpass`
    /// reply: a password oracle) or comes after a request the server gave up on. Either
    /// way it is answered `0` without being acted on, so exactly one reply goes back.
    /// Cleared once the input is drained with nothing partial or pending.
    burst_tainted: bool,
}

impl Server<'_> {
    fn on_event(
        &mut self,
        event: Event<'_>,
        arrival: Instant,
        more_buffered: bool,
        input: &mut dyn Input,
        output: &mut dyn Write,
    ) -> Result<(), End> {
        if self.opts.tty {
            let first = !self.first_request_seen;
            self.first_request_seen = true;
            if first {
                info!(
                    "terminal: first request left unanswered (the server may have read its own echo as the reply)"
                );
                self.burst_tainted |= more_buffered;
                return Ok(());
            }
            if more_buffered || input.pending() {
                warn!(
                    "terminal: more input arrived before this request was taken up: the server gave up on it, or it held a line feed; skipped"
                );
                self.burst_tainted = true;
                return Ok(());
            }
        }
        let yes = if self.opts.tty && self.burst_tainted {
            warn!(
                "terminal: this line came in one burst with a skipped one (the tail of a line feed inside it, or a request after one the server gave up on): answered 0, not acted on"
            );
            false
        } else {
            match self.verdict(event, arrival) {
                Some(yes) => yes,
                None => return Ok(()),
            }
        };
        if self.opts.tty && input.pending() {
            warn!(
                "terminal: more input arrived before the reply was written: the server gave up; reply dropped"
            );
            self.burst_tainted = true;
            return Ok(());
        }
        // A fixed 4-byte store: appending a 2- or 4-byte slice to a Vec is a call into its
        // generic copy (~45 instructions a request at opt-level "z", when it was measured).
        let (reply, n) = reply4(self.protocol, yes);
        let at = self.out_len;
        if let Some(dst) = self.out.get_mut(at..at + 4) {
            dst.copy_from_slice(&reply);
            self.out_len = at + n;
        } else {
            // Unreachable: `out_len < BATCH_BYTES` here (the batch is written once it
            // reaches that) and `out` holds BATCH_BYTES + 4 bytes. Were it not, ending is
            // the only safe move: a missing reply would shift every later answer.
            unreachable!("reply batch overflow");
        }
        if self.opts.tty || self.out_len >= BATCH_BYTES {
            self.flush(output)?;
        } else if self.calls >= CLOCK_EVERY {
            self.calls = 0;
            if Instant::now() >= self.flush_at {
                self.flush(output)?;
            }
        }
        Ok(())
    }

    /// Turns one decoded event into yes/no. `None`: do not answer at all (a verdict past
    /// the deadline, under a terminal).
    fn verdict(&mut self, event: Event<'_>, arrival: Instant) -> Option<bool> {
        Some(match event {
            Event::Malformed(m) => {
                warn!(
                    "{}: answered 0",
                    match m {
                        Malformed::LineTooLong => "request line longer than 64 KiB",
                        Malformed::EmptyFrame => "empty frame",
                    }
                );
                false
            }
            Event::Request(payload) => match request::parse(payload) {
                Err(Invalid::UnknownCommand)
                    if !KNOWN_UNSERVED.contains(&command_word(payload)) =>
                {
                    // Not shown: an unknown "command" may be part of a password. Prosody
                    // passes a line feed in a setpass password through, so the tail of
                    // the new password arrives as a line of its own.
                    info!("unsupported request (unknown command, not shown): answered 0");
                    false
                }
                Err(why) => {
                    info!(
                        "unsupported request ({why}, command '{}'): answered 0",
                        Shown(command_word(payload))
                    );
                    false
                }
                Ok(req) => self.dispatch(&req, arrival)?,
            },
        })
    }

    /// Asks the backend. `None`: do not answer at all (late, under a terminal). Whether the
    /// reply is late is checked where it is written (`flush`); under a terminal also here,
    /// to name the late request in the log.
    fn dispatch(&mut self, req: &Request<'_>, arrival: Instant) -> Option<bool> {
        let verdict = self.backend.handle(req, self.deadline);
        self.calls += 1;
        // Elapsed time only for a log line that is actually written.
        let ms = || {
            Instant::now()
                .saturating_duration_since(arrival)
                .as_millis()
        };
        if self.opts.tty {
            let now = Instant::now();
            if now > self.deadline {
                let ms = now.saturating_duration_since(arrival).as_millis();
                warn!(
                    "{req:?}: verdict came {ms} ms after the request, past the deadline: not answered"
                );
                return None;
            }
        }
        match verdict {
            Verdict::Unavailable => {
                info!("{req:?} -> unavailable, answered 0 ({} ms)", ms())
            }
            v => debug!("{req:?} -> {} ({} ms)", v.word(), ms()),
        }
        Some(verdict.is_yes())
    }

    /// Writes the pending replies in one `write()`, after the deadline check: replies that
    /// would leave after their requests' deadline go out as `0` (under a terminal, not at
    /// all). All of them share one deadline (one read), so the check is one clock read.
    fn flush(&mut self, output: &mut dyn Write) -> Result<(), End> {
        if self.out_len == 0 {
            return Ok(());
        }
        let out = &mut self.out[..self.out_len];
        self.out_len = 0;
        let now = Instant::now();
        self.flush_at = now + BATCH_AGE;
        if now > self.deadline {
            let no = self.protocol.reply(false);
            let mut yes = 0;
            for r in out.chunks_exact_mut(no.len()) {
                if r != no {
                    r.copy_from_slice(no);
                    yes += 1;
                }
            }
            if self.opts.tty {
                warn!("reply ready past the request's deadline: not answered");
                return Ok(());
            }
            warn!(
                "{} replies ready past their requests' deadline: answered 0 ({yes} would have been 1)",
                out.len() / no.len()
            );
        }
        let r = output.write_all(out).and_then(|_| output.flush());
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                info!("output closed: exiting");
                Err(End::OutputClosed)
            }
            Err(e) => Err(End::Error(e)),
        }
    }
}

/// `protocol.reply(yes)` padded to four bytes, and its length.
#[inline(always)]
fn reply4(protocol: Protocol, yes: bool) -> ([u8; 4], usize) {
    match (protocol, yes) {
        (Protocol::Generic, true) => (*b"1\n\0\0", 2),
        (Protocol::Generic, false) => (*b"0\n\0\0", 2),
        (Protocol::Ejabberd, true) => ([0, 2, 0, 1], 4),
        (Protocol::Ejabberd, false) => ([0, 2, 0, 0], 4),
    }
}

/// In-memory input for tests and the demo: a list of chunks, each returned by one read.
pub struct ChunkInput<'a> {
    chunks: std::collections::VecDeque<&'a [u8]>,
    /// Report every chunk as pending input (to exercise the terminal skip rules).
    pub always_pending: bool,
}

impl<'a> ChunkInput<'a> {
    pub fn new(chunks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        ChunkInput {
            chunks: chunks.into_iter().collect(),
            always_pending: false,
        }
    }
}

impl Input for ChunkInput<'_> {
    fn wait(&mut self, _timeout: Option<Duration>) -> io::Result<Readiness> {
        Ok(Readiness::Readable)
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(chunk) = self.chunks.pop_front() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.chunks.push_front(&chunk[n..]);
        }
        Ok(n)
    }
    fn pending(&mut self) -> bool {
        self.always_pending && !self.chunks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yes for `auth:good:h:pw` and `isuser:good:h`; sleeps on user `slow`.
    struct Fake {
        calls: usize,
    }

    impl Backend for Fake {
        fn handle(&mut self, req: &Request<'_>, _deadline: Instant) -> Verdict {
            self.calls += 1;
            match *req {
                Request::Auth { user: b"slow", .. } => {
                    std::thread::sleep(Duration::from_millis(60));
                    Verdict::Yes
                }
                Request::Auth { user: b"lag", .. } => {
                    std::thread::sleep(Duration::from_millis(2));
                    Verdict::Yes
                }
                Request::Auth {
                    user: b"good",
                    host: b"h",
                    password: b"pw",
                } => Verdict::Yes,
                Request::IsUser {
                    user: b"good",
                    host: b"h",
                } => Verdict::Yes,
                Request::Auth { user: b"down", .. } => Verdict::Unavailable,
                _ => Verdict::No,
            }
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    fn opts(protocol: ProtocolChoice) -> Options {
        Options {
            protocol,
            read_timeout: None,
            deadline: Duration::from_secs(4),
            tty: false,
            drop_first: false,
        }
    }

    /// As under Prosody: a terminal that had nothing queued at start (so the first request
    /// is dropped, see `Options::drop_first`).
    fn tty_opts() -> Options {
        Options {
            tty: true,
            drop_first: true,
            ..opts(ProtocolChoice::Generic)
        }
    }

    fn run(o: &Options, chunks: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let calls = run_into(o, chunks, &mut out);
        (out, calls)
    }

    /// `run` with the output of the caller's choice; returns the backend calls.
    fn run_into(o: &Options, chunks: &[&[u8]], out: &mut dyn Write) -> usize {
        let mut input = ChunkInput::new(chunks.iter().copied());
        let mut b = Fake { calls: 0 };
        let end = serve(&mut input, out, &mut b, o);
        assert!(matches!(end, End::Eof), "{end:?}");
        b.calls
    }

    #[test]
    fn padded_replies_are_the_protocol_replies() {
        for p in [Protocol::Generic, Protocol::Ejabberd] {
            for yes in [true, false] {
                let (r, n) = reply4(p, yes);
                assert_eq!(&r[..n], p.reply(yes));
            }
        }
    }

    #[test]
    fn generic_conversation() {
        let (out, _) = run(
            &opts(ProtocolChoice::Auto),
            &[
                b"auth:good:h:pw\nauth:good:h:pw2\nisuser:good:h\nisuser:bad:h\n",
                b"certauth:x:y\nauth:down:h:x\n",
            ],
        );
        assert_eq!(out, b"1\n0\n1\n0\n0\n0\n");
    }

    #[test]
    fn ejabberd_split_and_pipelined() {
        let stream = b"\x00\x0eauth:good:h:pw\x00\x00\x00\x0disuser:good:h\x00\x0fauth:good:h:pwX";
        let whole = run(&opts(ProtocolChoice::Auto), &[stream]).0;
        assert_eq!(whole, [0, 2, 0, 1, 0, 2, 0, 0, 0, 2, 0, 1, 0, 2, 0, 0]);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&opts(ProtocolChoice::Auto), &bytes).0, whole);
    }

    #[test]
    fn forced_protocol_is_not_detected() {
        // "auth..." read as an ejabberd frame: length 0x6175 bytes, never completes.
        let (out, calls) = run(&opts(ProtocolChoice::Ejabberd), &[b"auth:good:h:pw\n"]);
        assert!(out.is_empty());
        assert_eq!(calls, 0);
    }

    #[test]
    fn eof_mid_request_answers_nothing() {
        let (out, calls) = run(
            &opts(ProtocolChoice::Generic),
            &[b"auth:good:h:pw\nauth:good:h"],
        );
        assert_eq!(out, b"1\n");
        assert_eq!(calls, 1);
    }

    #[test]
    fn late_verdict_is_zero_on_pipes_and_silent_on_a_terminal() {
        let mut o = opts(ProtocolChoice::Generic);
        o.deadline = Duration::from_millis(20);
        assert_eq!(
            run(&o, &[b"auth:slow:h:pw\n", b"auth:good:h:pw\n"]).0,
            b"0\n1\n"
        );
        o.tty = true;
        o.drop_first = true;
        // first request dropped, slow one late and unanswered, last one answered
        assert_eq!(
            run(
                &o,
                &[b"isuser:good:h\n", b"auth:slow:h:pw\n", b"auth:good:h:pw\n"]
            )
            .0,
            b"1\n"
        );
    }

    #[test]
    fn a_reply_held_in_the_batch_past_the_deadline_goes_out_as_0() {
        // Both requests in one read: the first verdict is on time, but its reply waits in
        // the batch while the second request takes 60 ms, so it would leave late.
        let mut o = opts(ProtocolChoice::Generic);
        o.deadline = Duration::from_millis(20);
        assert_eq!(run(&o, &[b"auth:good:h:pw\nauth:slow:h:pw\n"]).0, b"0\n0\n");
        // On time, the same batch is answered as the backend said.
        o.deadline = Duration::from_secs(4);
        assert_eq!(run(&o, &[b"auth:good:h:pw\nauth:slow:h:pw\n"]).0, b"1\n1\n");
    }

    #[test]
    fn a_batch_behind_slow_calls_is_written_every_clock_every_calls() {
        let mut stream = b"isuser:good:h\n".to_vec();
        for _ in 0..40 {
            stream.extend_from_slice(b"auth:lag:h:pw\n");
        }
        let mut out = Writes(Vec::new());
        run_into(&opts(ProtocolChoice::Generic), &[&stream], &mut out);
        // 2 ms a call: past BATCH_AGE at every clock read, so one write per CLOCK_EVERY
        // calls, and the rest at the end of the read.
        let n = CLOCK_EVERY as usize;
        let sizes: Vec<usize> = out.0.iter().map(|w| w.len() / 2).collect();
        assert_eq!(sizes, vec![n, n, 41 - 2 * n]);
        assert!(out.0.concat().iter().step_by(2).all(|&b| b == b'1'));
    }

    #[test]
    fn terminal_drops_first_request_and_skips_given_up_ones() {
        let o = tty_opts();
        let (out, calls) = run(
            &o,
            &[b"auth:good:h:pw\n", b"auth:good:h:pw\n", b"isuser:good:h\n"],
        );
        assert_eq!(out, b"1\n1\n");
        assert_eq!(calls, 2);
        // two requests in one read: the first was given up on; only the second executes
        let (out, calls) = run(&o, &[b"isuser:x:h\n", b"setpass:good:h:new\nline\n"]);
        assert_eq!(out, b"0\n");
        assert_eq!(calls, 0);
    }

    #[test]
    fn pending_input_skips_on_terminal() {
        let o = tty_opts();
        let mut input = ChunkInput::new([
            &b"isuser:good:h\n"[..],
            b"isuser:good:h\n",
            b"isuser:good:h\n",
        ]);
        input.always_pending = true;
        let mut out = Vec::new();
        let mut b = Fake { calls: 0 };
        serve(&mut input, &mut out, &mut b, &o);
        // 1st dropped, 2nd skipped (3rd pending), 3rd answered 0 without being run: it may
        // be the tail of the 2nd (see `line_feed_inside_a_request_is_no_oracle`)
        assert_eq!(out, b"0\n");
        assert_eq!(b.calls, 0);
    }

    /// Prosody passes a line feed inside a `setpass` password through. A user who sets the
    /// password `x\nauth:victim:h:guess` must not learn from the `setpass` reply whether
    /// the guess is right: the tail of the line is answered 0 and never run, whether it
    /// arrives in the same read or completes in a later one, and the stream stays in step.
    #[test]
    fn line_feed_inside_a_request_is_no_oracle() {
        let mut o = tty_opts();
        let (out, calls) = run(
            &o,
            &[
                b"isuser:x:h\n",
                b"setpass:good:h:x\nauth:good:h:pw\n",
                b"auth:good:h:pw\n",
            ],
        );
        assert_eq!(out, b"0\n1\n");
        assert_eq!(calls, 1);
        let (out, calls) = run(
            &o,
            &[
                b"isuser:x:h\n",
                b"setpass:good:h:x\nauth:go",
                b"od:h:pw\n",
                b"auth:good:h:pw\n",
            ],
        );
        assert_eq!(out, b"0\n1\n");
        assert_eq!(calls, 1);
        // Over pipes (ejabberd, benchmarks) pipelined lines are all genuine requests.
        o.tty = false;
        let (out, calls) = run(&o, &[b"setpass:good:h:x\nauth:good:h:pw\n"]);
        assert_eq!(out, b"0\n1\n");
        assert_eq!(calls, 2);
    }

    #[test]
    fn hostile_input_keeps_serving() {
        let mut long = vec![b'a'; 200_000];
        long.push(b'\n');
        let (out, _) = run(
            &opts(ProtocolChoice::Generic),
            &[
                b"\n",
                &long,
                b"auth:good:h:\n",
                b"auth:go\x00od:h:pw\n",
                b"\xff\xfe\n",
                b"auth:good:h:pw\r\n",
            ],
        );
        assert_eq!(out, b"0\n0\n0\n0\n0\n1\n");
        let (out, _) = run(
            &opts(ProtocolChoice::Ejabberd),
            &[b"\x00\x00\x00\x03abc\x00\x0eauth:good:h:pw"],
        );
        assert_eq!(out, [0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1]);
    }

    /// Output that counts write calls: a batch of replies must be one write.
    struct Writes(Vec<Vec<u8>>);
    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_batch_is_one_write_and_replies_are_never_split() {
        let mut out = Writes(Vec::new());
        run_into(
            &opts(ProtocolChoice::Generic),
            &[b"isuser:good:h\nisuser:x:h\n", b"isuser:good:h\n"],
            &mut out,
        );
        assert_eq!(out.0, vec![b"1\n0\n".to_vec(), b"1\n".to_vec()]);
    }
}
