//! Password hashes: scheme chosen strictly by prefix, verification in constant time,
//! new hashes with a random salt.
//!
//! - `prefix`: parsing of stored hashes and crypt(3) settings (no allocation for SHA-crypt);
//! - `shacrypt`: the SHA-crypt algorithm over sha2's compression functions;
//! - `b64`: crypt's base64 flavour; `random`: salts from getrandom(2);
//! - `wipe`: zeroising password-derived buffers.
//!
//! Accepted strings are exactly those libxcrypt's `crypt_r()` could have written, so
//! verification is "recompute and compare the digest in constant time", byte-for-byte
//! equivalent to comparing crypt(3)'s output with the stored string.

mod b64;
mod prefix;
mod random;
mod shacrypt;
mod wipe;

use std::fmt;
use std::hint::black_box;
use std::io;

use subtle::ConstantTimeEq;

use prefix::{CryptHash, Stored};
use shacrypt::{Hasher, Sha512};
/// For other password buffers (the HTTP backend's request form).
#[cfg(feature = "http")]
pub(crate) use wipe::wipe_bytes;

/// Schemes we can write new hashes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `$6$` SHA-512-crypt (the default).
    Sha512Crypt,
    /// `$5$` SHA-256-crypt.
    Sha256Crypt,
}

impl Scheme {
    /// Name as used in the config (`hash_scheme`) and `--scheme`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sha512Crypt => "sha512-crypt",
            Scheme::Sha256Crypt => "sha256-crypt",
        }
    }

    pub fn from_name(s: &str) -> Option<Scheme> {
        match s {
            "sha512-crypt" => Some(Scheme::Sha512Crypt),
            "sha256-crypt" => Some(Scheme::Sha256Crypt),
            _ => None,
        }
    }
}

/// SHA-crypt's own default and what we write unless configured otherwise.
pub const DEFAULT_ROUNDS: u32 = 5000;
/// SHA-crypt's minimum (lower values are clamped by the algorithm).
pub const MIN_ROUNDS: u32 = 1000;
/// Highest cost accepted from a users file or the config: ~0.2 s per check on a fast core,
/// far more on a router; above this a hostile file could stall every login.
pub const MAX_ROUNDS: u32 = 1_000_000;
/// Longest password SHA-crypt is computed for, as in libxcrypt (`CRYPT_MAX_PASSPHRASE_SIZE`
/// 512 including the NUL): crypt(3) refuses longer ones, and the cost grows with the length,
/// so a 64 KiB password would otherwise buy an attacker seconds of CPU per request.
pub const MAX_PASSWORD_LEN: usize = 511;

/// Why a stored hash string was refused. Never contains the hash or a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashError {
    /// No known prefix (`$6$`, `$5$`, `{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{PLAIN}`).
    UnknownScheme,
    /// Known prefix, broken body.
    Malformed(&'static str),
    /// `rounds=` above [`MAX_ROUNDS`].
    CostTooHigh(u64),
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::UnknownScheme => f.write_str("unknown hash scheme"),
            HashError::Malformed(why) => write!(f, "malformed hash: {why}"),
            HashError::CostTooHigh(r) => write!(f, "rounds={r} is above the limit of {MAX_ROUNDS}"),
        }
    }
}

impl std::error::Error for HashError {}

/// A parsed, validated stored hash.
///
/// Equality (`PartialEq`) compares stored entries, not a guess against a secret; use
/// [`PasswordHash::verify`] for that.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    inner: Inner,
}

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    Crypt(CryptHash),
    Plain(PlainSecret),
}

/// A `{PLAIN}` password from the users file, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
struct PlainSecret(Box<[u8]>);

impl Drop for PlainSecret {
    fn drop(&mut self) {
        wipe::wipe_bytes(&mut self.0);
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Crypt(c) => write!(
                f,
                "PasswordHash({}, rounds={}, ..)",
                c.scheme.name(),
                c.rounds
            ),
            Inner::Plain(_) => f.write_str("PasswordHash(plain, ..)"),
        }
    }
}

/// Parses a stored hash (the part after `user@domain:` in the users file).
pub fn parse(stored: &[u8]) -> Result<PasswordHash, HashError> {
    let inner = match prefix::parse_stored(stored)? {
        Stored::Crypt(c) => Inner::Crypt(c),
        Stored::Plain(pw) => Inner::Plain(PlainSecret(pw.into())),
    };
    Ok(PasswordHash { inner })
}

impl PasswordHash {
    /// Constant-time check of `password` against this hash.
    ///
    /// The work done depends only on the stored scheme, rounds and salt and on the length of
    /// `password`, never on how much of it is right. Passwords longer than
    /// [`MAX_PASSWORD_LEN`] never match a SHA-crypt hash (crypt(3) refuses them too).
    pub fn verify(&self, password: &[u8]) -> bool {
        match &self.inner {
            Inner::Crypt(c) => {
                if password.len() > MAX_PASSWORD_LEN {
                    return false;
                }
                let mut out = [0u8; 64];
                shacrypt::compute(c.scheme, password, c.salt(), c.rounds, &mut out);
                let n = digest_len(c.scheme);
                let ok: bool = out[..n].ct_eq(&c.digest[..n]).into();
                wipe::wipe_bytes(&mut out);
                ok
            }
            Inner::Plain(stored) => {
                // Comparing SHA-512 digests hides the stored length too (a plain slice
                // comparison would answer early on a length mismatch).
                let mut a = [0u8; 64];
                let mut b = [0u8; 64];
                let mut h = Hasher::<Sha512>::new();
                h.update(&stored.0);
                h.finish(&mut a);
                let mut h = Hasher::<Sha512>::new();
                h.update(password);
                h.finish(&mut b);
                let ok: bool = a.ct_eq(&b).into();
                wipe::wipe_bytes(&mut a);
                wipe::wipe_bytes(&mut b);
                ok
            }
        }
    }

    /// `{PLAIN}` entries (warned about at load).
    pub fn is_plain(&self) -> bool {
        matches!(self.inner, Inner::Plain(_))
    }

    /// The scheme and rounds of a SHA-crypt hash; `None` for `{PLAIN}`.
    pub fn cost(&self) -> Option<(Scheme, u32)> {
        match &self.inner {
            Inner::Crypt(c) => Some((c.scheme, c.rounds)),
            Inner::Plain(_) => None,
        }
    }

    /// What checking a password against this hash costs (see [`dummy_verify`]).
    pub fn verify_cost(&self) -> Cost {
        match &self.inner {
            Inner::Crypt(c) => Cost::Crypt(c.scheme, c.rounds),
            Inner::Plain(_) => Cost::Plain,
        }
    }
}

fn digest_len(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Sha512Crypt => 64,
        Scheme::Sha256Crypt => 32,
    }
}

/// What one verification of a stored hash costs: what a dummy verification for an unknown
/// user must spend so that timing does not tell who exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    Crypt(Scheme, u32),
    /// A `{PLAIN}` entry: two SHA-512 digests and a comparison, microseconds.
    Plain,
}

/// Spends the time of one verification at `cost` and throws the result away: unknown
/// users must cost what known ones do.
///
/// Crypt rounds are clamped to `MIN_ROUNDS..=MAX_ROUNDS`; the salt is a fixed 16
/// characters, the length crypt(3) and [`make`] use. `Plain` runs the very code a `{PLAIN}`
/// entry's check runs, against a fixed secret.
pub fn dummy_verify(cost: Cost, password: &[u8]) {
    let (scheme, rounds) = match cost {
        Cost::Crypt(scheme, rounds) => (scheme, rounds),
        Cost::Plain => {
            let dummy = PasswordHash {
                inner: Inner::Plain(PlainSecret(b"dummy-password-of-no-one".as_slice().into())),
            };
            black_box(dummy.verify(black_box(password)));
            return;
        }
    };
    if password.len() > MAX_PASSWORD_LEN {
        return; // verify() answers these without hashing too
    }
    let rounds = rounds.clamp(MIN_ROUNDS, MAX_ROUNDS);
    let mut out = [0u8; 64];
    shacrypt::compute(
        scheme,
        black_box(password),
        black_box(b"dummysaltdummysa"),
        black_box(rounds),
        &mut out,
    );
    let n = digest_len(scheme);
    let ok: bool = out[..n].ct_eq(&black_box([0u8; 64])[..n]).into();
    black_box(ok);
    black_box(&out);
    wipe::wipe_bytes(&mut out);
}

/// Formats a SHA-crypt string as crypt(3) does: `rounds=` only when `explicit`.
fn format(scheme: Scheme, rounds: u32, explicit: bool, salt: &[u8], digest: &[u8; 64]) -> String {
    let chars = match scheme {
        Scheme::Sha512Crypt => b64::SHA512_CHARS,
        Scheme::Sha256Crypt => b64::SHA256_CHARS,
    };
    let mut s = Vec::with_capacity(3 + 15 + salt.len() + 1 + chars);
    s.extend_from_slice(match scheme {
        Scheme::Sha512Crypt => b"$6$",
        Scheme::Sha256Crypt => b"$5$",
    });
    if explicit {
        s.extend_from_slice(format!("rounds={rounds}$").as_bytes());
    }
    s.extend_from_slice(salt);
    s.push(b'$');
    match scheme {
        Scheme::Sha512Crypt => b64::encode(digest, &b64::SHA512_GROUPS, &mut s),
        Scheme::Sha256Crypt => b64::encode(&digest[..32], &b64::SHA256_GROUPS, &mut s),
    }
    // Only salt bytes (printable ASCII, checked by the callers) and the crypt alphabet.
    String::from_utf8_lossy(&s).into_owned()
}

fn check_password(password: &[u8]) -> io::Result<()> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("password: longer than {MAX_PASSWORD_LEN} bytes, which crypt(3) refuses"),
        ));
    }
    if password.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "password: contains a NUL byte, which crypt(3) cannot take",
        ));
    }
    Ok(())
}

/// A new hash of `password` in `scheme` with `rounds` and a fresh random salt.
///
/// `rounds` must be within `MIN_ROUNDS..=MAX_ROUNDS`; the password at most
/// [`MAX_PASSWORD_LEN`] bytes without NUL (so crypt(3) can verify the result too).
pub fn make(scheme: Scheme, rounds: u32, password: &[u8]) -> io::Result<String> {
    if !(MIN_ROUNDS..=MAX_ROUNDS).contains(&rounds) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("hash rounds: {rounds} is outside {MIN_ROUNDS}..={MAX_ROUNDS}"),
        ));
    }
    check_password(password)?;
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    for b in salt.iter_mut() {
        // 256 = 4 * 64: the low six bits of a uniform byte are uniform, no bias.
        *b = b64::ALPHABET[usize::from(*b & 0x3f)];
    }
    let mut out = [0u8; 64];
    shacrypt::compute(scheme, password, &salt, rounds, &mut out);
    let s = format(scheme, rounds, rounds != DEFAULT_ROUNDS, &salt, &out);
    wipe::wipe_bytes(&mut out);
    Ok(s)
}

/// crypt(3) with an explicit setting (`$6$[rounds=N$]salt[$...]`): glibc semantics, as in
/// Drepper's specification (rounds below 1000 clamped, salt cut to 16 characters, `rounds=`
/// echoed only when given). For tests that compare with the system's crypt.
#[doc(hidden)]
pub fn hash_with_salt(setting: &[u8], password: &[u8]) -> Result<String, HashError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(HashError::Malformed("password longer than crypt accepts"));
    }
    let head = prefix::parse_setting(setting)?;
    let mut out = [0u8; 64];
    shacrypt::compute(head.scheme, password, head.salt, head.rounds, &mut out);
    let s = format(
        head.scheme,
        head.rounds,
        head.explicit_rounds,
        head.salt,
        &out,
    );
    wipe::wipe_bytes(&mut out);
    Ok(s)
}

/// Fills `buf` from the OS random source (getrandom(2), /dev/urandom as fallback).
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    random::fill(buf)
}

#[cfg(test)]
mod tests;
