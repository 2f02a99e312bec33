//! Parsing of stored hashes and crypt(3) settings: the scheme comes from the prefix alone,
//! and the body is checked exactly as strictly as libxcrypt would, so an entry we accept is
//! one crypt(3) could have written and one we refuse could never have verified there.
//!
//! No allocation for SHA-crypt entries: salt and raw digest live in fixed arrays.

use super::b64;
use super::shacrypt::SALT_MAX;
use super::{HashError, MAX_ROUNDS, MIN_ROUNDS, Scheme};

/// A parsed `$6$`/`$5$` hash: everything verification needs, in 88 bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CryptHash {
    pub(crate) scheme: Scheme,
    /// `rounds=` was written out (crypt(3) echoes it only then).
    pub(crate) explicit_rounds: bool,
    pub(crate) salt_len: u8,
    pub(crate) rounds: u32,
    pub(crate) salt: [u8; SALT_MAX],
    /// Raw digest; the first 32 bytes for `$5$`.
    pub(crate) digest: [u8; 64],
}

impl CryptHash {
    pub(crate) fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }
}

/// What a stored hash string holds.
pub(crate) enum Stored<'a> {
    Crypt(CryptHash),
    /// `{PLAIN}`: the bytes after the prefix.
    Plain(&'a [u8]),
}

/// Salt bytes libxcrypt accepts: printable ASCII except space and `! * : ; \ $`
/// (measured against libxcrypt 4.4.33; non-ASCII and control bytes are refused there too).
pub(crate) fn is_salt_byte(c: u8) -> bool {
    matches!(c, 0x21..=0x7e) && !matches!(c, b'!' | b'*' | b':' | b';' | b'\\' | b'$')
}

/// How a `rounds=`/salt head is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A stored hash: only what crypt(3) itself writes (rounds >= 1000, salt <= 16).
    Stored,
    /// A setting given to crypt(3): rounds below 1000 are clamped to 1000 and long salts
    /// cut to 16 characters, as glibc and Drepper's specification do.
    Setting,
}

/// The part before the digest.
pub(crate) struct Head<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) rounds: u32,
    pub(crate) explicit_rounds: bool,
    pub(crate) salt: &'a [u8],
    /// Bytes after the salt's terminating `$` (`None`: the salt ran to the end).
    pub(crate) rest: Option<&'a [u8]>,
}

fn split_scheme(s: &[u8]) -> Result<(Scheme, &[u8]), HashError> {
    if let Some(r) = s.strip_prefix(b"$6$") {
        Ok((Scheme::Sha512Crypt, r))
    } else if let Some(r) = s.strip_prefix(b"$5$") {
        Ok((Scheme::Sha256Crypt, r))
    } else {
        Err(HashError::UnknownScheme)
    }
}

fn parse_rounds(field: &[u8]) -> Result<u64, HashError> {
    match field.first() {
        None => return Err(HashError::Malformed("rounds= has no number")),
        Some(b'0') => return Err(HashError::Malformed("rounds has a leading zero")),
        Some(_) => {}
    }
    let mut v: u64 = 0;
    for &c in field {
        if !c.is_ascii_digit() {
            return Err(HashError::Malformed("rounds is not a decimal number"));
        }
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Ok(v)
}

fn parse_head(s: &[u8], mode: Mode) -> Result<Head<'_>, HashError> {
    let (scheme, mut body) = split_scheme(s)?;
    let mut rounds = super::DEFAULT_ROUNDS;
    let mut explicit_rounds = false;
    if let Some(r) = body.strip_prefix(b"rounds=") {
        let end = r
            .iter()
            .position(|&c| c == b'$')
            .ok_or(HashError::Malformed("rounds= is not followed by $"))?;
        let v = parse_rounds(&r[..end])?;
        if v > u64::from(MAX_ROUNDS) {
            return Err(HashError::CostTooHigh(v));
        }
        // v <= MAX_ROUNDS fits in u32.
        let v = v as u32;
        rounds = match mode {
            Mode::Stored if v < MIN_ROUNDS => {
                return Err(HashError::Malformed(
                    "rounds below 1000 (crypt never writes that)",
                ));
            }
            _ => v.max(MIN_ROUNDS),
        };
        explicit_rounds = true;
        body = &r[end + 1..];
    }
    let (salt, rest) = match body.iter().position(|&c| c == b'$') {
        Some(end) => (&body[..end], Some(&body[end + 1..])),
        None => (body, None),
    };
    if !salt.iter().all(|&c| is_salt_byte(c)) {
        return Err(HashError::Malformed("salt has a character crypt refuses"));
    }
    let salt = match mode {
        Mode::Stored if salt.len() > SALT_MAX => {
            return Err(HashError::Malformed("salt longer than 16 characters"));
        }
        _ => &salt[..salt.len().min(SALT_MAX)],
    };
    Ok(Head {
        scheme,
        rounds,
        explicit_rounds,
        salt,
        rest,
    })
}

/// Parses a crypt(3) setting (`$6$[rounds=N$]salt[$...]`, anything after the salt ignored).
pub(crate) fn parse_setting(s: &[u8]) -> Result<Head<'_>, HashError> {
    parse_head(s, Mode::Setting)
}

/// Parses a stored hash: `{PLAIN}`, `{SHA512-CRYPT}`/`{SHA256-CRYPT}` + crypt string, or a
/// bare `$6$`/`$5$` crypt string.
pub(crate) fn parse_stored(s: &[u8]) -> Result<Stored<'_>, HashError> {
    if let Some(pw) = s.strip_prefix(b"{PLAIN}") {
        if pw.is_empty() {
            return Err(HashError::Malformed("{PLAIN} with an empty password"));
        }
        return Ok(Stored::Plain(pw));
    }
    let (want, body) = if let Some(r) = s.strip_prefix(b"{SHA512-CRYPT}") {
        (Some(Scheme::Sha512Crypt), r)
    } else if let Some(r) = s.strip_prefix(b"{SHA256-CRYPT}") {
        (Some(Scheme::Sha256Crypt), r)
    } else {
        (None, s)
    };
    let head = match (parse_head(body, Mode::Stored), want) {
        (Err(HashError::UnknownScheme), Some(Scheme::Sha512Crypt)) => {
            return Err(HashError::Malformed(
                "{SHA512-CRYPT} is not followed by a $6$ hash",
            ));
        }
        (Err(HashError::UnknownScheme), Some(Scheme::Sha256Crypt)) => {
            return Err(HashError::Malformed(
                "{SHA256-CRYPT} is not followed by a $5$ hash",
            ));
        }
        (r, _) => r?,
    };
    match want {
        Some(Scheme::Sha512Crypt) if head.scheme != Scheme::Sha512Crypt => {
            return Err(HashError::Malformed(
                "{SHA512-CRYPT} is not followed by a $6$ hash",
            ));
        }
        Some(Scheme::Sha256Crypt) if head.scheme != Scheme::Sha256Crypt => {
            return Err(HashError::Malformed(
                "{SHA256-CRYPT} is not followed by a $5$ hash",
            ));
        }
        _ => {}
    }
    let text = head
        .rest
        .ok_or(HashError::Malformed("no $ and digest after the salt"))?;
    let mut digest = [0u8; 64];
    let decoded = match head.scheme {
        Scheme::Sha512Crypt => b64::decode(text, &b64::SHA512_GROUPS, &mut digest),
        Scheme::Sha256Crypt => b64::decode(text, &b64::SHA256_GROUPS, &mut digest[..32]),
    };
    decoded.map_err(HashError::Malformed)?;
    let mut salt = [0u8; SALT_MAX];
    salt[..head.salt.len()].copy_from_slice(head.salt);
    Ok(Stored::Crypt(CryptHash {
        scheme: head.scheme,
        explicit_rounds: head.explicit_rounds,
        // parse_head guarantees salt.len() <= 16.
        salt_len: head.salt.len() as u8,
        rounds: head.rounds,
        salt,
        digest,
    }))
}
