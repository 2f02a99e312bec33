//! The ejabberd framing (`{packet,2}`): a 2-byte big-endian unsigned length, then the payload.

use super::{Event, Malformed, Step};

pub(super) fn next(buf: &[u8]) -> Step<'_> {
    let [hi, lo, rest @ ..] = buf else {
        return Step::NEED_MORE;
    };
    // Unsigned: a length of 0x8000 and above is a long frame, not a negative one.
    let len = u16::from_be_bytes([*hi, *lo]) as usize;
    if len == 0 {
        return Step {
            consumed: 2,
            event: Some(Event::Malformed(Malformed::EmptyFrame)),
        };
    }
    match rest.get(..len) {
        Some(payload) => Step {
            consumed: 2 + len,
            event: Some(Event::Request(payload)),
        },
        None => Step::NEED_MORE,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Protocol};
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames() {
        let f = frame(b"auth:a:b:c");
        let mut d = Decoder::new(Protocol::Ejabberd);
        assert_eq!(
            d.next(&f),
            Step {
                consumed: 12,
                event: Some(Event::Request(b"auth:a:b:c"))
            }
        );
        assert_eq!(
            d.next(&[0, 0, 1]),
            Step {
                consumed: 2,
                event: Some(Event::Malformed(Malformed::EmptyFrame))
            }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let f = frame(b"auth:alice:example.org:secret");
        for i in 0..f.len() {
            assert_eq!(next(&f[..i]), Step::NEED_MORE, "prefix {i}");
        }
    }

    #[test]
    fn length_is_unsigned() {
        let payload = vec![b'x'; 0x8001];
        let f = frame(&payload);
        assert_eq!(f[0], 0x80);
        assert_eq!(next(&f).consumed, 0x8003);
        assert_eq!(next(&f[..0x8002]), Step::NEED_MORE);
        let max = frame(&vec![b'y'; 65535]);
        assert_eq!(next(&max).consumed, 65537);
    }
}
