//! Checks of the password stores: hash strings, the users file, the HTTP answer table.

use std::time::{Duration, Instant};

use xmpp_extauth::backend::Backend;
use xmpp_extauth::backend::Verdict;
use xmpp_extauth::backend::file::FileBackend;
#[cfg(feature = "http")]
use xmpp_extauth::backend::http::encode;
#[cfg(feature = "http")]
use xmpp_extauth::backend::http::verdict::{ApiMethod, Fault, Outcome, verdict_from};
use xmpp_extauth::config::Settings;
use xmpp_extauth::hash::{self, HashError, MAX_PASSWORD_LEN, MAX_ROUNDS};
use xmpp_extauth::request::Request;

/// Rounds above this are parsed but not hashed, so the fuzzer is not slowed down.
pub const FUZZ_MAX_ROUNDS: u32 = 5000;

/// The stored-hash part of a users-file line after an optional Dovecot-style prefix.
fn crypt_body(stored: &[u8]) -> &[u8] {
    stored
        .strip_prefix(b"{SHA512-CRYPT}")
        .or_else(|| stored.strip_prefix(b"{SHA256-CRYPT}"))
        .unwrap_or(stored)
}

/// The number after every `rounds=` in `s`, saturating (for the cap check).
fn rounds_fields(s: &[u8]) -> impl Iterator<Item = u64> + '_ {
    s.windows(7)
        .enumerate()
        .filter(|(_, w)| *w == b"rounds=")
        .map(move |(i, _)| {
            s[i + 7..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .fold(0u64, |v, &c| {
                    v.saturating_mul(10).saturating_add(u64::from(c - b'0'))
                })
        })
}

/// Target `hash_parse_verify`. Input: `stored [\n password [\n mutation]]`.
///
/// - `hash::parse` never panics; an accepted hash never has a cost above `MAX_ROUNDS`
///   (errors cannot quote the input: `HashError` holds only static text and a number).
/// - `{PLAIN}x` verifies exactly the password `x`, and its Debug text is fixed.
/// - For SHA-crypt (rounds <= [`FUZZ_MAX_ROUNDS`]): `verify(pw)` is true exactly when
///   crypt(3) with the stored string as setting reproduces the stored string (what
///   libxcrypt's users compare), and the canonical hash of `pw` under the same setting
///   parses and verifies `pw`, while a one-character change of it (position and byte from
///   the mutation bytes) never verifies unless it is the same string.
/// - `hash_with_salt` (a crypt(3) setting) never panics on any input.
pub fn check_hash_parse_verify(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let stored = parts.next().unwrap_or_default();
    let password = parts.next().unwrap_or(b"password");
    let mutation = parts.next().unwrap_or_default();

    let setting_ok = rounds_fields(stored).all(|r| r <= u64::from(FUZZ_MAX_ROUNDS));
    if setting_ok {
        let _ = hash::hash_with_salt(stored, password);
    }
    let parsed = match hash::parse(stored) {
        Err(e) => {
            if let HashError::CostTooHigh(r) = e {
                assert!(
                    r > u64::from(MAX_ROUNDS),
                    "refused rounds={r} under the cap"
                );
            }
            return;
        }
        Ok(h) => h,
    };
    let shown = format!("{parsed:?}");
    if let Some(plain) = stored.strip_prefix(b"{PLAIN}") {
        assert!(parsed.is_plain() && parsed.cost().is_none());
        assert_eq!(
            parsed.verify(password),
            password == plain,
            "{{PLAIN}} verify"
        );
        assert!(parsed.verify(plain));
        // Exact text, not "does not contain the password": a password such as `ash(pl`
        // is a substring of the fixed text itself.
        assert_eq!(
            shown, "PasswordHash(plain, ..)",
            "Debug of a {{PLAIN}} entry"
        );
        return;
    }
    let (_, rounds) = parsed.cost().expect("a crypt hash has a cost");
    assert!(
        rounds <= MAX_ROUNDS,
        "accepted rounds={rounds} above the cap"
    );
    for r in rounds_fields(stored) {
        assert!(
            r <= u64::from(MAX_ROUNDS),
            "accepted a rounds= field of {r}"
        );
    }
    if rounds > FUZZ_MAX_ROUNDS {
        return;
    }
    let body = crypt_body(stored);
    let ok = parsed.verify(password);
    if password.len() > MAX_PASSWORD_LEN {
        assert!(!ok, "a password over {MAX_PASSWORD_LEN} bytes verified");
        return;
    }
    let canonical =
        hash::hash_with_salt(body, password).expect("an accepted stored hash is a valid setting");
    assert_eq!(
        ok,
        canonical.as_bytes() == body,
        "verify disagrees with crypt(3) string comparison"
    );
    let again = hash::parse(canonical.as_bytes()).expect("crypt output parses");
    assert!(
        again.verify(password),
        "crypt output does not verify its own password"
    );
    if let [at, byte, ..] = *mutation {
        let mut m = canonical.clone().into_bytes();
        let i = usize::from(at) % m.len();
        m[i] = byte;
        if let Ok(h) = hash::parse(&m) {
            let cost_ok = h.cost().is_some_and(|(_, r)| r <= FUZZ_MAX_ROUNDS);
            if cost_ok {
                assert_eq!(
                    h.verify(password),
                    m == canonical.as_bytes(),
                    "a changed hash string still verifies"
                );
            }
        }
    }
}

/// Settings for in-memory users files: cheapest dummy verification.
fn file_settings() -> Settings {
    Settings {
        hash_rounds: hash::MIN_ROUNDS,
        ..Settings::default()
    }
}

/// One line as the model reads it: `(user, domain, hash)`, names lower-cased.
type ModelLine = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// The users-file line rules, written from the module docs: `name:hash`, the name is
/// everything before the first `:`, valid UTF-8 without whitespace or control characters,
/// `user` or `user@domain` (both non-empty, one `@` at most), compared in lower case; one
/// trailing CR dropped; `#` lines, blank lines, lines over 8192 bytes and empty hashes are
/// never entries.
fn model_line(line: &[u8]) -> Option<ModelLine> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > 8192 || line.first() == Some(&b'#') {
        return None;
    }
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, hash) = (&line[..colon], &line[colon + 1..]);
    if hash.is_empty() {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (user, domain) = match name.split_once('@') {
        Some((u, d)) => (u, Some(d)),
        None => (name, None),
    };
    if user.is_empty() || domain.is_some_and(|d| d.is_empty() || d.contains('@')) {
        return None;
    }
    let low = |s: &str| s.to_lowercase().into_bytes();
    Some((low(user), domain.map(low), hash.to_vec()))
}

/// Target `users_file_parse`: `FileBackend::from_bytes` over arbitrary bytes never panics,
/// and for every simple name in the file, `isuser` and `auth` answer what the users-file
/// rules say: the first exact `user@domain` line wins over the first domain-less `user`
/// line; the deciding line's hash must parse (a refused hash never authenticates and does
/// not make the user exist); `auth` is yes exactly when that hash verifies the password.
/// Hashes costing more than [`FUZZ_MAX_ROUNDS`] are looked up but not verified.
pub fn check_users_file_parse(data: &[u8]) {
    // Bad lines are logged as errors; millions of them would only slow the fuzzer down.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let _ = xmpp_extauth::log::init(
            &xmpp_extauth::log::LogTarget::None,
            xmpp_extauth::log::Level::Error,
            false,
        );
    });
    let mut b = FileBackend::from_bytes("fuzz-users", data.to_vec(), &file_settings());
    assert!(b.len() <= data.split(|&c| c == b'\n').count());
    let lines: Vec<ModelLine> = data.split(|&c| c == b'\n').filter_map(model_line).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    // At most 16 names per input, and `auth` (which always costs a hash, real or dummy)
    // for the first 4 only: hashing would otherwise be most of the fuzzer's time.
    for (i, (user, domain, _)) in lines.iter().take(16).enumerate() {
        let host: &[u8] = domain.as_deref().unwrap_or(b"elsewhere.example");
        let deciding = lines
            .iter()
            .find(|(u, d, _)| u == user && d.as_deref() == Some(host))
            .or_else(|| lines.iter().find(|(u, d, _)| u == user && d.is_none()));
        let Some((_, _, stored)) = deciding else {
            unreachable!("the line itself matches")
        };
        let parsed = hash::parse(stored).ok();
        let isuser = b.handle(&Request::IsUser { user, host }, deadline);
        assert_eq!(
            isuser == Verdict::Yes,
            parsed.is_some(),
            "isuser {:?}@{:?}",
            String::from_utf8_lossy(user),
            String::from_utf8_lossy(host)
        );
        let cheap = parsed
            .as_ref()
            .is_none_or(|h| h.cost().is_none_or(|(_, r)| r <= FUZZ_MAX_ROUNDS));
        if !cheap || i >= 4 {
            continue;
        }
        let password: &[u8] = match stored.strip_prefix(b"{PLAIN}") {
            Some(p) if !p.is_empty() => p,
            _ => b"wrong password",
        };
        let auth = b.handle(
            &Request::Auth {
                user,
                host,
                password,
            },
            deadline,
        );
        let want = parsed.as_ref().is_some_and(|h| h.verify(password));
        assert_eq!(
            auth == Verdict::Yes,
            want,
            "auth {:?}@{:?}",
            String::from_utf8_lossy(user),
            String::from_utf8_lossy(host)
        );
        assert_ne!(auth, Verdict::Unavailable);
    }
    // Requests the file cannot name never exist.
    for (user, host) in [(&b"a@b"[..], &b"c"[..]), (b"a", b"b:c"), (b"a\n", b"b")] {
        assert_ne!(
            b.handle(&Request::IsUser { user, host }, deadline),
            Verdict::Yes
        );
    }
    // Writes are refused on an in-memory file.
    let w = b.handle(
        &Request::SetPass {
            user: b"a",
            host: b"b",
            password: b"c",
        },
        deadline,
    );
    assert_ne!(w, Verdict::Yes);
}

/// The mod_auth_http table, written from PROTOCOLS.md §5 independently of `verdict_from`.
#[cfg(feature = "http")]
pub fn reference_verdict(method: ApiMethod, status: u16, body: &[u8]) -> Outcome {
    use ApiMethod::*;
    if status == 501 {
        return Outcome::Unsupported;
    }
    if (300..400).contains(&status) {
        return Outcome::Fault(Fault::Redirect(status));
    }
    if (400..500).contains(&status) {
        return Outcome::No;
    }
    let query = matches!(method, CheckPassword | UserExists);
    if query && status == 200 {
        let mut b = body;
        while let [c, rest @ ..] = b {
            if !c.is_ascii_whitespace() {
                break;
            }
            b = rest;
        }
        while let [rest @ .., c] = b {
            if !c.is_ascii_whitespace() {
                break;
            }
            b = rest;
        }
        return match b {
            b"true" => Outcome::Yes,
            b"false" => Outcome::No,
            _ => Outcome::Fault(Fault::Body),
        };
    }
    let yes = match method {
        SetPassword | RemoveUser => matches!(status, 200 | 201 | 204),
        Register => status == 201,
        CheckPassword | UserExists => false,
    };
    if yes {
        Outcome::Yes
    } else {
        Outcome::Fault(Fault::Status(status))
    }
}

/// Target `http_verdict` (needs the `http` feature, on by default in both crates).
/// Input: `[method, status hi, status lo, body...]`.
///
/// `verdict_from` equals the reference table: only `200 true` for queries, 200/201/204
/// for set/remove and 201 for register are yes; never a redirect, a 5xx or a garbled
/// body. (A fault cannot carry the body: `Fault` holds only a status number.) The URL
/// encoding the requests use round-trips the same bytes and leaves only unreserved
/// characters and `%XX` escapes.
#[cfg(feature = "http")]
pub fn check_http_verdict(data: &[u8]) {
    let method = ApiMethod::ALL[usize::from(data.first().copied().unwrap_or(0)) % 5];
    let status = u16::from_be_bytes([
        data.get(1).copied().unwrap_or(0),
        data.get(2).copied().unwrap_or(200),
    ]);
    let body = data.get(3..).unwrap_or_default();
    let got = verdict_from(method, status, body);
    assert_eq!(
        got,
        reference_verdict(method, status, body),
        "{method} {status}"
    );
    let enc = encode::percent_encode(body);
    assert!(
        enc.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~%".contains(&c)),
        "unencoded byte in {enc}"
    );
    assert_eq!(
        encode::percent_decode(enc.as_bytes()).as_deref(),
        Some(body),
        "percent round trip"
    );
}
