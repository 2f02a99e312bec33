//! SHA-crypt (Ulrich Drepper's specification, as in glibc and libxcrypt) written directly
//! over sha2's raw compression functions.
//!
//! Why not `sha_crypt::sha512_crypt`: that crate builds a fresh `Digest` per round through
//! several buffering layers, cannot be told to wipe its intermediate states (the password-
//! derived digests stay on the stack), and takes no part in our zeroising. Driving
//! `sha2::block_api::compress512/compress256` ourselves keeps sha2's CPU-feature backends
//! (AVX2 for SHA-512, SHA-NI for SHA-256, picked at run time) with one fixed 128-byte
//! buffer per context, no allocation, and every buffer wiped before it goes out of scope.

use super::Scheme;
use super::wipe::{wipe_bytes, wipe_words};

/// Salt bytes SHA-crypt uses at most (longer salts are cut, as crypt(3) does).
pub(crate) const SALT_MAX: usize = 16;

/// One SHA-2 instance: block and output size, state, compression.
pub(crate) trait Engine {
    /// Block size in bytes (64 or 128).
    const BLOCK: usize;
    /// Digest size in bytes (32 or 64).
    const OUT: usize;
    /// Bytes of the message length field at the end of the last block (8 or 16).
    const LEN_FIELD: usize;
    type State: Copy;
    const IV: Self::State;
    /// Compresses the first [`Self::BLOCK`] bytes of `block` into `state`.
    fn compress(state: &mut Self::State, block: &[u8; 128]);
    /// Compresses the first `len` bytes of `blocks` (a multiple of [`Self::BLOCK`]).
    fn compress_many(state: &mut Self::State, blocks: &[[u8; 128]], len: usize);
    /// Writes the big-endian digest into the first [`Self::OUT`] bytes of `out`.
    fn output(state: &Self::State, out: &mut [u8; 64]);
    fn wipe(state: &mut Self::State);
}

pub(crate) enum Sha512 {}
pub(crate) enum Sha256 {}

impl Engine for Sha512 {
    const BLOCK: usize = 128;
    const OUT: usize = 64;
    const LEN_FIELD: usize = 16;
    type State = [u64; 8];
    const IV: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    #[inline(always)]
    fn compress(state: &mut [u64; 8], block: &[u8; 128]) {
        sha2::block_api::compress512(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn compress_many(state: &mut [u64; 8], blocks: &[[u8; 128]], len: usize) {
        if let Some(b) = blocks.get(..len / 128) {
            sha2::block_api::compress512(state, b);
        }
    }
    fn output(state: &[u64; 8], out: &mut [u8; 64]) {
        for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn wipe(state: &mut [u64; 8]) {
        wipe_words(state);
    }
}

impl Engine for Sha256 {
    const BLOCK: usize = 64;
    const OUT: usize = 32;
    const LEN_FIELD: usize = 8;
    type State = [u32; 8];
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    #[inline(always)]
    fn compress(state: &mut [u32; 8], block: &[u8; 128]) {
        if let Some(b) = block.first_chunk::<64>() {
            sha2::block_api::compress256(state, core::slice::from_ref(b));
        }
    }
    #[inline(always)]
    fn compress_many(state: &mut [u32; 8], blocks: &[[u8; 128]], len: usize) {
        for (i, block) in blocks.iter().enumerate().take(len.div_ceil(128)) {
            if let Some(b) = block.first_chunk::<64>() {
                sha2::block_api::compress256(state, core::slice::from_ref(b));
            }
            if 128 * i + 64 < len {
                if let Some(b) = block.last_chunk::<64>() {
                    sha2::block_api::compress256(state, core::slice::from_ref(b));
                }
            }
        }
    }
    fn output(state: &[u32; 8], out: &mut [u8; 64]) {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn wipe(state: &mut [u32; 8]) {
        wipe_words(state);
    }
}

/// A minimal streaming SHA-2 context: one block buffer, wiped on drop.
pub(crate) struct Hasher<E: Engine> {
    state: E::State,
    buf: [u8; 128],
    pos: usize,
    total: u64,
}

impl<E: Engine> Hasher<E> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Hasher {
            state: E::IV,
            buf: [0; 128],
            pos: 0,
            total: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        while !data.is_empty() {
            let room = E::BLOCK - self.pos;
            let take = room.min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.pos..self.pos + take) {
                dst.copy_from_slice(head);
            }
            self.pos += take;
            data = rest;
            if self.pos == E::BLOCK {
                E::compress(&mut self.state, &self.buf);
                self.pos = 0;
            }
        }
    }

    /// Pads, writes the digest into the first `E::OUT` bytes of `out`, wipes the context.
    #[inline(always)]
    pub(crate) fn finish(mut self, out: &mut [u8; 64]) {
        let bits = self.total.wrapping_mul(8);
        self.buf[self.pos % 128] = 0x80;
        self.pos += 1;
        if self.pos > E::BLOCK - E::LEN_FIELD {
            self.buf[self.pos.min(E::BLOCK)..E::BLOCK].fill(0);
            E::compress(&mut self.state, &self.buf);
            self.pos = 0;
        }
        self.buf[self.pos..E::BLOCK - 8].fill(0);
        self.buf[E::BLOCK - 8..E::BLOCK].copy_from_slice(&bits.to_be_bytes());
        E::compress(&mut self.state, &self.buf);
        E::output(&self.state, out);
        // `self` drops here and is wiped.
    }
}

impl<E: Engine> Drop for Hasher<E> {
    fn drop(&mut self) {
        E::wipe(&mut self.state);
        wipe_bytes(&mut self.buf);
    }
}

/// Adds `len` bytes of `digest` repeated (Drepper's byte sequences P and S).
#[inline(always)]
fn add_repeated<E: Engine>(h: &mut Hasher<E>, digest: &[u8], len: usize) {
    let mut left = len;
    while left > E::OUT {
        h.update(digest);
        left -= E::OUT;
    }
    h.update(&digest[..left]);
}

/// Raw SHA-crypt of `password` with `salt` (cut to 16 bytes) and `rounds` (used as given:
/// the caller clamps or validates), into the first `E::OUT` bytes of `out`.
pub(crate) fn sha_crypt<E: Engine>(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8; 64]) {
    let salt = &salt[..salt.len().min(SALT_MAX)];
    let n = E::OUT;
    let pw_len = password.len();

    // Steps 4-8: digest B = H(P S P).
    let mut b = [0u8; 64];
    let mut h = Hasher::<E>::new();
    h.update(password);
    h.update(salt);
    h.update(password);
    h.finish(&mut b);

    // Steps 1-3, 9-12: digest A.
    let mut a = [0u8; 64];
    let mut h = Hasher::<E>::new();
    h.update(password);
    h.update(salt);
    add_repeated(&mut h, &b[..n], pw_len);
    let mut cnt = pw_len;
    while cnt > 0 {
        if cnt & 1 != 0 {
            h.update(&b[..n]);
        } else {
            h.update(password);
        }
        cnt >>= 1;
    }
    h.finish(&mut a);
    wipe_bytes(&mut b);

    // Steps 13-16: DP = H(P repeated pw_len times); the sequence P is DP cut to pw_len.
    let mut dp = [0u8; 64];
    let mut h = Hasher::<E>::new();
    for _ in 0..pw_len {
        h.update(password);
    }
    h.finish(&mut dp);

    // Steps 17-20: DS = H(S repeated 16 + A[0] times); S is DS cut to the salt length.
    let mut ds = [0u8; 64];
    let mut h = Hasher::<E>::new();
    for _ in 0..16 + usize::from(a[0]) {
        h.update(salt);
    }
    h.finish(&mut ds);

    // Step 21: the rounds.
    let mut c = a;
    wipe_bytes(&mut a);
    // The byte sequence P: DP repeated to the password's length.
    let mut p_seq = [0u8; P_SEQ_MAX];
    let done = match p_seq.get_mut(..pw_len) {
        Some(p) => {
            for chunk in p.chunks_mut(n) {
                chunk.copy_from_slice(&dp[..chunk.len()]);
            }
            rounds_templated::<E>(&mut c, p, &ds[..salt.len()], rounds)
        }
        None => false,
    };
    if !done {
        rounds_streamed::<E>(&mut c, &dp[..n], pw_len, &ds[..salt.len()], rounds);
    }
    out.copy_from_slice(&c);
    wipe_bytes(&mut c);
    wipe_bytes(&mut dp);
    wipe_bytes(&mut p_seq);
}

/// Longest password the fast round loop takes (`MAX_PASSWORD_LEN`); longer ones stream.
const P_SEQ_MAX: usize = super::MAX_PASSWORD_LEN;

/// Blocks of one padded round message: room for the longest password verify() accepts
/// (64 + 2 * 511 + 16 bytes of message + padding = 9 SHA-512 blocks).
const TEMPLATE_BLOCKS: usize = 9;

/// The rounds of step 21, fast path. A round's message is one of 8 shapes (odd/even round,
/// salt added or not, password added or not), each fixed except for the previous digest C.
/// So each shape is laid out once, padded, with its length field; a round then copies C
/// into its slot and compresses the blocks: no per-round buffering logic at all, which
/// matters most under the size-tuned release profile (opt-level "s").
///
/// `p` and `s` are the byte sequences P and S. Returns false (nothing done) when a
/// message would not fit the templates.
fn rounds_templated<E: Engine>(c: &mut [u8; 64], p: &[u8], s: &[u8], rounds: u32) -> bool {
    let n = E::OUT;
    let mut tpl = [[[0u8; 128]; TEMPLATE_BLOCKS]; 8];
    let mut c_at = [0usize; 8];
    let mut len = [0usize; 8];
    for shape in 0..8 {
        let (odd, with_s, with_p) = (shape & 1 != 0, shape & 2 != 0, shape & 4 != 0);
        let mut msg = [0u8; 128 * TEMPLATE_BLOCKS];
        let mut at = 0;
        let mut put = |bytes: &[u8], at: &mut usize| {
            if let Some(dst) = msg.get_mut(*at..*at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            *at += bytes.len();
        };
        if odd {
            put(p, &mut at);
        } else {
            c_at[shape] = at;
            at += n;
        }
        if with_s {
            put(s, &mut at);
        }
        if with_p {
            put(p, &mut at);
        }
        if odd {
            c_at[shape] = at;
            at += n;
        } else {
            put(p, &mut at);
        }
        let bits = (at as u64) * 8;
        put(&[0x80], &mut at);
        let total = (at + E::LEN_FIELD).div_ceil(E::BLOCK) * E::BLOCK;
        if total > msg.len() {
            wipe_bytes(&mut msg);
            wipe_template(&mut tpl);
            return false;
        }
        msg[total - 8..total].copy_from_slice(&bits.to_be_bytes());
        for (dst, src) in tpl[shape].iter_mut().zip(msg.chunks_exact(128)) {
            dst.copy_from_slice(src);
        }
        len[shape] = total;
        wipe_bytes(&mut msg);
    }
    let (mut r3, mut r7) = (0u32, 0u32);
    let mut state = E::IV;
    for r in 0..rounds {
        let shape = (r & 1) as usize | usize::from(r3 != 0) << 1 | usize::from(r7 != 0) << 2;
        let t = &mut tpl[shape];
        put_straddling(t, c_at[shape], &c[..n]);
        state = E::IV;
        E::compress_many(&mut state, t, len[shape]);
        E::output(&state, c);
        r3 = if r3 == 2 { 0 } else { r3 + 1 };
        r7 = if r7 == 6 { 0 } else { r7 + 1 };
    }
    E::wipe(&mut state);
    wipe_template(&mut tpl);
    true
}

/// Copies `bytes` to byte offset `at` of `blocks`, across at most one block boundary
/// (`bytes` is at most one digest, shorter than a block).
#[inline(always)]
fn put_straddling(blocks: &mut [[u8; 128]], at: usize, bytes: &[u8]) {
    let (b, off) = (at / 128, at % 128);
    let first = bytes.len().min(128 - off);
    let (head, tail) = bytes.split_at(first);
    if let Some(dst) = blocks
        .get_mut(b)
        .and_then(|blk| blk.get_mut(off..off + first))
    {
        dst.copy_from_slice(head);
    }
    if !tail.is_empty() {
        if let Some(dst) = blocks
            .get_mut(b + 1)
            .and_then(|blk| blk.get_mut(..tail.len()))
        {
            dst.copy_from_slice(tail);
        }
    }
}

fn wipe_template(tpl: &mut [[[u8; 128]; TEMPLATE_BLOCKS]; 8]) {
    for shape in tpl.iter_mut() {
        for block in shape.iter_mut() {
            wipe_bytes(block);
        }
    }
}

/// The rounds of step 21 through the streaming context: any password length.
fn rounds_streamed<E: Engine>(c: &mut [u8; 64], dp: &[u8], pw_len: usize, s: &[u8], rounds: u32) {
    let n = E::OUT;
    for r in 0..rounds {
        let mut h = Hasher::<E>::new();
        let odd = r & 1 != 0;
        if odd {
            add_repeated(&mut h, dp, pw_len);
        } else {
            h.update(&c[..n]);
        }
        if r % 3 != 0 {
            h.update(s);
        }
        if r % 7 != 0 {
            add_repeated(&mut h, dp, pw_len);
        }
        if odd {
            h.update(&c[..n]);
        } else {
            add_repeated(&mut h, dp, pw_len);
        }
        h.finish(c);
    }
}

/// [`sha_crypt`] for a [`Scheme`].
pub(crate) fn compute(
    scheme: Scheme,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    out: &mut [u8; 64],
) {
    compute_in_own_frame(scheme, password, salt, rounds, out);
    // The algorithm wipes its own buffers, but moved temporaries and sha2's message
    // schedule leave copies of password blocks in the stack frames it used; those frames
    // are gone now, and the scrub's frame covers the same addresses.
    super::wipe::scrub_stack();
}

/// Never inlined, so that all of the computation's stack lies below `compute`'s frame,
/// where `scrub_stack` can reach it.
#[inline(never)]
fn compute_in_own_frame(
    scheme: Scheme,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    out: &mut [u8; 64],
) {
    match scheme {
        Scheme::Sha512Crypt => sha_crypt::<Sha512>(password, salt, rounds, out),
        Scheme::Sha256Crypt => sha_crypt::<Sha256>(password, salt, rounds, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// Our streaming context must equal sha2's own hashers at every padding boundary.
    #[test]
    fn hasher_matches_sha2_at_all_lengths() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let mut out = [0u8; 64];
            let mut h = Hasher::<Sha512>::new();
            // Feed in two uneven pieces to exercise the buffer.
            let (x, y) = data[..len].split_at(len / 3);
            h.update(x);
            h.update(y);
            h.finish(&mut out);
            assert_eq!(
                out[..],
                sha2::Sha512::digest(&data[..len])[..],
                "sha512 len {len}"
            );

            let mut out = [0u8; 64];
            let mut h = Hasher::<Sha256>::new();
            h.update(x);
            h.update(y);
            h.finish(&mut out);
            assert_eq!(
                out[..32],
                sha2::Sha256::digest(&data[..len])[..],
                "sha256 len {len}"
            );
        }
    }

    /// The raw algorithm agrees with RustCrypto's sha-crypt crate (an independent
    /// implementation) for short, block-sized and long passwords and salts.
    #[test]
    fn raw_algorithm_matches_sha_crypt_crate() {
        let params = sha_crypt::Params::new(1000).unwrap();
        for pw_len in [
            0usize, 1, 12, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 511, 600,
        ] {
            let pw: Vec<u8> = (0..pw_len).map(|i| (i * 13 + 1) as u8).collect();
            for salt in [
                &b""[..],
                b"a",
                b"saltstring",
                b"0123456789abcdef",
                b"toolongsaltstring",
            ] {
                let mut out = [0u8; 64];
                compute(Scheme::Sha512Crypt, &pw, salt, 1000, &mut out);
                assert_eq!(
                    out,
                    sha_crypt::sha512_crypt(&pw, salt, params),
                    "512 pw {pw_len}"
                );
                compute(Scheme::Sha256Crypt, &pw, salt, 1000, &mut out);
                assert_eq!(
                    out[..32],
                    sha_crypt::sha256_crypt(&pw, salt, params),
                    "256 pw {pw_len}"
                );
            }
        }
    }
}
