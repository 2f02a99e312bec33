//! Opt-in cache of API answers (`cache_ttl`, `cache_grace`).
//!
//! Entries are keyed by HMAC-SHA256, under a random per-process key, of the length-prefixed
//! kind, user, host (and password for `auth`): the plaintext is never stored, and a
//! memory dump reveals neither who logged in nor with what. Only a *successful* `auth` is
//! stored (a wrong password is never remembered as yes); `isuser` answers (yes or no) are
//! stored too. Each entry also carries an HMAC of (user, host) alone so that `setpass`,
//! `removeuser` and `tryregister` can drop all entries of that user.
//!
//! - fresh (younger than `ttl`): answered without asking the API;
//! - older, while the API is *unavailable*: a stored yes younger than `grace` still
//!   answers yes (the caller logs it);
//! - size bounded by [`MAX_ENTRIES`]; when full the oldest entry goes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// At most this many entries (about 100 bytes each).
pub const MAX_ENTRIES: usize = 4096;

pub type Tag = [u8; 32];

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> Tag {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(key);
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// What an entry answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Auth,
    IsUser,
}

struct Entry {
    at: Instant,
    user: Tag,
    yes: bool,
}

pub struct Cache {
    key: [u8; 32],
    ttl: Duration,
    grace: Duration,
    entries: HashMap<Tag, Entry>,
}

fn len32(b: &[u8]) -> [u8; 4] {
    // Fields come from one request frame (< 64 KiB): the length always fits.
    (b.len() as u32).to_be_bytes()
}

impl Cache {
    pub fn new(key: [u8; 32], ttl: Duration, grace: Duration) -> Cache {
        Cache {
            key,
            ttl,
            grace,
            entries: HashMap::new(),
        }
    }

    fn tag(&self, kind: Kind, user: &[u8], host: &[u8], password: &[u8]) -> Tag {
        let k: &[u8] = match kind {
            Kind::Auth => b"A",
            Kind::IsUser => b"I",
        };
        hmac_sha256(
            &self.key,
            &[
                k,
                &len32(user),
                user,
                &len32(host),
                host,
                &len32(password),
                password,
            ],
        )
    }

    fn user_tag(&self, user: &[u8], host: &[u8]) -> Tag {
        hmac_sha256(&self.key, &[b"U", &len32(user), user, &len32(host), host])
    }

    /// A stored answer younger than the TTL. (`password` is empty for `isuser`.)
    pub fn fresh(
        &self,
        kind: Kind,
        user: &[u8],
        host: &[u8],
        password: &[u8],
        now: Instant,
    ) -> Option<bool> {
        let e = self.entries.get(&self.tag(kind, user, host, password))?;
        (now.saturating_duration_since(e.at) < self.ttl).then_some(e.yes)
    }

    /// Whether a stored *yes* younger than the grace period exists (for use while the API
    /// is unavailable only). Returns its age.
    pub fn grace(
        &self,
        kind: Kind,
        user: &[u8],
        host: &[u8],
        password: &[u8],
        now: Instant,
    ) -> Option<Duration> {
        let e = self.entries.get(&self.tag(kind, user, host, password))?;
        let age = now.saturating_duration_since(e.at);
        (e.yes && age < self.grace).then_some(age)
    }

    /// Remembers an answer from the API. `auth` answers are only ever stored as yes:
    /// callers pass `yes = false` only for `isuser`.
    pub fn store(
        &mut self,
        kind: Kind,
        user: &[u8],
        host: &[u8],
        password: &[u8],
        yes: bool,
        now: Instant,
    ) {
        if kind == Kind::Auth && !yes {
            self.forget(kind, user, host, password);
            return;
        }
        let tag = self.tag(kind, user, host, password);
        let keep = self.ttl.max(self.grace);
        if keep.is_zero() {
            return;
        }
        if !self.entries.contains_key(&tag) && self.entries.len() >= MAX_ENTRIES {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.at) < keep);
            if self.entries.len() >= MAX_ENTRIES {
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(t, _)| *t)
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        let user = self.user_tag(user, host);
        self.entries.insert(tag, Entry { at: now, user, yes });
    }

    /// Drops one entry (the API said no, or the answer is no longer valid).
    pub fn forget(&mut self, kind: Kind, user: &[u8], host: &[u8], password: &[u8]) {
        let tag = self.tag(kind, user, host, password);
        self.entries.remove(&tag);
    }

    /// Drops every entry of `user@host` (after a write through the helper).
    pub fn forget_user(&mut self, user: &[u8], host: &[u8]) {
        let t = self.user_tag(user, host);
        self.entries.retain(|_, e| e.user != t);
    }

    pub fn grace_period(&self) -> Duration {
        self.grace
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 4231 test case 2 has a short key; with our fixed 32-byte key, compare a
    /// zero-padded key instead (HMAC pads short keys with zeros, so it is the same MAC).
    #[test]
    fn hmac_rfc4231_case2() {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_rfc4231_case1_shape() {
        // case 1: key = 0x0b * 20
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            hex(&hmac_sha256(&key, &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    fn cache(ttl: u64, grace: u64) -> Cache {
        Cache::new(
            [7; 32],
            Duration::from_secs(ttl),
            Duration::from_secs(grace),
        )
    }

    #[test]
    fn fresh_then_expired_then_grace() {
        let t0 = Instant::now();
        let mut c = cache(10, 100);
        c.store(Kind::Auth, b"u", b"h", b"pw", true, t0);
        assert_eq!(c.fresh(Kind::Auth, b"u", b"h", b"pw", t0), Some(true));
        assert_eq!(c.fresh(Kind::Auth, b"u", b"h", b"wrong", t0), None);
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(c.fresh(Kind::Auth, b"u", b"h", b"pw", t1), None);
        assert!(c.grace(Kind::Auth, b"u", b"h", b"pw", t1).is_some());
        assert!(
            c.grace(Kind::Auth, b"u", b"h", b"pw", t0 + Duration::from_secs(101))
                .is_none()
        );
    }

    #[test]
    fn wrong_password_never_stored_as_yes() {
        let t0 = Instant::now();
        let mut c = cache(10, 100);
        c.store(Kind::Auth, b"u", b"h", b"pw", false, t0);
        assert!(c.is_empty());
        c.store(Kind::Auth, b"u", b"h", b"pw", true, t0);
        c.store(Kind::Auth, b"u", b"h", b"pw", false, t0);
        assert!(c.is_empty());
    }

    #[test]
    fn fields_are_length_prefixed() {
        let t0 = Instant::now();
        let mut c = cache(10, 0);
        c.store(Kind::Auth, b"ab", b"c", b"pw", true, t0);
        assert_eq!(c.fresh(Kind::Auth, b"a", b"bc", b"pw", t0), None);
        assert_eq!(c.fresh(Kind::Auth, b"ab", b"cp", b"w", t0), None);
        assert_eq!(c.fresh(Kind::IsUser, b"ab", b"c", b"pw", t0), None);
    }

    #[test]
    fn forget_user_drops_all_of_that_user_only() {
        let t0 = Instant::now();
        let mut c = cache(10, 0);
        c.store(Kind::Auth, b"u", b"h", b"p1", true, t0);
        c.store(Kind::Auth, b"u", b"h", b"p2", true, t0);
        c.store(Kind::IsUser, b"u", b"h", b"", true, t0);
        c.store(Kind::Auth, b"v", b"h", b"p1", true, t0);
        c.store(Kind::Auth, b"u", b"other", b"p1", true, t0);
        c.forget_user(b"u", b"h");
        assert_eq!(c.len(), 2);
        assert_eq!(c.fresh(Kind::Auth, b"v", b"h", b"p1", t0), Some(true));
    }

    #[test]
    fn isuser_no_is_stored_but_never_graced() {
        let t0 = Instant::now();
        let mut c = cache(10, 100);
        c.store(Kind::IsUser, b"u", b"h", b"", false, t0);
        assert_eq!(c.fresh(Kind::IsUser, b"u", b"h", b"", t0), Some(false));
        assert!(c.grace(Kind::IsUser, b"u", b"h", b"", t0).is_none());
    }

    #[test]
    fn bounded_oldest_evicted() {
        let t0 = Instant::now();
        let mut c = cache(1000, 0);
        for i in 0..MAX_ENTRIES + 10 {
            let t = t0 + Duration::from_millis(i as u64);
            c.store(Kind::Auth, format!("u{i}").as_bytes(), b"h", b"p", true, t);
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(c.fresh(Kind::Auth, b"u0", b"h", b"p", later), None);
        let last = format!("u{}", MAX_ENTRIES + 9);
        assert_eq!(
            c.fresh(Kind::Auth, last.as_bytes(), b"h", b"p", later),
            Some(true)
        );
    }

    #[test]
    fn nothing_stored_when_off() {
        let mut c = cache(0, 0);
        c.store(Kind::Auth, b"u", b"h", b"p", true, Instant::now());
        assert!(c.is_empty());
    }
}
