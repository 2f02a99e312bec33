//! Percent-encoding and URL building for the mod_auth_http requests. Pure functions.
//!
//! Users, hosts and passwords are arbitrary bytes (UTF-8 in practice, but NUL and invalid
//! sequences must survive too): every byte outside RFC 3986's unreserved set
//! (`A-Z a-z 0-9 - . _ ~`) is written as `%XX` with upper-case hex, so a `&`, `=`, `+`, `%`,
//! `#`, `?`, `/`, space or colon can never change the structure of the query or form.
//! Space is `%20`, not `+`: both decode to a space in a form, `%20` also in a path.

use std::fmt::Write as _;

use super::scrub::SecretBuf;

/// Placeholder in `http_url` replaced by the request's host.
pub const HOST_PLACEHOLDER: &str = "$host";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `bytes` percent-encoded to `out`.
pub fn percent_encode_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

pub fn percent_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    percent_encode_into(&mut s, bytes);
    s
}

/// Room [`form`] needs for `pairs`, at most: every value byte encoded as `%XX`. An upper
/// bound rather than the exact length saves a pass over the password; the buffer is wiped
/// whole anyway.
pub fn form_capacity(pairs: &[(&str, &[u8])]) -> usize {
    pairs.iter().map(|(k, v)| k.len() + 2 + 3 * v.len()).sum()
}

/// Appends [`form`]`(pairs)` to `out`, which must have room for [`form_capacity`] more
/// bytes.
pub fn form_into(out: &mut SecretBuf, pairs: &[(&str, &[u8])]) {
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b"&");
        }
        out.push(k.as_bytes());
        out.push(b"=");
        out.push_encoded(v, is_unreserved);
    }
}

/// `name=value&name=value`, each value percent-encoded: the GET query string and the
/// `application/x-www-form-urlencoded` POST body are the same bytes. Names are ours
/// (`user`, `server`, `pass`) and need no encoding. Built in a [`SecretBuf`] of exactly
/// sufficient size, never reallocated: it holds the password.
pub fn form(pairs: &[(&str, &[u8])]) -> SecretBuf {
    let mut s = SecretBuf::with_capacity(form_capacity(pairs));
    form_into(&mut s, pairs);
    s
}

/// `path?form` for a GET request line, in one [`SecretBuf`] that never reallocates.
pub fn path_and_query(path: &str, pairs: &[(&str, &[u8])]) -> SecretBuf {
    let mut s = SecretBuf::with_capacity(path.len() + 1 + form_capacity(pairs));
    s.push(path.as_bytes());
    s.push(b"?");
    form_into(&mut s, pairs);
    s
}

/// The configured base with every `$host` replaced by the percent-encoded host (so a
/// hostile host cannot add a path, query or authority of its own).
pub fn substitute_host(template: &str, host: &[u8]) -> String {
    if template.contains(HOST_PLACEHOLDER) {
        template.replace(HOST_PLACEHOLDER, &percent_encode(host))
    } else {
        template.to_owned()
    }
}

/// `<base>/<method>`: one trailing `/` of the base removed, then exactly one `/` (as
/// Prosody's mod_auth_http does).
pub fn endpoint(base: &str, method: &str) -> String {
    let base = base.strip_suffix('/').unwrap_or(base);
    let mut s = String::with_capacity(base.len() + 1 + method.len());
    s.push_str(base);
    s.push('/');
    s.push_str(method);
    s
}

/// Decodes `%XX` (and `+` as space, as forms do). For tests and the test servers; the
/// inverse of [`percent_encode`] on its output.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_kept_everything_else_encoded() {
        assert_eq!(percent_encode(b"AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode(b": &=+%/?#"), "%3A%20%26%3D%2B%25%2F%3F%23");
        assert_eq!(percent_encode("jürgen".as_bytes()), "j%C3%BCrgen");
        assert_eq!(percent_encode(b"a\0b\xff\n"), "a%00b%FF%0A");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert!(
            enc.bytes()
                .all(|b| is_unreserved(b) || b == b'%' || b.is_ascii_hexdigit())
        );
        assert_eq!(percent_decode(enc.as_bytes()).unwrap(), all);
    }

    #[test]
    fn form_layout() {
        let pairs: &[(&str, &[u8])] =
            &[("user", b"a&pass=x"), ("server", b"h"), ("pass", b"p w+%")];
        let f = form(pairs);
        assert_eq!(f.as_bytes(), b"user=a%26pass%3Dx&server=h&pass=p%20w%2B%25");
        // Big enough, so it never reallocates (a stale copy would stay behind).
        assert!(form_capacity(pairs) >= f.len());
        assert!(form(&[]).is_empty());
        let all: Vec<u8> = (0..=255).collect();
        let f = form(&[("pass", &all)]);
        assert_eq!(
            f.as_bytes(),
            format!("pass={}", percent_encode(&all)).as_bytes()
        );
        assert_eq!(
            path_and_query("/api/check_password", &[("user", b"a b")]).as_bytes(),
            b"/api/check_password?user=a%20b"
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("http://a/api", "user_exists"),
            "http://a/api/user_exists"
        );
        assert_eq!(
            endpoint("http://a/api/", "user_exists"),
            "http://a/api/user_exists"
        );
        // only one trailing slash is removed, as Prosody does
        assert_eq!(endpoint("http://a/api//", "x"), "http://a/api//x");
        assert_eq!(endpoint("http://a", "x"), "http://a/x");
    }

    #[test]
    fn host_substitution() {
        assert_eq!(
            substitute_host("https://api.example/$host/auth", b"example.org"),
            "https://api.example/example.org/auth"
        );
        assert_eq!(
            substitute_host("https://$host/x/$host", b"a.b"),
            "https://a.b/x/a.b"
        );
        // a hostile host cannot add path, query or authority
        assert_eq!(
            substitute_host("https://api/$host/auth", b"evil/../x?y#z@w"),
            "https://api/evil%2F..%2Fx%3Fy%23z%40w/auth"
        );
        assert_eq!(
            substitute_host("http://fixed/api", b"h"),
            "http://fixed/api"
        );
    }
}
