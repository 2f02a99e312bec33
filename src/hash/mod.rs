//! Password hashes: scheme chosen strictly by prefix, verification in constant time,
//! new hashes with a random salt. (Interface fixed here; implementation on the hash branch.)

use std::fmt;
use std::io;

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
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    _private: (),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Parses a stored hash (the part after `user@domain:` in the users file).
pub fn parse(_stored: &[u8]) -> Result<PasswordHash, HashError> {
    Err(HashError::UnknownScheme)
}

impl PasswordHash {
    /// Constant-time check of `password` against this hash.
    pub fn verify(&self, _password: &[u8]) -> bool {
        false
    }

    /// `{PLAIN}` entries (warned about at load).
    pub fn is_plain(&self) -> bool {
        false
    }

    /// The scheme and rounds a dummy verification must use to cost the same as this one.
    /// `None` for `{PLAIN}`.
    pub fn cost(&self) -> Option<(Scheme, u32)> {
        None
    }
}

/// Spends the time of one verification of `scheme` at `rounds` and throws the result
/// away: unknown users must cost what known ones do.
pub fn dummy_verify(_scheme: Scheme, _rounds: u32, _password: &[u8]) {}

/// A new hash of `password` in `scheme` with `rounds` and a fresh random salt.
pub fn make(_scheme: Scheme, _rounds: u32, _password: &[u8]) -> io::Result<String> {
    Err(io::Error::other("not implemented"))
}

/// Fills `buf` from the OS random source (getrandom(2), /dev/urandom as fallback).
pub fn random_bytes(_buf: &mut [u8]) -> io::Result<()> {
    Err(io::Error::other("not implemented"))
}
