//! The generic framing: one request a line.

use super::{Event, Malformed, Step};

/// Longest request line accepted, without its line ending. Prosody refuses requests over
/// 1000 bytes itself; this bound only keeps memory fixed whatever the input.
pub const MAX_LINE: usize = 64 * 1024;

/// `skipping` is true while the rest of a too-long line is being thrown away.
pub(super) fn next<'b>(skipping: &mut bool, buf: &'b [u8]) -> Step<'b> {
    if *skipping {
        return match buf.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                *skipping = false;
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
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => {
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
            *skipping = true;
            Step {
                consumed: window.len(),
                event: None,
            }
        }
        None => Step::NEED_MORE,
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
