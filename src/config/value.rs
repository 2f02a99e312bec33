//! Pure parsers for single config values. Each returns the typed value or a short,
//! lowercase description of what was expected; the caller adds `PATH:LINE:` or `--option:`
//! and decides whether the offending value may be echoed (secrets and URLs never are).

use std::path::PathBuf;
use std::time::Duration;

/// `true|false|yes|no|1|0|on|off`, any case.
pub fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A plain decimal integer (no sign, no separators), within `min..=max`.
pub fn integer(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = || format!("expected a whole number from {min} to {max}");
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    match s.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(expected()),
    }
}

/// Seconds as `30`, `0.5` or `2.125` (millisecond precision, no exponent, no sign), at most
/// `max_secs`. Floats are not used, so `nan`, `inf` and `1e9` are simply invalid.
pub fn seconds(s: &str, max_secs: u64) -> Result<Duration, String> {
    let expected =
        || format!("expected seconds from 0 to {max_secs}, like 30 or 0.5 (at most 3 decimals)");
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || !digits(frac)
        || frac.len() > 3
        || (s.contains('.') && frac.is_empty())
    {
        return Err(expected());
    }
    let secs: u64 = whole.parse().map_err(|_| expected())?;
    let mut millis: u64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        millis += u64::from(b - b'0') * [100, 10, 1][i];
    }
    let d = Duration::from_secs(secs) + Duration::from_millis(millis);
    if d > Duration::from_secs(max_secs) {
        return Err(expected());
    }
    Ok(d)
}

/// Formats a duration the way [`seconds`] reads it back (`30`, `0.5`).
pub fn format_seconds(d: Duration) -> String {
    let ms = d.subsec_millis();
    if ms == 0 {
        d.as_secs().to_string()
    } else {
        let frac = format!("{ms:03}");
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

/// An absolute path. Relative paths are refused: under Prosody and ejabberd the working
/// directory is whatever the server had, so a relative path would be a surprise.
pub fn abs_path(s: &str) -> Result<PathBuf, String> {
    if !s.starts_with('/') {
        return Err("expected an absolute path (starting with /)".into());
    }
    if s.chars().any(char::is_control) {
        return Err("path contains a control character".into());
    }
    Ok(PathBuf::from(s))
}

/// Checks an `http://` or `https://` URL closely enough to catch typos: known scheme,
/// non-empty host, no spaces or control characters. Returns whether it is https.
/// Credentials in the URL are refused unless `allow_userinfo` (proxies take them there).
pub fn http_url(s: &str, allow_userinfo: bool) -> Result<bool, String> {
    let lower = s.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("https://") {
        (true, &s[8..])
    } else if lower.starts_with("http://") {
        (false, &s[7..])
    } else {
        return Err("expected a URL starting with http:// or https://".into());
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL contains a space or control character".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if allow_userinfo {
        // `http://u:pa/ss@proxy` would be read as host `u` and shown unredacted: a proxy
        // password with these characters must be percent-encoded.
        if let Some((before, _)) = rest.rsplit_once('@') {
            if before.contains(['/', '?', '#']) {
                return Err(
                    "'/', '?' and '#' in a proxy user or password must be percent-encoded".into(),
                );
            }
        }
    }
    let host = match authority.rsplit_once('@') {
        Some(_) if !allow_userinfo => {
            return Err("URL must not contain credentials; use http_auth_credentials_file".into());
        }
        Some((_, h)) => h,
        None => authority,
    };
    if host.is_empty() || host.starts_with(':') {
        return Err("URL has no host".into());
    }
    Ok(https)
}

/// Hides the password of `scheme://user:password@host/...` for display. Redacts up to the
/// last `@` of the whole URL, so a password holding `/`, `?` or `#` is hidden too (an `@`
/// in a path only costs some over-redaction of a display string).
pub fn redact_userinfo(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    match rest.rfind('@').filter(|&at| rest[..at].contains(':')) {
        Some(at) => {
            let user = rest[..at].split([':', '/', '?', '#']).next().unwrap_or("");
            format!("{}{user}:<redacted>{}", &url[..start], &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Levenshtein distance, for "did you mean" on unknown keys and options.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small distance, if any.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for s in ["true", "YES", "1", "on", "On"] {
            assert_eq!(boolean(s), Some(true), "{s}");
        }
        for s in ["false", "no", "0", "off", "OFF"] {
            assert_eq!(boolean(s), Some(false), "{s}");
        }
        for s in ["", "2", "y", "enabled", "truee"] {
            assert_eq!(boolean(s), None, "{s}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(integer("100", 100, 60000), Ok(100));
        assert_eq!(integer("60000", 100, 60000), Ok(60000));
        for s in [
            "99",
            "60001",
            "",
            "-5",
            "+5",
            "1_000",
            " 5",
            "5s",
            "99999999999999999999",
        ] {
            assert!(integer(s, 100, 60000).is_err(), "{s}");
        }
    }

    #[test]
    fn seconds_table() {
        let ok = [
            ("0", 0),
            ("30", 30_000),
            ("0.5", 500),
            ("1.25", 1250),
            ("2.125", 2125),
            ("600", 600_000),
        ];
        for (s, ms) in ok {
            assert_eq!(seconds(s, 600), Ok(Duration::from_millis(ms)), "{s}");
        }
        for s in [
            "", ".5", "5.", "1.2345", "-1", "1e3", "nan", "inf", "601", "600.001", "1,5", "5s",
        ] {
            assert!(seconds(s, 600).is_err(), "{s}");
        }
    }

    #[test]
    fn seconds_round_trip() {
        for s in ["0", "30", "0.5", "1.25", "2.125"] {
            let d = seconds(s, 600).unwrap_or_default();
            assert_eq!(format_seconds(d), s);
        }
    }

    #[test]
    fn paths() {
        assert!(abs_path("/etc/x").is_ok());
        assert!(abs_path("etc/x").is_err());
        assert!(abs_path("").is_err());
        assert!(abs_path("/etc/\u{7}x").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(http_url("http://127.0.0.1:8080/auth", false), Ok(false));
        assert_eq!(http_url("HTTPS://auth.example.org/$host/", false), Ok(true));
        assert_eq!(http_url("https://h/?a=1#frag", false), Ok(true));
        for s in [
            "ftp://x",
            "http://",
            "http:///path",
            "http://:80/",
            "auth.example.org",
            "http://a b/",
            "https://u:p@h/",
        ] {
            assert!(http_url(s, false).is_err(), "{s}");
        }
        assert_eq!(http_url("http://u:p@proxy:3128", true), Ok(false));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_userinfo("http://bob:s3cret@proxy:3128/"),
            "http://bob:<redacted>@proxy:3128/"
        );
        assert_eq!(redact_userinfo("http://h/a@b"), "http://h/a@b");
        assert_eq!(
            redact_userinfo("http://u:pa/ss@proxy:3128"),
            "http://u:<redacted>@proxy:3128"
        );
        assert!(!redact_userinfo("https://u:p@x").contains(":p@"));
    }

    #[test]
    fn suggestions() {
        let keys = ["users_file", "hash_rounds", "log"];
        assert_eq!(closest("user_file", keys), Some("users_file"));
        assert_eq!(closest("hash_round", keys), Some("hash_rounds"));
        assert_eq!(closest("colour", keys), None);
    }
}
