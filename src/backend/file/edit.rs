//! Pure edits of users-file bytes: find an entry's lines, replace a hash, append an
//! entry, remove lines. Everything not edited (comments, blank lines, order, other
//! entries, line endings) is kept byte for byte.

use std::ops::Range;

use super::parse::{self, Line};

/// Ranges (without the `\n`) of every line whose normalised name is exactly
/// `user[@domain]`, in file order. Bad lines never match.
pub(crate) fn find(data: &[u8], user: &[u8], domain: Option<&[u8]>) -> Vec<Range<usize>> {
    parse::lines(data)
        .filter_map(|(_, start, line)| match parse::parse_line(line) {
            Line::Entry(e) if *e.user == *user && e.domain.as_deref() == domain => {
                Some(start..start + line.len())
            }
            _ => None,
        })
        .collect()
}

/// Replaces the hash of the line at `line` (keeping its name as written and a trailing
/// `\r` if it had one).
pub(crate) fn replace_hash(data: &[u8], line: Range<usize>, hash: &[u8]) -> Vec<u8> {
    let text = &data[line.clone()];
    let colon = text.iter().position(|&b| b == b':').unwrap_or(text.len());
    let cr = text.ends_with(b"\r") && colon < text.len() - 1;
    let mut out = Vec::with_capacity(data.len() + hash.len());
    out.extend_from_slice(&data[..line.start + colon]);
    out.push(b':');
    out.extend_from_slice(hash);
    if cr {
        out.push(b'\r');
    }
    out.extend_from_slice(&data[line.end..]);
    out
}

/// Appends `user[@domain]:hash\n`, first ending an unterminated last line.
pub(crate) fn append(data: &[u8], user: &[u8], domain: Option<&[u8]>, hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + user.len() + hash.len() + 64);
    out.extend_from_slice(data);
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(user);
    if let Some(d) = domain {
        out.push(b'@');
        out.extend_from_slice(d);
    }
    out.push(b':');
    out.extend_from_slice(hash);
    out.push(b'\n');
    out
}

/// Removes the given lines with their `\n`. `lines` must be in file order.
pub(crate) fn remove(data: &[u8], lines: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    for r in lines {
        out.extend_from_slice(&data[at..r.start]);
        at = (r.end + 1).min(data.len());
    }
    out.extend_from_slice(&data[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] =
        b"# users\nalice@x:{PLAIN}a\r\n\nbob:{PLAIN}b\nAlice@X:{PLAIN}dup\ncarol@x:{PLAIN}c";

    #[test]
    fn find_uses_normalised_names() {
        let f = find(FILE, b"alice", Some(b"x"));
        assert_eq!(f.len(), 2);
        assert_eq!(&FILE[f[1].clone()], b"Alice@X:{PLAIN}dup");
        assert_eq!(find(FILE, b"bob", None).len(), 1);
        assert!(find(FILE, b"bob", Some(b"x")).is_empty());
    }

    #[test]
    fn replace_keeps_everything_else() {
        let r = find(FILE, b"alice", Some(b"x"))[0].clone();
        let out = replace_hash(FILE, r, b"{PLAIN}new");
        assert_eq!(
            out,
            b"# users\nalice@x:{PLAIN}new\r\n\nbob:{PLAIN}b\nAlice@X:{PLAIN}dup\ncarol@x:{PLAIN}c"
        );
    }

    #[test]
    fn append_terminates_last_line() {
        let out = append(FILE, b"dave", Some(b"y"), b"{PLAIN}d");
        assert!(out.ends_with(b"carol@x:{PLAIN}c\ndave@y:{PLAIN}d\n"));
        assert_eq!(append(b"", b"e", None, b"h"), b"e:h\n");
    }

    #[test]
    fn remove_lines_and_only_them() {
        let f = find(FILE, b"alice", Some(b"x"));
        assert_eq!(
            remove(FILE, &f),
            b"# users\n\nbob:{PLAIN}b\ncarol@x:{PLAIN}c"
        );
        let f = find(FILE, b"carol", Some(b"x"));
        assert_eq!(
            remove(FILE, &f),
            b"# users\nalice@x:{PLAIN}a\r\n\nbob:{PLAIN}b\nAlice@X:{PLAIN}dup\n"
        );
    }
}
