//! Byte searches eight bytes at a time (SWAR), for the framing, the request parser, the
//! users-file loader and the name checks: the hot loops of a build tuned for size.

pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `hay[i..i + 8]`, little-endian (byte `i` is the low byte on every
/// target, so bit positions give byte positions), caller checks the bounds.
#[inline(always)]
pub(crate) fn word(hay: &[u8], i: usize) -> u64 {
    debug_assert!(i + 8 <= hay.len());
    // SAFETY: callers guarantee i + 8 <= hay.len(); read_unaligned needs no alignment.
    u64::from_le(unsafe { std::ptr::read_unaligned(hay.as_ptr().add(i).cast::<u64>()) })
}

/// Exact per-byte zero flags (no borrow between bytes): the high bit of each byte of the
/// result is set where that byte of `x` is zero.
#[inline(always)]
fn zero_flags(x: u64) -> u64 {
    !(((x & !HI).wrapping_add(!HI)) | x) & HI
}

/// Non-zero when a byte of `w` is `@`, `:` or `\n`, the bytes no user or host name may hold
/// (the any-zero-byte test on the three comparisons: exact as an any-byte answer; zero
/// padding bytes are none of the three).
#[inline(always)]
pub(crate) fn name_separators(w: u64) -> u64 {
    let (a, c, n) = (w ^ (LO * 0x40), w ^ (LO * 0x3a), w ^ (LO * 0x0a));
    (a.wrapping_sub(LO) & !a | c.wrapping_sub(LO) & !c | n.wrapping_sub(LO) & !n) & HI
}

/// Index of the first `needle` in `hay`, eight bytes at a time. The release profile
/// optimises for size, which leaves byte loops unvectorised (and `memchr` from core costs
/// ~90 instructions of set-up on a 10-byte field); loading 100,000 users spends most of
/// its time finding line ends, and every request is split at its colons.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    let len = hay.len();
    if len < 8 {
        return hay.iter().position(|&b| b == needle);
    }
    let pat = LO.wrapping_mul(u64::from(needle));
    let mut i = 0;
    loop {
        let z = zero_flags(word(hay, i) ^ pat);
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        if i + 8 == len {
            return None;
        }
        // The next eight bytes, or the last eight, overlapping bytes already seen (which
        // held no match, so the first flag is in the new part).
        i = (i + 8).min(len - 8);
    }
}

/// Positions of the first three `needle` bytes in `hay` (`None` where there are fewer),
/// in one pass: what splitting `command:user:host[:password]` needs.
pub(crate) fn find3(needle: u8, hay: &[u8]) -> [Option<usize>; 3] {
    let mut out = [None; 3];
    let mut k = 0;
    let len = hay.len();
    if len < 8 {
        for (i, &b) in hay.iter().enumerate() {
            if b == needle {
                out[k] = Some(i);
                k += 1;
                if k == 3 {
                    break;
                }
            }
        }
        return out;
    }
    let pat = LO.wrapping_mul(u64::from(needle));
    let (mut i, mut seen) = (0, 0);
    loop {
        let mut z = zero_flags(word(hay, i) ^ pat);
        // The last word may overlap bytes already seen (and recorded): not again.
        if seen > i {
            z &= u64::MAX << ((seen - i) * 8);
        }
        while z != 0 {
            out[k] = Some(i + (z.trailing_zeros() / 8) as usize);
            k += 1;
            if k == 3 {
                return out;
            }
            z &= z - 1;
        }
        if i + 8 == len {
            return out;
        }
        seen = i + 8;
        i = seen.min(len - 8);
    }
}

/// `a == b`, a word at a time (core's slice equality calls `memcmp`, whose set-up costs
/// more than comparing a 20-byte name).
#[inline]
pub(crate) fn eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 < len {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, len - 8) == word(b, len - 8)
}

/// Number of `needle` bytes in `hay`, eight bytes at a time.
pub(crate) fn count_byte(needle: u8, hay: &[u8]) -> usize {
    let pat = LO.wrapping_mul(u64::from(needle));
    let mut n = 0usize;
    let mut i = 0;
    while i + 8 <= hay.len() {
        n += zero_flags(word(hay, i) ^ pat).count_ones() as usize;
        i += 8;
    }
    n + hay[i..].iter().filter(|&&b| b == needle).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_and_count_match_naive_at_every_length_and_position() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            for needle in [b':', b'\n', 0, 0xff, 0x80, b'a' - 1] {
                let h = &base[..len];
                assert_eq!(find_byte(needle, h), None, "{len}");
                for at in 0..len {
                    let mut v = h.to_vec();
                    v[at] = needle;
                    if at + 3 < len {
                        v[at + 3] = needle;
                    }
                    let naive = v.iter().position(|&b| b == needle);
                    assert_eq!(find_byte(needle, &v), naive, "{len} {at} {needle}");
                    let count = v.iter().filter(|&&b| b == needle).count();
                    assert_eq!(count_byte(needle, &v), count, "{len} {at} {needle}");
                }
            }
        }
        // Bytes next to a match that differ from it in one bit are not matches.
        assert_eq!(
            find_byte(b':', b"\x3b\x3b\x3b\x3b\x3b\x3b\x3b\x3b\x3b:"),
            Some(9)
        );
        assert_eq!(
            count_byte(0x80, &[0x80, 0x00, 0x80, 1, 2, 3, 4, 0x80, 0x80]),
            4
        );
        assert_eq!(
            count_byte(0, &[0x80, 0x00, 0x80, 1, 0, 0, 4, 0x80, 0x00]),
            4
        );
    }

    #[test]
    fn find3_matches_naive_at_every_length_and_position() {
        fn naive(hay: &[u8]) -> [Option<usize>; 3] {
            let mut it = hay.iter().enumerate().filter(|(_, b)| **b == b':');
            [(); 3].map(|_| it.next().map(|(i, _)| i))
        }
        let base: Vec<u8> = (0..150u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            let h = &base[..len];
            assert_eq!(find3(b':', h), [None; 3], "{len}");
            // One to four matches, next to each other, across the 8-byte words and far
            // apart.
            for a in 0..len {
                for gaps in [&[][..], &[1], &[7, 1], &[8, 56, 1], &[63, 1, 64]] {
                    let mut v = h.to_vec();
                    let mut at = a;
                    v[at] = b':';
                    for g in gaps {
                        at += g;
                        if at < len {
                            v[at] = b':';
                        }
                    }
                    assert_eq!(find3(b':', &v), naive(&v), "{len} {a} {gaps:?}");
                }
            }
        }
        // A byte one bit away from the needle is not a match.
        assert_eq!(
            find3(b':', b"\x3b\x3b\xba\x3b\x3b\x3b\x3b\x3b:x:"),
            [Some(8), Some(10), None]
        );
    }
}
