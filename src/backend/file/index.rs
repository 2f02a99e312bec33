//! The loaded users file: its bytes in one `Vec<u8>` and an open-addressing table of
//! `u32` slots pointing into them, keyed by (localpart, domain).
//!
//! Why not a `HashMap<Vec<u8>, ..>`: 100,000 users must load in a few milliseconds and
//! cost little more than the file itself on a router. A slot is 4 bytes: the offset of the
//! entry's name (plus one; 0 is an empty slot) in its low `offset_bits` bits, just enough
//! for this file, and the top bits of the key hash as a tag in the rest (9 bits for a
//! 4 MB file, fewer for larger ones). The table holds at most 0.6 entries per slot, sized
//! exactly (no rounding up to a power of two). A lookup reads one run of slots, compares
//! tags, and touches the file bytes only on a tag match: a miss costs one cache line of
//! slots, a hit one more for the line. Why 0.6 and not a denser 0.8: with linear probing
//! a miss walks ~3.6 slots instead of ~13; with the key hash inlined, that took the
//! helper's CPU per pipelined `isuser` on 100,000 users from 0.076 to 0.062 µs (side by
//! side, 7 rounds), for 1.2 MB more slots per million users (0.16 MB at 100,000), inside
//! the memory target. Nothing is hashed with a password hash at load; stored hashes are
//! only checked by `hash::parse`.
//!
//! Names that were not already lower case in the file are copied, normalised, into a
//! small side buffer (`extra`), so every slot points at `name:HASH\n` bytes with the
//! name exactly as requests will spell it. Offsets past the end of the file bytes are in
//! `extra`. An entry whose hash was refused at load is also copied there, with an empty
//! hash (`name:\n`, which the file itself cannot hold): it shadows later entries but never
//! authenticates.

use super::keyhash::Seed;
use super::parse::{self, Line};
use crate::hash::{self, Cost};
use crate::wire::bytes::eq;

/// An empty slot.
const EMPTY: u32 = 0;
/// Largest offset space (file bytes + `extra`) a slot can address, with at least one tag
/// bit left. The loader caps files (256 MiB) far below this.
pub(crate) const MAX_OFFSET: usize = (1 << 30) - 2;

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
    slots: Vec<u32>,
    /// Line numbers of entries in `extra` (offset in `extra` -> line), for duplicate
    /// warnings.
    extra_lines: Vec<(u32, u32)>,
    /// Low bits of a slot holding `offset + 1`; the tag is the rest.
    offset_bits: u32,
    /// Length of the file bytes: offsets at or past it are in `extra`. Kept apart from
    /// `data.len()` because `data` is only moved in at the end of `build`.
    data_len: usize,
    entries: usize,
    /// Domain-less entries (`user:HASH`): when there are none, a request whose exact
    /// entry is missing needs no second probe.
    domainless: usize,
    seed: Seed,
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

/// Bits needed to hold `n`.
fn bits_for(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

impl Table {
    /// An empty table (a users file that does not exist yet).
    pub(crate) fn empty() -> Table {
        Table::build(Vec::new()).0
    }

    /// Indexes `data` (the whole file). Never fails: bad lines are reported and skipped.
    pub(crate) fn build(data: Vec<u8>) -> (Table, Report) {
        let upper = parse::count_byte(b'\n', &data) + 1;
        // Load factor <= 0.6 (see the module doc); always a free slot.
        let cap = upper + upper * 2 / 3 + 1;
        let mut t = Table {
            data: Vec::new(),
            extra: Vec::new(),
            slots: Vec::new(),
            extra_lines: Vec::new(),
            offset_bits: bits_for(data.len() + 1),
            data_len: data.len(),
            entries: 0,
            domainless: 0,
            seed: Seed::random(),
            dummy_cost: None,
        };
        let mut report = Report::default();
        let mut costs = CostTally::default();
        if data.len() > MAX_OFFSET {
            report.note(0, true, || "file too large to index".into());
            t.data_len = 0;
            t.offset_bits = 1;
            t.slots = vec![EMPTY; 1];
            return (t, report);
        }
        // Zeroed memory: EMPTY is 0, so the allocator hands over fresh pages untouched.
        t.slots = vec![EMPTY; cap];
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
            let mut blocked = false;
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
                    blocked = true;
                }
            }
            if !e.already_normal {
                report.not_normalised += 1;
                report.note(no, false, || {
                    format!(
                        "name is not in normalised (lower case) form; matched as {}",
                        show_name(&e.user, e.domain.as_deref())
                    )
                });
            }
            let offset = if e.already_normal && !blocked {
                start
            } else {
                // A copy in `extra`: the normalised name, and the hash unless refused.
                let off = t.extra.len();
                t.extra.extend_from_slice(&e.user);
                if let Some(d) = &e.domain {
                    t.extra.push(b'@');
                    t.extra.extend_from_slice(d);
                }
                t.extra.push(b':');
                if !blocked {
                    t.extra.extend_from_slice(e.hash);
                    // Like a file line: `lookup` strips one `\r` before the `\n`, which
                    // `parse_line` already took off `e.hash` (a hash may end in `\r`).
                    t.extra.push(b'\r');
                }
                t.extra.push(b'\n');
                if data.len() + t.extra.len() > MAX_OFFSET {
                    t.extra.truncate(off);
                    report.note(no, true, || "too many names to normalise".into());
                    continue;
                }
                t.extra_lines.push((off as u32, no));
                t.widen(data.len() + t.extra.len());
                data.len() + off
            };
            let h = t.seed.key(t.seed.user(&e.user), e.domain.as_deref());
            match t.find_or_insert(h, offset, &e.user, e.domain.as_deref(), &data) {
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
                None => {
                    t.entries += 1;
                    if e.domain.is_none() {
                        t.domainless += 1;
                    }
                }
            }
        }
        report.entries = t.entries;
        t.dummy_cost = costs.most_common();
        t.data = data;
        (t, report)
    }

    /// Makes room for offsets up to `total` (file bytes + `extra`): moves the tag/offset
    /// boundary up, dropping the lowest tag bit of every slot. Slot positions depend only
    /// on the low half of the key hash, so nothing moves. Runs at most a few times per
    /// load, and only for files with names to normalise or refused hashes.
    fn widen(&mut self, total: usize) {
        let need = bits_for(total + 1);
        while self.offset_bits < need {
            let old = self.offset_bits;
            let low = (1u32 << old) - 1;
            for s in &mut self.slots {
                if *s != EMPTY {
                    *s = ((*s >> (old + 1)) << (old + 1)) | (*s & low);
                }
            }
            self.offset_bits = old + 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// The cost of the file's own entries (the most common), or `None` when it has no
    /// valid entry: the cost unknown users must be charged.
    pub(crate) fn dummy_cost(&self) -> Option<Cost> {
        self.dummy_cost
    }

    /// The entry's `name:HASH\n` bytes from `name_len` on (`:HASH...`).
    fn after_name(&self, slot: u32, name_len: usize) -> &[u8] {
        let off = self.offset(slot) + name_len;
        let got = if off >= self.data_len {
            self.extra.get(off - self.data_len..)
        } else {
            self.data.get(off..)
        };
        got.unwrap_or_default()
    }

    /// Lookup with the file's precedence: the exact entry, else the domain-less one.
    pub(crate) fn lookup(&self, user: &[u8], host: &[u8]) -> Option<Found<'_>> {
        let (slot, name_len) = self.find_entry(user, host)?;
        // `:HASH\n`, or `:\n` for a refused hash.
        let rest = self.after_name(slot, name_len).get(1..).unwrap_or_default();
        let end = parse::find_byte(b'\n', rest).unwrap_or(rest.len());
        let hash = &rest[..end];
        if hash.is_empty() {
            return Some(Found::Blocked);
        }
        Some(Found::Hash(hash.strip_suffix(b"\r").unwrap_or(hash)))
    }

    /// Whether `lookup` finds an entry that can authenticate (`Found::Hash`), without
    /// slicing out its hash: the `isuser` path.
    pub(crate) fn exists(&self, user: &[u8], host: &[u8]) -> bool {
        self.find_entry(user, host).is_some_and(|(slot, name_len)| {
            matches!(self.after_name(slot, name_len).get(1), Some(&b) if b != b'\n')
        })
    }

    /// The slot of the entry a request names (exact first, then domain-less) and the
    /// length of that entry's name.
    #[inline]
    fn find_entry(&self, user: &[u8], host: &[u8]) -> Option<(u32, usize)> {
        // None when the fields cannot name an entry (parse::request_name_ok's rule).
        let (hu, exact) = self.seed.request(user, host)?;
        if let Some(slot) = self.find(exact, user, Some(host)) {
            return Some((slot, user.len() + 1 + host.len()));
        }
        if self.domainless == 0 {
            return None;
        }
        let slot = self.find(self.seed.key(hu, None), user, None)?;
        Some((slot, user.len()))
    }

    /// Offset of a slot's entry in the joint (file bytes, then `extra`) space.
    #[inline]
    fn offset(&self, slot: u32) -> usize {
        ((slot & ((1u32 << self.offset_bits) - 1)) - 1) as usize
    }

    /// The tag bits of a key hash, in place (the slot's bits above `offset_bits`).
    #[inline]
    fn tag(&self, h: u64) -> u32 {
        let tag_mask = !((1u32 << self.offset_bits) - 1);
        ((h >> 32) as u32) & tag_mask
    }

    /// The slot holding this key, if any.
    fn find(&self, h: u64, user: &[u8], domain: Option<&[u8]>) -> Option<u32> {
        self.probe(h, user, domain, &self.data).ok()
    }

    /// One probe for both the duplicate check and the insertion: the existing slot for
    /// this key, or `None` after storing `offset` in the first free slot. `data` is passed
    /// because during `build` the file bytes are not yet moved into `self`.
    fn find_or_insert(
        &mut self,
        h: u64,
        offset: usize,
        user: &[u8],
        domain: Option<&[u8]>,
        data: &[u8],
    ) -> Option<u32> {
        match self.probe(h, user, domain, data) {
            Ok(slot) => Some(slot),
            Err(free) => {
                // offset + 1 < 2^offset_bits: `widen` made room for every offset in use.
                self.slots[free] = self.tag(h) | (offset as u32 + 1);
                None
            }
        }
    }

    /// Linear probe from the key's home slot: `Ok(slot)` where the key is stored, or
    /// `Err(index)` of the first empty slot (where it would go). The table always has an
    /// empty slot (capacity > number of lines), so the probe ends.
    #[inline]
    fn probe(&self, h: u64, user: &[u8], domain: Option<&[u8]>, data: &[u8]) -> Result<u32, usize> {
        let slots = &self.slots[..];
        let n = slots.len();
        let tag = self.tag(h);
        let tag_mask = !((1u32 << self.offset_bits) - 1);
        // Home slot: the low 32 bits of the hash scaled to the table size.
        let mut i = ((u64::from(h as u32) * n as u64) >> 32) as usize;
        loop {
            // Skip to the next slot that ends the run or carries our tag: one branch per
            // slot (a miss walks ~3.6 slots at load 0.6).
            let Some(k) = slots[i..]
                .iter()
                .position(|&s| (s == EMPTY) | ((s ^ tag) & tag_mask == 0))
            else {
                i = 0; // ran off the end: the run continues at the start
                continue;
            };
            i += k;
            let slot = slots[i];
            if slot == EMPTY {
                return Err(i);
            }
            let off = self.offset(slot);
            let bytes = if off >= self.data_len {
                self.extra.get(off - self.data_len..)
            } else {
                data.get(off..)
            };
            if bytes.is_some_and(|s| name_matches(s, user, domain)) {
                return Ok(slot);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Line number of an indexed entry (only for warnings; counts newlines).
    fn line_of(&self, slot: u32, data: &[u8]) -> u32 {
        let off = self.offset(slot);
        if off >= self.data_len {
            let off = (off - self.data_len) as u32;
            return self
                .extra_lines
                .iter()
                .find(|&&(o, _)| o == off)
                .map_or(0, |&(_, l)| l);
        }
        let n = parse::count_byte(b'\n', &data[..off.min(data.len())]);
        u32::try_from(n + 1).unwrap_or(u32::MAX)
    }
}

/// Whether `s` starts with `user[@domain]:`.
#[inline]
fn name_matches(s: &[u8], user: &[u8], domain: Option<&[u8]>) -> bool {
    let n = user.len();
    if !s.get(..n).is_some_and(|x| eq(x, user)) {
        return false;
    }
    let n = match domain {
        Some(d) => {
            let end = n + 1 + d.len();
            if s.get(n) != Some(&b'@') || !s.get(n + 1..end).is_some_and(|x| eq(x, d)) {
                return false;
            }
            end
        }
        None => n,
    };
    s.get(n) == Some(&b':')
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
    fn a_hash_ending_in_cr_survives_normalisation() {
        // CRLF file, password ending in CR: the line's own CR goes, the password's stays,
        // whether the entry is served from the file bytes or from the normalised copy.
        let (t, _) = table("alice@x:{PLAIN}pw\r\r\nBob@X:{PLAIN}pw\r\r\nCy@x:{PLAIN}z\n");
        assert_eq!(t.lookup(b"alice", b"x"), Some(Found::Hash(b"{PLAIN}pw\r")));
        assert_eq!(t.lookup(b"bob", b"x"), Some(Found::Hash(b"{PLAIN}pw\r")));
        assert_eq!(t.lookup(b"cy", b"x"), Some(Found::Hash(b"{PLAIN}z")));
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
    fn offsets_past_the_file_widen_the_slots_without_losing_entries() {
        // 100 normalised entries, then 300 that are copied to `extra`: the offset space
        // grows past the file's own size, so every slot's tag loses its lowest bit.
        let mut s = String::new();
        for i in 0..100 {
            s.push_str(&format!("u{i}@example.org:{{PLAIN}}a{i}\n"));
        }
        for i in 0..300 {
            s.push_str(&format!("V{i}@Example.org:{{PLAIN}}b{i}\n"));
        }
        s.push_str("w@x:nonsense\n");
        let bits_before = bits_for(s.len() + 1);
        let (t, r) = table(&s);
        assert_eq!((r.entries, r.not_normalised, r.bad_lines), (401, 300, 1));
        assert!(
            t.offset_bits > bits_before,
            "{} {bits_before}",
            t.offset_bits
        );
        for i in 0..100 {
            let (a, b) = (format!("{{PLAIN}}a{i}"), format!("{{PLAIN}}b{i}"));
            assert_eq!(
                t.lookup(format!("u{i}").as_bytes(), b"example.org"),
                Some(Found::Hash(a.as_bytes()))
            );
            assert_eq!(
                t.lookup(format!("v{i}").as_bytes(), b"example.org"),
                Some(Found::Hash(b.as_bytes()))
            );
            assert!(t.exists(format!("v{i}").as_bytes(), b"example.org"));
            assert!(!t.exists(format!("V{i}").as_bytes(), b"example.org"));
        }
        assert_eq!(t.lookup(b"w", b"x"), Some(Found::Blocked));
        assert!(!t.exists(b"w", b"x"));
    }

    #[test]
    fn exists_agrees_with_lookup() {
        let (t, _) =
            table("a@x:{PLAIN}1\nb@x:bad\nB@Y:bad\nc:{PLAIN}3\nD@x:{PLAIN}4\nlast@x:{PLAIN}5");
        for user in ["a", "b", "c", "d", "last", "zz", "A", "B"] {
            for host in ["x", "y", "z", "x\n"] {
                let (u, h) = (user.as_bytes(), host.as_bytes());
                assert_eq!(
                    t.exists(u, h),
                    matches!(t.lookup(u, h), Some(Found::Hash(_))),
                    "{user}@{host}"
                );
            }
        }
        assert!(t.exists(b"c", b"anything"));
        assert!(t.exists(b"last", b"x"));
        assert!(!t.exists(b"b", b"y"));
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
