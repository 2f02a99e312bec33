//! The generic framing: one request a line.

use super::bytes::find_byte;
use super::{Event, Malformed, Step};

/// Longest request line accepted, without its line ending. Prosody refuses requests over
/// 1000 bytes itself; this bound only keeps memory fixed whatever the input.
pub const MAX_LINE: usize = 64 * 1024;

/// What the line decoder keeps between calls.
#[derive(Clone, Debug, Default)]
pub(super) struct State {
    /// True while the rest of a too-long line is being thrown away.
    skipping: bool,
    /// Bytes at the front of the buffer already searched for `\n` by a call that needed
    /// more: a line arriving in many reads is searched once, not once per read (which
    /// was quadratic: ~2 G byte comparisons for one 64 KiB line arriving a byte a read).
    scanned: usize,
    /// Bytes searched so far, for tests that count work.
    pub(super) examined: u64,
}

impl State {
    pub(super) fn skipping(&self) -> bool {
        self.skipping
    }
}

/// The caller keeps unconsumed bytes at the front of the next buffer it passes (as
/// `serve` and `decode_chunks` do); a shorter buffer than what was scanned means it did
/// not, and the search restarts from its start.
pub(super) fn next<'b>(st: &mut State, buf: &'b [u8]) -> Step<'b> {
    if st.skipping {
        st.examined += buf.len() as u64;
        return match find_byte(b'\n', buf) {
            Some(nl) => {
                st.skipping = false;
                Step {
                    consumed: nl + 1,
                    event: Some(Event::Malformed(Malformed::LineTooLong)),
                }
            }
            None => Step {
                consumed: buf.len(),
                event: None,
            },
        };
    }
    // A line of MAX_LINE bytes plus "\r\n" is the longest that can still be accepted.
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    let from = if st.scanned <= window.len() {
        st.scanned
    } else {
        0
    };
    st.examined += (window.len() - from) as u64;
    match find_byte(b'\n', &window[from..]) {
        Some(i) => {
            st.scanned = 0;
            let nl = from + i;
            let mut line = &buf[..nl];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.len() > MAX_LINE {
                return Step {
                    consumed: nl + 1,
                    event: Some(Event::Malformed(Malformed::LineTooLong)),
                };
            }
            Step {
                consumed: nl + 1,
                event: Some(Event::Request(line)),
            }
        }
        None if window.len() == MAX_LINE + 2 => {
            // Too long already: drop it and skip to the newline. The `0` is answered when
            // the newline arrives, so replies stay one per request, in order.
            st.skipping = true;
            st.scanned = 0;
            Step {
                consumed: window.len(),
                event: None,
            }
        }
        None => {
            st.scanned = window.len();
            Step::NEED_MORE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Protocol, decode_chunks};
    use super::*;

    #[test]
    fn lines_and_cr() {
        let mut d = Decoder::new(Protocol::Generic);
        assert_eq!(
            d.next(b"auth:a:b:c\nrest").event,
            Some(Event::Request(b"auth:a:b:c"))
        );
        assert_eq!(d.next(b"auth:a:b:c\nrest").consumed, 11);
        assert_eq!(
            d.next(b"isuser:a:b\r\n").event,
            Some(Event::Request(b"isuser:a:b"))
        );
        // only one CR is stripped; the rest belongs to the password
        assert_eq!(
            d.next(b"auth:a:b:c\r\r\n").event,
            Some(Event::Request(b"auth:a:b:c\r"))
        );
        assert_eq!(d.next(b"\n").event, Some(Event::Request(b"")));
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let line = b"auth:alice:example.org:pa:ss\n";
        for i in 0..line.len() {
            let mut d = Decoder::new(Protocol::Generic);
            assert_eq!(d.next(&line[..i]), Step::NEED_MORE, "prefix {i}");
        }
    }

    #[test]
    fn too_long_line_is_one_zero_and_bounded() {
        let mut stream = vec![b'a'; MAX_LINE * 3];
        stream.extend_from_slice(b"\nisuser:a:b\n");
        for chunk in [1000, 4096, MAX_LINE, stream.len()] {
            let events = decode_chunks(Protocol::Generic, stream.chunks(chunk));
            assert_eq!(
                events,
                vec![Err(Malformed::LineTooLong), Ok(b"isuser:a:b".to_vec())],
                "chunk {chunk}"
            );
        }
    }

    /// Feeds `stream` in `chunk`-byte reads the way `serve` does and returns the events
    /// and the bytes the decoder searched.
    fn drive(stream: &[u8], chunk: usize) -> (usize, u64) {
        let mut d = Decoder::new(Protocol::Generic);
        let mut buf = Vec::new();
        let mut events = 0;
        for c in stream.chunks(chunk) {
            buf.extend_from_slice(c);
            loop {
                let step = d.next(&buf);
                events += usize::from(step.event.is_some());
                let consumed = step.consumed;
                buf.drain(..consumed);
                if consumed == 0 {
                    break;
                }
            }
        }
        (events, d.bytes_examined())
    }

    #[test]
    fn a_line_arriving_in_many_reads_is_searched_once() {
        // Longest accepted line, then an over-long one, then a short one; 100-byte reads.
        let mut stream = vec![b'a'; MAX_LINE];
        stream.push(b'\n');
        stream.extend(vec![b'b'; MAX_LINE * 2]);
        stream.extend_from_slice(b"\nisuser:a:b\n");
        for chunk in [1, 100, 4096] {
            let (events, examined) = drive(&stream, chunk);
            assert_eq!(events, 3);
            // Each byte once, plus at most a window's worth where a line ends mid-chunk.
            // Rescanning the partial line on every read would be ~MAX_LINE^2 / (2 chunk).
            assert!(
                examined <= 2 * stream.len() as u64,
                "chunk {chunk}: {examined} bytes searched for a {}-byte stream",
                stream.len()
            );
        }
    }

    #[test]
    fn a_caller_that_drops_its_buffer_gets_a_fresh_search() {
        let mut d = Decoder::new(Protocol::Generic);
        assert_eq!(d.next(b"isuser:aaaa"), Step::NEED_MORE);
        // Not the same buffer (shorter than what was searched): searched from the start.
        assert_eq!(d.next(b"x\n").event, Some(Event::Request(b"x")));
    }

    #[test]
    fn longest_line_passes() {
        let mut stream = vec![b'a'; MAX_LINE];
        stream.extend_from_slice(b"\r\n");
        let events = decode_chunks(Protocol::Generic, [&stream[..]]);
        assert_eq!(events, vec![Ok(vec![b'a'; MAX_LINE])]);
        let mut over = vec![b'a'; MAX_LINE + 1];
        over.push(b'\n');
        assert_eq!(
            decode_chunks(Protocol::Generic, [&over[..]]),
            vec![Err(Malformed::LineTooLong)]
        );
    }
}
