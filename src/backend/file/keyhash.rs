//! The users table's key hash: a seeded multiply-fold hash (the construction of foldhash
//! and wyhash), ~15 instructions for a typical name where std's SipHash-1-3 took ~380.
//!
//! # Why a fast, non-cryptographic hash is safe here
//!
//! Who picks the keys, and what can they do with them:
//!
//! - **Request names** come from clients (any JID a user types reaches `isuser`/`auth`).
//!   They only *probe* the table, never insert. A probe costs the length of the occupied
//!   run from its home slot to an empty slot, and the runs are fixed by the file's entries;
//!   with the load factor kept at most 0.6 and a hash that spreads the file's names, the
//!   longest run in a 100,000-entry table is a few dozen 4-byte slots, checked against an
//!   in-slot tag before any file byte is touched. So even an attacker who could aim every
//!   request at the longest run gains a constant factor of tens of nanoseconds, not a
//!   denial of service.
//! - **File names** are inserted, and they are not always the admin's: with
//!   `allow_writes`, `tryregister` (in-band registration) appends names that clients
//!   choose. An *unkeyed* hash would let someone register names that all land in one run,
//!   making every load quadratic and every probe linear in the number of such names. This
//!   is the hash-flooding attack, and it is why the hash is **keyed**: 256 bits from the
//!   kernel's random source (`hash::random_bytes`, getrandom(2)), fresh for every load of
//!   the file. Finding colliding names for a multiply-fold hash needs the key; outputs are
//!   never shown to clients, and the only side channel (probe timing, a few nanoseconds
//!   per slot, measured through the server's network stack) is far too faint to recover
//!   128+ key bits before the next write re-seeds the table.
//!
//! What this does not claim: cryptographic strength (it is not a PRF; foldhash makes the
//! same "minimal HashDoS resistance" claim). What it needs is only that, without the key,
//! names cannot be chosen to collide more often than chance.

use crate::wire::bytes::{name_separators, word};

/// Key material for one table (one load of the users file).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seed {
    k: [u64; 4],
}

/// Multiplies into 128 bits and folds the halves together: every input bit reaches the
/// upper and lower output bits.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn load4(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u64::from(u32::from_le_bytes(w))
}

impl Seed {
    /// A fresh random key. If the kernel's random source fails (it does not on any
    /// supported system), std's per-process random SipHash keys derive one instead: still
    /// secret, never a constant.
    pub(crate) fn random() -> Seed {
        let mut b = [0u8; 32];
        let mut k = [0u64; 4];
        if crate::hash::random_bytes(&mut b).is_ok() {
            for (k, c) in k.iter_mut().zip(b.chunks_exact(8)) {
                *k = word(c, 0);
            }
        } else {
            use std::hash::BuildHasher;
            let rs = std::collections::hash_map::RandomState::new();
            for (i, k) in k.iter_mut().enumerate() {
                *k = rs.hash_one(i);
            }
        }
        Seed { k }
    }

    /// A fixed key, for tests that need reproducible slots.
    #[cfg(test)]
    pub(crate) fn fixed(k: [u64; 4]) -> Seed {
        Seed { k }
    }

    /// Hash of one byte string, starting from `s` (a per-field key), and whether it holds
    /// a `@`, `:` or `\n`: the words the hash loads cover every byte (overlapping at the
    /// ends), so a request name is checked for separators in the same pass, at the cost of
    /// a few instructions per word instead of a second pass over it. Always inlined: out of
    /// line, the call's register saves cost as much as hashing a short name, twice a
    /// request (callgrind, pipelined `isuser`: 777 instructions a request before, 726 after).
    #[inline(always)]
    fn bytes(&self, bytes: &[u8], s: u64) -> (u64, bool) {
        let len = bytes.len();
        // The length turns the secret start value (as foldhash does): a linear mix (xor,
        // add) would let two strings of different lengths be built to collide whatever
        // the key; a rotation of an unknown value cannot be cancelled by chosen bytes.
        let mut s0 = s.rotate_right(len as u32);
        let mut s1 = self.k[1];
        if len <= 16 {
            let (a, b) = if len >= 8 {
                (word(bytes, 0), word(bytes, len - 8))
            } else if len >= 4 {
                (load4(bytes, 0), load4(bytes, len - 4))
            } else if len > 0 {
                // Bytes 0, len/2 and len-1: all of them for len <= 3.
                let a = u64::from(bytes[0]);
                (
                    a,
                    (u64::from(bytes[len - 1]) << 8) | u64::from(bytes[len / 2]),
                )
            } else {
                (0, 0)
            };
            s0 ^= a;
            s1 ^= b;
            return (fold(s0, s1), name_separators(a) | name_separators(b) != 0);
        }
        // Longer: 16 bytes a step, the last (possibly overlapping) 16 bytes at the end.
        let mut sep = 0;
        let mut i = 0;
        while i + 16 < len {
            let (a, b) = (word(bytes, i), word(bytes, i + 8));
            sep |= name_separators(a) | name_separators(b);
            s0 = fold(a ^ s0, b ^ s1);
            s1 = s1.wrapping_add(self.k[3]);
            i += 16;
        }
        let (a, b) = (word(bytes, len - 16), word(bytes, len - 8));
        sep |= name_separators(a) | name_separators(b);
        (fold(a ^ s0, b ^ s1 ^ self.k[2]), sep != 0)
    }

    /// The localpart's share of a key hash (computed once per request and shared by the
    /// exact and the domain-less probe).
    #[inline]
    pub(crate) fn user(&self, user: &[u8]) -> u64 {
        self.bytes(user, self.k[0]).0
    }

    /// The whole key hash of (localpart, domain), `domain = None` for a domain-less entry.
    #[inline]
    pub(crate) fn key(&self, user_hash: u64, domain: Option<&[u8]>) -> u64 {
        let d = match domain {
            Some(d) => self.bytes(d, self.k[2]).0,
            // No byte string hashes to this without the key.
            None => self.k[3],
        };
        self.combine(user_hash, d)
    }

    #[inline(always)]
    fn combine(&self, user_hash: u64, domain_hash: u64) -> u64 {
        fold(user_hash ^ self.k[1], domain_hash ^ self.k[0])
    }

    /// For a request's (user, host): the localpart's hash and the exact key's hash
    /// (`key(user(user), Some(host))`), or `None` when the fields cannot name an entry
    /// (empty, or holding `@`, `:` or `\n`, which could alias another entry's key; the
    /// rule of `parse::request_name_ok`, checked in the hashing pass).
    #[inline]
    pub(crate) fn request(&self, user: &[u8], host: &[u8]) -> Option<(u64, u64)> {
        let (hu, bad_user) = self.bytes(user, self.k[0]);
        let (hd, bad_host) = self.bytes(host, self.k[2]);
        if user.is_empty() || host.is_empty() || bad_user || bad_host {
            return None;
        }
        Some((hu, self.combine(hu, hd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &Seed, user: &[u8], domain: Option<&[u8]>) -> u64 {
        s.key(s.user(user), domain)
    }

    #[test]
    fn every_length_and_every_byte_matters() {
        let s = Seed::fixed([1, 2, 3, 4].map(|x: u64| x.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let mut seen = std::collections::HashSet::new();
        let base: Vec<u8> = (0..80u8).map(|i| b'a' + i % 26).collect();
        for len in 0..=base.len() {
            assert!(seen.insert(h(&s, &base[..len], None)), "len {len}");
            for i in 0..len {
                let mut v = base[..len].to_vec();
                v[i] ^= 1;
                assert!(seen.insert(h(&s, &v, Some(b"x"))), "len {len} byte {i}");
            }
        }
        // Zero padding is not invisible.
        assert_ne!(h(&s, b"ab", None), h(&s, b"ab\0", None));
        // user/domain boundary and domain-less differ.
        assert_ne!(h(&s, b"ab", Some(b"c")), h(&s, b"a", Some(b"bc")));
        assert_ne!(h(&s, b"ab", Some(b"")), h(&s, b"ab", None));
    }

    #[test]
    fn request_check_is_request_name_ok_and_keys_agree() {
        let s = Seed::random();
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            for at in 0..len.max(1) {
                for sep in [b'@', b':', b'\n', b'x', 0, 0x80, b'@' + 1, b'\n' - 1] {
                    let mut v = base[..len].to_vec();
                    if len > 0 {
                        v[at] = sep;
                    }
                    for (u, h) in [(&v[..], &b"example.org"[..]), (b"alice", &v[..])] {
                        let ok = super::super::parse::request_name_ok(u, h);
                        let got = s.request(u, h);
                        assert_eq!(got.is_some(), ok, "{len} {at} {sep}");
                        if let Some((hu, exact)) = got {
                            assert_eq!(hu, s.user(u));
                            assert_eq!(exact, s.key(s.user(u), Some(h)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn keyed_by_the_seed() {
        for i in 0..4 {
            let mut k = [11, 22, 33, 44];
            let a = Seed::fixed(k);
            k[i] ^= 1 << 40;
            let b = Seed::fixed(k);
            assert_ne!(
                (h(&a, b"alice", Some(b"x")), h(&a, b"alice", None)),
                (h(&b, b"alice", Some(b"x")), h(&b, b"alice", None)),
                "key word {i}"
            );
        }
        let (r1, r2) = (Seed::random(), Seed::random());
        assert_ne!(r1.k, r2.k);
        assert_ne!(h(&r1, b"alice", None), h(&r2, b"alice", None));
    }

    /// Names differing only in a few characters (as generated user names do) spread over
    /// the table's index bits and tag bits alike.
    #[test]
    fn similar_names_spread() {
        let s = Seed::random();
        let n = 1 << 16;
        let buckets = 1usize << 10;
        let mut lo = vec![0u32; buckets];
        let mut hi = vec![0u32; buckets];
        for i in 0..n {
            let name = format!("user{i:06}");
            let k = h(&s, name.as_bytes(), Some(b"example.org"));
            lo[((k as u32 as u64 * buckets as u64) >> 32) as usize] += 1;
            hi[(k >> 54) as usize] += 1;
        }
        // Expected 64 per bucket; a uniform hash stays far inside [16, 160].
        for (i, (&l, &h)) in lo.iter().zip(&hi).enumerate() {
            assert!((16..160).contains(&l), "low bucket {i}: {l}");
            assert!((16..160).contains(&h), "high bucket {i}: {h}");
        }
    }
}
