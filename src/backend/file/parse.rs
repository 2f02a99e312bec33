//! One line of the users file -> what it is. Pure: no IO, no hashing.
//!
//! A line is `localpart@domain:HASH` or `localpart:HASH` (a domain-less entry that
//! matches every domain), a `#` comment, or blank. The name is everything before the
//! first `:` (names never contain one); the hash is the rest of the line, minus one
//! trailing `\r` so a file edited on Windows still works.
//!
//! Names are compared after the normalisation the servers apply (lower case), so a
//! name is lower-cased here (Unicode-aware for non-ASCII UTF-8) and the caller warns
//! when the file did not already hold it that way.

use std::borrow::Cow;

/// What one line holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// Empty, whitespace only, or a `#` comment: kept verbatim on rewrite, never matches.
    Blank,
    /// A syntactically valid entry. The hash is not validated here.
    Entry(Entry<'a>),
    /// A line that can never match, with the reason for the admin.
    Bad(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// Normalised localpart.
    pub user: Cow<'a, [u8]>,
    /// Normalised domain; `None` for a domain-less entry.
    pub domain: Option<Cow<'a, [u8]>>,
    /// The stored hash bytes (everything after the first `:`).
    pub hash: &'a [u8],
    /// False when lower-casing changed the name (the file should be fixed).
    pub already_normal: bool,
}

/// Splits `data` into lines: `(line number from 1, byte offset of the line, line without
/// its `\n`)`. A last line without `\n` is still a line.
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (u32, usize, &[u8])> {
    let mut start = 0usize;
    let mut no = 0u32;
    std::iter::from_fn(move || {
        if start >= data.len() {
            return None;
        }
        let end = find_byte(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let item = (no.saturating_add(1), start, &data[start..end]);
        no = no.saturating_add(1);
        start = end + 1;
        Some(item)
    })
}

/// Longest line accepted: real entries are ~130 bytes; a giant line is junk, and must
/// not reach the hash parser or the name normaliser.
pub(crate) const MAX_LINE: usize = 8192;

pub(crate) use crate::wire::bytes::{count_byte, find_byte};
use crate::wire::bytes::{name_separators, word};

/// Classifies one line (without its `\n`).
pub(crate) fn parse_line(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Line::Bad("line longer than 8192 bytes");
    }
    if line.iter().all(|b| b.is_ascii_whitespace()) || line.first() == Some(&b'#') {
        return Line::Blank;
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Line::Bad("missing ':' between name and hash");
    };
    let (name, hash) = (&line[..colon], &line[colon + 1..]);
    if hash.is_empty() {
        return Line::Bad("empty hash");
    }
    match parse_name(name) {
        Ok((user, domain, already_normal)) => Line::Entry(Entry {
            user,
            domain,
            hash,
            already_normal,
        }),
        Err(why) => Line::Bad(why),
    }
}

/// A normalised name: `(localpart, domain, already normalised)`.
pub(crate) type Name<'a> = (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>, bool);

/// Validates and normalises `user@domain` or `user` (no `:` possible here). Shared with
/// the admin commands, so `user add` accepts exactly what the loader accepts.
pub(crate) fn parse_name(name: &[u8]) -> Result<Name<'_>, &'static str> {
    // Fast path for the usual all-ASCII name: one pass over the bytes.
    if name.is_ascii() && name.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err("name contains whitespace or a control character");
    }
    let Ok(s) = std::str::from_utf8(name) else {
        return Err("name is not valid UTF-8");
    };
    if !name.is_ascii() && s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("name contains whitespace or a control character");
    }
    if s.contains(':') {
        return Err("name contains ':'");
    }
    let (user, domain) = match s.split_once('@') {
        Some((u, d)) => (u, Some(d)),
        None => (s, None),
    };
    if user.is_empty() {
        return Err("empty localpart");
    }
    if let Some(d) = domain {
        if d.is_empty() {
            return Err("empty domain after '@'");
        }
        if d.contains('@') {
            return Err("more than one '@' in name");
        }
    }
    let u = lower(user);
    let d = domain.map(lower);
    let already =
        matches!(u, Cow::Borrowed(_)) && d.as_ref().is_none_or(|d| matches!(d, Cow::Borrowed(_)));
    Ok((u, d, already))
}

/// Lower case, as the servers normalise names (nodeprep/PRECIS map to lower case).
/// Borrowed when the input was already lower case.
fn lower(s: &str) -> Cow<'_, [u8]> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase().into_bytes())
        } else {
            Cow::Borrowed(s.as_bytes())
        }
    } else {
        let l = s.to_lowercase();
        if l == s {
            Cow::Borrowed(s.as_bytes())
        } else {
            Cow::Owned(l.into_bytes())
        }
    }
}

/// Whether request fields can name an entry at all: a localpart with `@` or `:` (or a
/// domain with either) could otherwise alias another entry's key. Requests arrive
/// normalised and are compared byte for byte; anything else simply cannot match.
#[inline]
pub(crate) fn request_name_ok(user: &[u8], host: &[u8]) -> bool {
    !user.is_empty() && !host.is_empty() && !has_separator(user) && !has_separator(host)
}

/// Whether `s` holds a `@`, `:` or `\n`, eight bytes at a time.
fn has_separator(s: &[u8]) -> bool {
    let len = s.len();
    if len < 8 {
        return s.iter().any(|&b| matches!(b, b'@' | b':' | b'\n'));
    }
    let mut i = 0;
    while i + 8 <= len {
        if name_separators(word(s, i)) != 0 {
            return true;
        }
        i += 8;
    }
    // The last 8 bytes, overlapping what was already seen.
    i != len && name_separators(word(s, len - 8)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &[u8]) -> Entry<'_> {
        match parse_line(line) {
            Line::Entry(e) => e,
            other => panic!("not an entry: {other:?}"),
        }
    }

    #[test]
    fn blank_and_comments() {
        assert_eq!(parse_line(b""), Line::Blank);
        assert_eq!(parse_line(b"   \t"), Line::Blank);
        assert_eq!(parse_line(b"\r"), Line::Blank);
        assert_eq!(parse_line(b"# alice@x:{PLAIN}y"), Line::Blank);
    }

    #[test]
    fn entries_split_at_first_colon() {
        let e = entry(b"alice@example.org:$6$a:b:c\r");
        assert_eq!(&*e.user, b"alice");
        assert_eq!(e.domain.as_deref(), Some(&b"example.org"[..]));
        assert_eq!(e.hash, b"$6$a:b:c");
        assert!(e.already_normal);
        let e = entry(b"bob:{PLAIN}x");
        assert_eq!(&*e.user, b"bob");
        assert_eq!(e.domain, None);
    }

    #[test]
    fn names_are_lower_cased() {
        let e = entry(b"Alice@Example.ORG:h");
        assert_eq!(&*e.user, b"alice");
        assert_eq!(e.domain.as_deref(), Some(&b"example.org"[..]));
        assert!(!e.already_normal);
        let e = entry("JÜRGEN@x:h".as_bytes());
        assert_eq!(&*e.user, "jürgen".as_bytes());
        assert!(!e.already_normal);
        let e = entry("jürgen@x:h".as_bytes());
        assert!(e.already_normal);
    }

    #[test]
    fn bad_lines() {
        assert!(matches!(parse_line(b"alice@example.org"), Line::Bad(_)));
        assert!(matches!(parse_line(b"alice@example.org:"), Line::Bad(_)));
        assert!(matches!(parse_line(b"@example.org:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"alice@:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"a@b@c:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b" alice@x:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"al ice@x:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"al\x01ice@x:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"al\xffice@x:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"al\x00ice@x:h"), Line::Bad(_)));
        assert!(matches!(parse_line(b"al\x7fice@x:h"), Line::Bad(_)));
        assert!(matches!(
            parse_line("al\u{a0}ice@x:h".as_bytes()),
            Line::Bad(_)
        ));
        assert!(matches!(
            parse_line("al\u{85}ice@x:h".as_bytes()),
            Line::Bad(_)
        ));
        let mut long = b"a@x:{PLAIN}".to_vec();
        long.resize(MAX_LINE + 1, b'y');
        assert!(matches!(parse_line(&long), Line::Bad(_)));
    }

    #[test]
    fn line_numbers_and_offsets() {
        let v: Vec<_> = lines(b"a\n\nbc\nd").collect();
        assert_eq!(
            v,
            vec![
                (1, 0, &b"a"[..]),
                (2, 2, &b""[..]),
                (3, 3, &b"bc"[..]),
                (4, 6, &b"d"[..])
            ]
        );
        assert_eq!(lines(b"a\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn byte_search_matches_naive() {
        let hay: Vec<u8> = (0..300u32)
            .map(|i| (i * 37 % 11) as u8 + b'\n' - 3)
            .collect();
        for start in 0..20 {
            for needle in [b'\n', b'\n' - 3, 0, 0xff] {
                let h = &hay[start..];
                assert_eq!(
                    find_byte(needle, h),
                    h.iter().position(|&b| b == needle),
                    "{start} {needle}"
                );
                assert_eq!(
                    count_byte(needle, h),
                    h.iter().filter(|&&b| b == needle).count()
                );
            }
        }
        assert_eq!(
            count_byte(0x80, &[0x80, 0x00, 0x80, 1, 2, 3, 4, 0x80, 0x80]),
            4
        );
        assert_eq!(
            count_byte(0, &[0x80, 0x00, 0x80, 1, 0, 0, 4, 0x80, 0x00]),
            4
        );
        assert_eq!(find_byte(b'x', b""), None);
    }

    #[test]
    fn separator_search_matches_naive() {
        let naive = |s: &[u8]| s.iter().any(|&b| matches!(b, b'@' | b':' | b'\n'));
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            assert!(!has_separator(&base[..len]), "clean {len}");
            for at in 0..len {
                for sep in [b'@', b':', b'\n', b'?', b'A', 0x80, 0xc0, 0, b'\n' + 1] {
                    let mut v = base[..len].to_vec();
                    v[at] = sep;
                    assert_eq!(has_separator(&v), naive(&v), "{len} {at} {sep}");
                }
            }
        }
    }

    #[test]
    fn request_names() {
        assert!(request_name_ok(b"alice", b"example.org"));
        assert!(!request_name_ok(b"alice", b"example.org\n"));
        assert!(!request_name_ok(
            b"averyveryverylonglocalpart:x",
            b"example.org"
        ));
        assert!(!request_name_ok(b"a@b", b"example.org"));
        assert!(!request_name_ok(b"a", b"x:y"));
        assert!(!request_name_ok(b"", b"x"));
    }
}
