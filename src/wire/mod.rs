//! Framing: pure functions over bytes, no IO.
//!
//! Two framings carry the same requests: `generic` (Prosody; one request a line) and
//! `ejabberd` (`{packet,2}`: a 2-byte big-endian length, then the payload). A
//! [`Decoder`] looks at the bytes buffered so far and says how many to drop and
//! whether they held a request, a malformed frame (answered `0`), or nothing yet.
//! Keeping it pure is what lets tests and fuzzers feed it every chunking of a stream.

pub(crate) mod bytes;
mod len16;
mod line;

pub use line::MAX_LINE;

/// Which framing the stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// One request a line, `\n`-terminated; replies `1\n` / `0\n`.
    Generic,
    /// 2-byte big-endian length prefix; replies `00 02 00 01` / `00 02 00 00`.
    Ejabberd,
}

impl Protocol {
    /// Tells the framing from the first byte of the stream.
    ///
    /// Generic requests start with a lower-case command word; an ejabberd frame starts
    /// with the high byte of its length, which is below `a` for every frame shorter than
    /// 24,832 bytes (PROTOCOLS.md §2). Upper-case letters (0x41..=0x5a) are lengths.
    pub fn detect(first: u8) -> Protocol {
        if first.is_ascii_lowercase() {
            Protocol::Generic
        } else {
            Protocol::Ejabberd
        }
    }

    /// The complete reply, written with one `write()`.
    pub fn reply(self, yes: bool) -> &'static [u8] {
        match (self, yes) {
            (Protocol::Generic, true) => b"1\n",
            (Protocol::Generic, false) => b"0\n",
            (Protocol::Ejabberd, true) => &[0, 2, 0, 1],
            (Protocol::Ejabberd, false) => &[0, 2, 0, 0],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Generic => "generic",
            Protocol::Ejabberd => "ejabberd",
        }
    }
}

/// Why a frame was malformed. Each one is answered `0` exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// A generic line longer than [`MAX_LINE`]; discarded up to its newline.
    LineTooLong,
    /// An ejabberd frame of length zero.
    EmptyFrame,
}

/// What the buffered bytes held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete request payload (line ending or length prefix removed).
    Request(&'a [u8]),
    /// A malformed frame: answer `0`.
    Malformed(Malformed),
}

/// The result of one [`Decoder::next`] call: drop `consumed` bytes from the front of the
/// buffer, then act on `event`. `consumed == 0 && event.is_none()` means: need more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'a> {
    pub consumed: usize,
    pub event: Option<Event<'a>>,
}

impl Step<'_> {
    pub const NEED_MORE: Step<'static> = Step {
        consumed: 0,
        event: None,
    };
}

/// Incremental decoder. The state kept between calls is whether a too-long line is being
/// skipped, so the caller's buffer never has to hold more than [`MAX_LINE`] bytes, and how
/// much of a partial line was already searched.
#[derive(Clone, Debug)]
pub struct Decoder {
    protocol: Protocol,
    line: line::State,
}

impl Decoder {
    pub fn new(protocol: Protocol) -> Decoder {
        Decoder {
            protocol,
            line: line::State::default(),
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Looks at the front of `buf` (everything received and not yet consumed). Bytes not
    /// consumed must be at the front of the next call's `buf`, followed by new ones.
    pub fn next<'b>(&mut self, buf: &'b [u8]) -> Step<'b> {
        match self.protocol {
            Protocol::Generic => line::next(&mut self.line, buf),
            Protocol::Ejabberd => len16::next(buf),
        }
    }

    /// True when bytes of an unfinished request have been seen (buffered or skipped):
    /// used to discard a request that stalls past the read timeout.
    pub fn in_partial(&self, buffered: usize) -> bool {
        buffered > 0 || self.line.skipping()
    }

    /// Forgets a partial request (after a read timeout).
    pub fn reset(&mut self) {
        self.line = line::State::default();
    }

    /// Bytes searched for line ends so far (generic framing): lets tests check that the
    /// work stays linear in the input however it is chunked.
    pub fn bytes_examined(&self) -> u64 {
        self.line.examined
    }

    /// The most bytes a caller must be able to buffer for one request to complete.
    pub fn max_frame(&self) -> usize {
        match self.protocol {
            Protocol::Generic => MAX_LINE + 2,
            Protocol::Ejabberd => 2 + u16::MAX as usize,
        }
    }
}

/// Decodes a whole stream delivered in the given chunks, as `serve` does, and returns the
/// events in order (payloads copied). For tests and fuzzing: any chunking of the same bytes
/// must give the same events.
pub fn decode_chunks<'c>(
    protocol: Protocol,
    chunks: impl IntoIterator<Item = &'c [u8]>,
) -> Vec<Result<Vec<u8>, Malformed>> {
    let mut decoder = Decoder::new(protocol);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let step = decoder.next(&buf);
            match step.event {
                Some(Event::Request(p)) => out.push(Ok(p.to_vec())),
                Some(Event::Malformed(m)) => out.push(Err(m)),
                None => {}
            }
            let consumed = step.consumed;
            buf.drain(..consumed);
            if consumed == 0 {
                break;
            }
        }
        assert!(
            buf.len() <= decoder.max_frame(),
            "decoder let the buffer grow unbounded"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_first_byte() {
        assert_eq!(Protocol::detect(b'a'), Protocol::Generic);
        assert_eq!(Protocol::detect(b'i'), Protocol::Generic);
        assert_eq!(Protocol::detect(b's'), Protocol::Generic);
        assert_eq!(Protocol::detect(b'r'), Protocol::Generic);
        assert_eq!(Protocol::detect(b't'), Protocol::Generic);
        assert_eq!(Protocol::detect(0x00), Protocol::Ejabberd);
        assert_eq!(Protocol::detect(b'A'), Protocol::Ejabberd); // frame of 16,640+ bytes
        assert_eq!(Protocol::detect(0x60), Protocol::Ejabberd);
        assert_eq!(Protocol::detect(0xff), Protocol::Ejabberd);
    }

    #[test]
    fn replies_are_exact() {
        assert_eq!(Protocol::Generic.reply(true), b"1\n");
        assert_eq!(Protocol::Generic.reply(false), b"0\n");
        assert_eq!(Protocol::Ejabberd.reply(true), [0, 2, 0, 1]);
        assert_eq!(Protocol::Ejabberd.reply(false), [0, 2, 0, 0]);
    }

    fn every_split(protocol: Protocol, stream: &[u8]) {
        let whole = decode_chunks(protocol, [stream]);
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(decode_chunks(protocol, [a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_chunks(protocol, bytes), whole, "byte by byte");
    }

    #[test]
    fn chunking_does_not_change_events() {
        every_split(Protocol::Generic, b"auth:a:b:c\nisuser:a:b\r\n\nfoo\n");
        every_split(
            Protocol::Ejabberd,
            b"\x00\x0aauth:a:b:c\x00\x00\x00\x0aisuser:a:b",
        );
    }
}
