//! The crypt(3) base64 flavour: alphabet `./0-9A-Za-z`, 6 bits per character taken from
//! the low end of a 24-bit group, and SHA-crypt's own byte permutation of the digest.
//! Decoding is strict (canonical only) so a stored digest compares byte-for-byte with what
//! crypt(3) would print.

/// The 64 characters, in value order.
pub(crate) const ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `(b2, b1, b0, chars)`: digest byte indices packed as `b2 << 16 | b1 << 8 | b0`, and how
/// many characters the group yields (Drepper's `b64_from_24bit` calls, in order). An index
/// of `NONE` stands for a zero byte.
type Group = (u8, u8, u8, u8);
const NONE: u8 = u8::MAX;

pub(crate) const SHA512_GROUPS: [Group; 22] = [
    (0, 21, 42, 4),
    (22, 43, 1, 4),
    (44, 2, 23, 4),
    (3, 24, 45, 4),
    (25, 46, 4, 4),
    (47, 5, 26, 4),
    (6, 27, 48, 4),
    (28, 49, 7, 4),
    (50, 8, 29, 4),
    (9, 30, 51, 4),
    (31, 52, 10, 4),
    (53, 11, 32, 4),
    (12, 33, 54, 4),
    (34, 55, 13, 4),
    (56, 14, 35, 4),
    (15, 36, 57, 4),
    (37, 58, 16, 4),
    (59, 17, 38, 4),
    (18, 39, 60, 4),
    (40, 61, 19, 4),
    (62, 20, 41, 4),
    (NONE, NONE, 63, 2),
];

pub(crate) const SHA256_GROUPS: [Group; 11] = [
    (0, 10, 20, 4),
    (21, 1, 11, 4),
    (12, 22, 2, 4),
    (3, 13, 23, 4),
    (24, 4, 14, 4),
    (15, 25, 5, 4),
    (6, 16, 26, 4),
    (27, 7, 17, 4),
    (18, 28, 8, 4),
    (9, 19, 29, 4),
    (NONE, 31, 30, 3),
];

/// Encoded length of a 64-byte (`$6$`) digest.
pub(crate) const SHA512_CHARS: usize = 86;
/// Encoded length of a 32-byte (`$5$`) digest.
pub(crate) const SHA256_CHARS: usize = 43;

fn byte(digest: &[u8], i: u8) -> u32 {
    if i == NONE {
        0
    } else {
        digest.get(usize::from(i)).copied().map_or(0, u32::from)
    }
}

/// Appends the crypt encoding of `digest` (grouped by `groups`) to `out`.
pub(crate) fn encode(digest: &[u8], groups: &[Group], out: &mut Vec<u8>) {
    for &(b2, b1, b0, n) in groups {
        let mut w = (byte(digest, b2) << 16) | (byte(digest, b1) << 8) | byte(digest, b0);
        for _ in 0..n {
            out.push(ALPHABET[(w & 0x3f) as usize]);
            w >>= 6;
        }
    }
}

/// Character -> value, `INVALID` outside the alphabet (one lookup per character: parse
/// runs for every line of a users file).
const INVALID: u8 = 0xff;
const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Value of one alphabet character, `None` outside the alphabet.
#[cfg(test)]
pub(crate) fn value(c: u8) -> Option<u32> {
    match DECODE[usize::from(c)] {
        INVALID => None,
        v => Some(u32::from(v)),
    }
}

/// Stores one decoded byte; a byte at a `NONE` position carries bits crypt never sets, so
/// it must be zero (the last character is then canonical).
#[inline(always)]
fn put(digest: &mut [u8], idx: u8, b: u8) -> Result<(), &'static str> {
    if idx == NONE {
        if b != 0 {
            return Err("digest has a non-canonical last character");
        }
    } else if let Some(slot) = digest.get_mut(usize::from(idx)) {
        *slot = b;
    }
    Ok(())
}

/// Decodes `text` (exactly the encoded length for `groups`) into `digest`.
pub(crate) fn decode(text: &[u8], groups: &[Group], digest: &mut [u8]) -> Result<(), &'static str> {
    let need: usize = groups.iter().map(|g| usize::from(g.3)).sum();
    if text.len() != need {
        return Err("digest has the wrong length");
    }
    // Validate every character first, branch-free, then assemble groups. `vals` is zero
    // past the text, so a short last group reads as a full one with zero high characters.
    let mut vals = [0u8; 88];
    let mut seen = 0u8;
    for (v, &c) in vals.iter_mut().zip(text) {
        *v = DECODE[usize::from(c)];
        seen |= *v;
    }
    if seen & 0xc0 != 0 {
        return Err("digest has a character outside ./0-9A-Za-z");
    }
    for (i, &(b2, b1, b0, _)) in groups.iter().enumerate().take(22) {
        let at = 4 * i; // i < 22: at + 3 < 88
        let w = u32::from(vals[at])
            | u32::from(vals[at + 1]) << 6
            | u32::from(vals[at + 2]) << 12
            | u32::from(vals[at + 3]) << 18;
        put(digest, b2, (w >> 16) as u8)?;
        put(digest, b1, (w >> 8) as u8)?;
        put(digest, b0, w as u8)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_values_round_trip() {
        for (i, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(value(c), Some(i as u32));
        }
        for c in [b'$', b'-', b'+', b'=', b' ', 0, 0xff] {
            assert_eq!(value(c), None);
        }
    }

    #[test]
    fn encode_decode_round_trip_both_layouts() {
        let mut d = [0u8; 64];
        for (i, b) in d.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        let mut text = Vec::new();
        encode(&d, &SHA512_GROUPS, &mut text);
        assert_eq!(text.len(), SHA512_CHARS);
        let mut back = [0u8; 64];
        decode(&text, &SHA512_GROUPS, &mut back).unwrap();
        assert_eq!(back, d);

        let mut text = Vec::new();
        encode(&d[..32], &SHA256_GROUPS, &mut text);
        assert_eq!(text.len(), SHA256_CHARS);
        let mut back = [0u8; 32];
        decode(&text, &SHA256_GROUPS, &mut back).unwrap();
        assert_eq!(back, d[..32]);
    }

    #[test]
    fn decode_rejects_non_canonical_last_char() {
        let d = [0u8; 64];
        let mut text = Vec::new();
        encode(&d, &SHA512_GROUPS, &mut text);
        *text.last_mut().unwrap() = b'2'; // value 4: bit 8 of a 2-char group, above the byte
        let mut back = [0u8; 64];
        assert!(decode(&text, &SHA512_GROUPS, &mut back).is_err());
        let mut text = Vec::new();
        encode(&d[..32], &SHA256_GROUPS, &mut text);
        *text.last_mut().unwrap() = b'E'; // value 16: bit 16 of a 3-char group
        let mut back = [0u8; 32];
        assert!(decode(&text, &SHA256_GROUPS, &mut back).is_err());
    }
}
