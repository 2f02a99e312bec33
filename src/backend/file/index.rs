//! The loaded users file: its bytes in one `Vec<u8>` and an open-addressing table of
//! `u64` slots pointing into them, keyed by (localpart, domain).
//!
//! Why not a `HashMap<Vec<u8>, ..>`: 100,000 users must load in a few milliseconds and
//! cost little more than the file itself on a router. A slot is 8 bytes (32-bit hash tag
//! and a 32-bit offset of the entry's name), the table is at most ~1.6 slots per entry, and
//! a lookup touches one slot run and one line: one or two cache misses. Nothing is
//! hashed with a password hash at load; stored hashes are only checked by `hash::parse`.
//!
//! Names that were not already lower case in the file are copied, normalised, into a
//! small side buffer (`extra`), so every slot points at `name:HASH\n` bytes with the
//! name exactly as requests will spell it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::parse::{self, Line};
use crate::hash::{self, Cost};

/// Slot layout: high 32 bits tag, low 32 bits `FLAG_* | offset`.
const EMPTY: u64 = u64::MAX;
/// The offset is into `extra`, not `data`.
const FLAG_EXTRA: u32 = 1 << 31;
/// The entry's hash is invalid: it shadows other entries but never authenticates.
const FLAG_BLOCKED: u32 = 1 << 30;
const OFFSET_MASK: u32 = FLAG_BLOCKED - 1;
/// Largest offset a slot can hold; the loader caps files well below this.
pub(crate) const MAX_OFFSET: usize = OFFSET_MASK as usize - 1;

/// What a lookup found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// The stored hash bytes of the entry.
    Hash(&'a [u8]),
    /// The entry exists but its hash was refused at load: it never authenticates.
    Blocked,
}

/// A problem found at load, for the log: line number, level (true = error) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub line: u32,
    pub error: bool,
    pub text: String,
}

/// Load statistics and problems.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub notes: Vec<Note>,
    /// Notes not kept (to bound memory and log volume on a junk file).
    pub notes_dropped: usize,
    pub entries: usize,
    pub bad_lines: usize,
    pub plain: usize,
    pub not_normalised: usize,
    pub duplicates: usize,
}

/// Keep at most this many per-line notes per load.
const MAX_NOTES: usize = 50;

impl Report {
    /// Records a note; the text is only built for the notes kept, so a file of 100,000
    /// bad lines costs no more than a good one.
    fn note(&mut self, line: u32, error: bool, text: impl FnOnce() -> String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(Note {
                line,
                error,
                text: text(),
            });
        } else {
            self.notes_dropped += 1;
        }
    }
}

pub(crate) struct Table {
    data: Vec<u8>,
    extra: Vec<u8>,
    slots: Vec<u64>,
    /// Line numbers of entries in `extra` (offset -> line), for duplicate warnings.
    extra_lines: Vec<(u32, u32)>,
    mask: usize,
    entries: usize,
    seed: RandomState,
    /// The most common verification cost among the valid entries: what a dummy
    /// verification must cost so an unknown user answers as slowly as a known one.
    dummy_cost: Option<Cost>,
}

/// Distinct (scheme, rounds) pairs counted at load. A real file has one or two; the cap
/// keeps a file of all-different costs linear to load (later pairs are not counted).
const MAX_COSTS: usize = 8;

/// Counts verification costs (SHA-crypt scheme and rounds, or `{PLAIN}`) during the load
/// pass (the hashes are parsed there anyway, so this adds no hashing and no allocation
/// beyond a few entries).
#[derive(Default)]
struct CostTally(Vec<(Cost, usize)>);

impl CostTally {
    fn add(&mut self, cost: Cost) {
        if let Some(c) = self.0.iter_mut().find(|(k, _)| *k == cost) {
            c.1 += 1;
        } else if self.0.len() < MAX_COSTS {
            self.0.push((cost, 1));
        }
    }

    /// The most common cost; on a tie the first seen in the file.
    fn most_common(&self) -> Option<Cost> {
        let mut best: Option<&(Cost, usize)> = None;
        for c in &self.0 {
            if best.is_none_or(|b| c.1 > b.1) {
                best = Some(c);
            }
        }
        best.map(|c| c.0)
    }
}

impl Table {
    /// An empty table (a users file that does not exist yet).
    pub(crate) fn empty() -> Table {
        Table::build(Vec::new()).0
    }

    /// Indexes `data` (the whole file). Never fails: bad lines are reported and skipped.
    pub(crate) fn build(data: Vec<u8>) -> (Table, Report) {
        let upper = parse::count_byte(b'\n', &data) + 1;
        // Load factor <= 0.8 with linear probing and in-slot tags.
        let cap = (upper + upper / 4 + 1).next_power_of_two().max(8);
        let mut t = Table {
            data: Vec::new(),
            extra: Vec::new(),
            slots: vec![EMPTY; cap],
            extra_lines: Vec::new(),
            mask: cap - 1,
            entries: 0,
            seed: RandomState::new(),
            dummy_cost: None,
        };
        let mut report = Report::default();
        let mut costs = CostTally::default();
        if data.len() > MAX_OFFSET {
            report.note(0, true, || "file too large to index".into());
            return (t, report);
        }
        for (no, start, line) in parse::lines(&data) {
            let e = match parse::parse_line(line) {
                Line::Blank => continue,
                Line::Bad(why) => {
                    report.bad_lines += 1;
                    report.note(no, true, || why.to_string());
                    continue;
                }
                Line::Entry(e) => e,
            };
            let mut flags = 0u32;
            match hash::parse(e.hash) {
                Ok(h) => {
                    if h.is_plain() {
                        report.plain += 1;
                    }
                    costs.add(h.verify_cost());
                }
                Err(err) => {
                    report.bad_lines += 1;
                    report.note(no, true, || {
                        format!("{err}; this entry never authenticates")
                    });
                    flags |= FLAG_BLOCKED;
                }
            }
            let offset = if e.already_normal {
                start
            } else {
                report.not_normalised += 1;
                report.note(no, false, || {
                    format!(
                        "name is not in normalised (lower case) form; matched as {}",
                        show_name(&e.user, e.domain.as_deref())
                    )
                });
                let off = t.extra.len();
                t.extra.extend_from_slice(&e.user);
                if let Some(d) = &e.domain {
                    t.extra.push(b'@');
                    t.extra.extend_from_slice(d);
                }
                t.extra.push(b':');
                t.extra.extend_from_slice(e.hash);
                t.extra.push(b'\n');
                if off > MAX_OFFSET {
                    report.note(no, true, || "too many names to normalise".into());
                    continue;
                }
                t.extra_lines.push((off as u32, no));
                flags |= FLAG_EXTRA;
                off
            };
            let h = t.key_hash(&e.user, e.domain.as_deref());
            let slot = ((h >> 32) << 32) | u64::from(flags | offset as u32);
            match t.find_or_insert(h, slot, &e.user, e.domain.as_deref(), &data) {
                Some(prev) => {
                    report.duplicates += 1;
                    let first = || t.line_of(prev, &data);
                    report.note(no, false, || {
                        format!(
                            "duplicate entry for {} (first at line {}, which wins)",
                            show_name(&e.user, e.domain.as_deref()),
                            first()
                        )
                    });
                }
                None => t.entries += 1,
            }
        }
        report.entries = t.entries;
        t.dummy_cost = costs.most_common();
        t.data = data;
        (t, report)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// The cost of the file's own entries (the most common), or `None` when it has no
    /// valid entry: the cost unknown users must be charged.
    pub(crate) fn dummy_cost(&self) -> Option<Cost> {
        self.dummy_cost
    }

    /// Exact `user@domain` (or, with `domain = None`, the domain-less `user`) entry.
    pub(crate) fn get(&self, user: &[u8], domain: Option<&[u8]>) -> Option<Found<'_>> {
        let h = self.key_hash(user, domain);
        let slot = self.find(h, user, domain, &self.data)?;
        let off = (slot as u32 & OFFSET_MASK) as usize;
        if slot as u32 & FLAG_BLOCKED != 0 {
            return Some(Found::Blocked);
        }
        let buf = self.buf(slot as u32, &self.data);
        let rest = buf.get(off..)?;
        let colon = rest.iter().position(|&b| b == b':')?;
        let rest = &rest[colon + 1..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let hash = &rest[..end];
        Some(Found::Hash(hash.strip_suffix(b"\r").unwrap_or(hash)))
    }

    /// Lookup with the file's precedence: the exact entry, else the domain-less one.
    pub(crate) fn lookup(&self, user: &[u8], host: &[u8]) -> Option<Found<'_>> {
        if !parse::request_name_ok(user, host) {
            return None;
        }
        self.get(user, Some(host)).or_else(|| self.get(user, None))
    }

    fn buf<'a>(&'a self, low: u32, data: &'a [u8]) -> &'a [u8] {
        if low & FLAG_EXTRA != 0 {
            &self.extra
        } else {
            data
        }
    }

    fn key_hash(&self, user: &[u8], domain: Option<&[u8]>) -> u64 {
        let mut s = self.seed.build_hasher();
        s.write(user);
        match domain {
            Some(d) => {
                s.write_u8(1);
                s.write(d);
            }
            None => s.write_u8(0),
        }
        s.finish()
    }

    /// The slot holding this key, if any. `data` is passed because during `build` the
    /// file bytes are not yet moved into `self`.
    fn find(&self, h: u64, user: &[u8], domain: Option<&[u8]>, data: &[u8]) -> Option<u64> {
        self.probe(h, user, domain, data)?.ok()
    }

    /// One probe for both the duplicate check and the insertion: the existing slot for
    /// this key, or `None` after storing `new` in the first free slot. The table always
    /// has free slots (capacity > number of lines), so the probe ends.
    fn find_or_insert(
        &mut self,
        h: u64,
        new: u64,
        user: &[u8],
        domain: Option<&[u8]>,
        data: &[u8],
    ) -> Option<u64> {
        match self.probe(h, user, domain, data)? {
            Ok(slot) => Some(slot),
            Err(free) => {
                self.slots[free] = new;
                None
            }
        }
    }

    /// Linear probe from the key's home slot: `Ok(slot)` where the key is stored, or
    /// `Err(index)` of the first empty slot (where it would go).
    fn probe(
        &self,
        h: u64,
        user: &[u8],
        domain: Option<&[u8]>,
        data: &[u8],
    ) -> Option<Result<u64, usize>> {
        let tag = h >> 32;
        let mut i = (h as usize) & self.mask;
        loop {
            let slot = *self.slots.get(i)?;
            if slot == EMPTY {
                return Some(Err(i));
            }
            if slot >> 32 == tag {
                let low = slot as u32;
                let off = (low & OFFSET_MASK) as usize;
                if self
                    .buf(low, data)
                    .get(off..)
                    .is_some_and(|s| name_matches(s, user, domain))
                {
                    return Some(Ok(slot));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Line number of an indexed entry (only for warnings; counts newlines).
    fn line_of(&self, slot: u64, data: &[u8]) -> u32 {
        let low = slot as u32;
        let off = low & OFFSET_MASK;
        if low & FLAG_EXTRA != 0 {
            return self
                .extra_lines
                .iter()
                .find(|&&(o, _)| o == off)
                .map_or(0, |&(_, l)| l);
        }
        let n = data[..(off as usize).min(data.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        u32::try_from(n + 1).unwrap_or(u32::MAX)
    }
}

/// Whether `s` starts with `user[@domain]:`.
fn name_matches(s: &[u8], user: &[u8], domain: Option<&[u8]>) -> bool {
    let Some(rest) = s.strip_prefix(user) else {
        return false;
    };
    let rest = match domain {
        Some(d) => match rest.strip_prefix(b"@").and_then(|r| r.strip_prefix(d)) {
            Some(r) => r,
            None => return false,
        },
        None => rest,
    };
    rest.first() == Some(&b':')
}

/// `user@domain` or `user` for logs.
pub(crate) fn show_name(user: &[u8], domain: Option<&[u8]>) -> String {
    let u = crate::log::Shown(user);
    match domain {
        Some(d) => format!("{u}@{}", crate::log::Shown(d)),
        None => format!("{u} (any domain)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Scheme;

    fn table(s: &str) -> (Table, Report) {
        Table::build(s.as_bytes().to_vec())
    }

    #[test]
    fn exact_beats_domainless() {
        let (t, r) = table("# c\nalice:{PLAIN}any\n\nalice@example.org:{PLAIN}exact\n");
        assert_eq!(r.entries, 2);
        assert_eq!(
            t.lookup(b"alice", b"example.org"),
            Some(Found::Hash(b"{PLAIN}exact"))
        );
        assert_eq!(
            t.lookup(b"alice", b"other.org"),
            Some(Found::Hash(b"{PLAIN}any"))
        );
        assert_eq!(t.lookup(b"bob", b"example.org"), None);
        assert_eq!(t.lookup(b"alic", b"example.org"), None);
        assert_eq!(
            t.lookup(b"alice", b"example.or"),
            Some(Found::Hash(b"{PLAIN}any"))
        );
    }

    #[test]
    fn request_with_at_cannot_alias_an_exact_entry() {
        let (t, _) = table("alice@example.org:{PLAIN}x\n");
        assert_eq!(t.lookup(b"alice@example.org", b"evil"), None);
    }

    #[test]
    fn duplicates_first_wins_with_both_lines() {
        let (t, r) = table("a@x:{PLAIN}1\n\na@x:{PLAIN}2\nA@X:{PLAIN}3\n");
        assert_eq!(t.lookup(b"a", b"x"), Some(Found::Hash(b"{PLAIN}1")));
        assert_eq!(r.duplicates, 2);
        assert_eq!(r.entries, 1);
        let dup = r.notes.iter().find(|n| n.line == 3).unwrap();
        assert!(dup.text.contains("first at line 1"), "{}", dup.text);
    }

    #[test]
    fn normalised_names_match_lower_case_requests() {
        let (t, r) = table("Alice@Example.org:{PLAIN}x\r\n");
        assert_eq!(r.not_normalised, 1);
        assert_eq!(r.notes[0].line, 1);
        assert_eq!(
            t.lookup(b"alice", b"example.org"),
            Some(Found::Hash(b"{PLAIN}x"))
        );
        assert_eq!(t.lookup(b"Alice", b"Example.org"), None);
    }

    #[test]
    fn bad_hash_blocks_and_is_reported() {
        let (t, r) = table("a@x:nonsense\na:{PLAIN}y\n");
        assert_eq!(t.lookup(b"a", b"x"), Some(Found::Blocked));
        assert_eq!(r.bad_lines, 1);
        assert_eq!(r.notes[0].line, 1);
        assert!(r.notes[0].error);
    }

    #[test]
    fn dummy_cost_is_the_files_most_common_crypt_cost() {
        let h = |scheme, rounds| hash::make(scheme, rounds, b"pw").unwrap();
        let s = format!(
            "a@x:{}\nb@x:{}\nc@x:{}\nd@x:{}\ne@x:{{PLAIN}}p\nf@x:$6$rounds=3000$broken\n",
            h(Scheme::Sha256Crypt, 1500),
            h(Scheme::Sha512Crypt, 2000),
            h(Scheme::Sha512Crypt, 2000),
            h(Scheme::Sha256Crypt, 1000),
        );
        let (t, r) = table(&s);
        assert_eq!(r.bad_lines, 1);
        assert_eq!(t.dummy_cost(), Some(Cost::Crypt(Scheme::Sha512Crypt, 2000)));
        // Mostly plain entries: unknown users cost a plain check, not a SHA-crypt one.
        let (t, _) = table(&format!(
            "e@x:{{PLAIN}}p\nf@x:nonsense\ng@x:{{PLAIN}}q\nh@x:{}\n",
            h(Scheme::Sha512Crypt, 2000)
        ));
        assert_eq!(t.dummy_cost(), Some(Cost::Plain));
        // Only refused entries: no cost from the file (the backend uses the config).
        assert_eq!(table("f@x:nonsense\n").0.dummy_cost(), None);
        assert_eq!(Table::empty().dummy_cost(), None);
    }

    #[test]
    fn cost_tally_breaks_ties_by_file_order_and_stays_bounded() {
        let mut c = CostTally::default();
        c.add(Cost::Crypt(Scheme::Sha256Crypt, 5000));
        c.add(Cost::Crypt(Scheme::Sha512Crypt, 5000));
        assert_eq!(
            c.most_common(),
            Some(Cost::Crypt(Scheme::Sha256Crypt, 5000))
        );
        for r in 0..100 {
            c.add(Cost::Crypt(Scheme::Sha512Crypt, 10_000 + r));
        }
        assert_eq!(c.0.len(), MAX_COSTS);
        c.add(Cost::Crypt(Scheme::Sha512Crypt, 5000));
        assert_eq!(
            c.most_common(),
            Some(Cost::Crypt(Scheme::Sha512Crypt, 5000))
        );
    }

    #[test]
    fn many_entries() {
        let mut s = String::new();
        for i in 0..5000 {
            s.push_str(&format!("user{i}@example.org:{{PLAIN}}p{i}\n"));
        }
        let (t, r) = table(&s);
        assert_eq!(r.entries, 5000);
        for i in (0..5000).step_by(7) {
            let want = format!("{{PLAIN}}p{i}");
            assert_eq!(
                t.lookup(format!("user{i}").as_bytes(), b"example.org"),
                Some(Found::Hash(want.as_bytes()))
            );
        }
        assert_eq!(t.lookup(b"user5000", b"example.org"), None);
    }
}
