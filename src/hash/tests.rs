//! Tests of the public hash API: Drepper's published vectors (accept and reject), every
//! prefix form, malformed bodies, limits, and that nothing secret reaches Debug/Display.

use super::*;

/// (setting, password, crypt(3) output) from Ulrich Drepper's "Unix crypt using SHA-256 and
/// SHA-512" specification, both schemes (checked against libxcrypt 4.4.33 too).
const VECTORS: &[(&str, &str, &str)] = &[
    (
        "$5$saltstring",
        "Hello world!",
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
    ),
    (
        "$5$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
    ),
    (
        "$5$rounds=5000$toolongsaltstring",
        "This is just a test",
        "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
    ),
    (
        "$5$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
    ),
    (
        "$5$rounds=77777$short",
        "we have a short salt string but not a short password",
        "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
    ),
    (
        "$5$rounds=123456$asaltof16chars..",
        "a short string",
        "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD",
    ),
    (
        "$5$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
    ),
    (
        "$6$saltstring",
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    ),
    (
        "$6$rounds=10000$saltstringsaltstring",
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    ),
    (
        "$6$rounds=5000$toolongsaltstring",
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
    ),
    (
        "$6$rounds=1400$anotherlongsaltstring",
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
    ),
    (
        "$6$rounds=77777$short",
        "we have a short salt string but not a short password",
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
    ),
    (
        "$6$rounds=123456$asaltof16chars..",
        "a short string",
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
    ),
    (
        "$6$rounds=10$roundstoolow",
        "the minimum number is still observed",
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ),
];

/// Flips one digest character (in the middle, so the result stays canonical).
fn flip_digest_char(hash: &str) -> String {
    let mut b = hash.as_bytes().to_vec();
    let i = b.len() - 10;
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

#[test]
fn drepper_vectors_generate_byte_for_byte() {
    for &(setting, pw, want) in VECTORS {
        assert_eq!(
            hash_with_salt(setting.as_bytes(), pw.as_bytes()).unwrap(),
            want,
            "{setting}"
        );
    }
}

#[test]
fn drepper_vectors_accept_right_and_reject_wrong_or_flipped() {
    for &(setting, pw, want) in VECTORS {
        let h = parse(want.as_bytes()).unwrap();
        assert!(h.verify(pw.as_bytes()), "{setting}: right password refused");
        assert!(
            !h.verify(b"Hello world"),
            "{setting}: wrong password accepted"
        );
        let mut longer = pw.as_bytes().to_vec();
        longer.push(b'!');
        assert!(!h.verify(&longer), "{setting}: extended password accepted");
        let flipped = parse(flip_digest_char(want).as_bytes()).unwrap();
        assert!(
            !flipped.verify(pw.as_bytes()),
            "{setting}: flipped digest accepted"
        );
    }
}

#[test]
fn drepper_vectors_through_dovecot_prefixes() {
    for &(_, pw, want) in VECTORS {
        let prefix = if want.starts_with("$6$") {
            "{SHA512-CRYPT}"
        } else {
            "{SHA256-CRYPT}"
        };
        let h = parse(format!("{prefix}{want}").as_bytes()).unwrap();
        assert_eq!(h, parse(want.as_bytes()).unwrap());
        // Cheap check only (the vectors' rounds are verified above): the low-round ones.
        if want.contains("rounds=1000$") {
            assert!(h.verify(pw.as_bytes()));
            assert!(!h.verify(b"nope"));
        }
    }
}

const H6: &str = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
const H5: &str = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";

fn err(s: &str) -> HashError {
    parse(s.as_bytes()).unwrap_err()
}

fn malformed(s: &str) -> bool {
    matches!(parse(s.as_bytes()), Err(HashError::Malformed(_)))
}

#[test]
fn every_prefix_form_parses_to_the_right_scheme() {
    assert_eq!(
        parse(H6.as_bytes()).unwrap().cost(),
        Some((Scheme::Sha512Crypt, 5000))
    );
    assert_eq!(
        parse(H5.as_bytes()).unwrap().cost(),
        Some((Scheme::Sha256Crypt, 5000))
    );
    let p = parse(format!("{{SHA512-CRYPT}}{H6}").as_bytes()).unwrap();
    assert_eq!(p.cost(), Some((Scheme::Sha512Crypt, 5000)));
    let p = parse(format!("{{SHA256-CRYPT}}{H5}").as_bytes()).unwrap();
    assert_eq!(p.cost(), Some((Scheme::Sha256Crypt, 5000)));
    let p = parse(b"{PLAIN}pass:word with spaces").unwrap();
    assert!(p.is_plain());
    assert_eq!(p.cost(), None);
    assert!(!parse(H6.as_bytes()).unwrap().is_plain());
}

#[test]
fn unknown_prefixes_are_unknown_scheme() {
    for s in [
        "",
        "secret",
        "$1$abc$def",
        "$2b$10$abcdefghijklmnopqrstuv",
        "$7$x",
        "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
        "{plain}x",
        "{SHA512}abc",
        "{SSHA}abc",
        " $6$saltstring$x",
        "6$saltstring$x",
    ] {
        assert_eq!(err(s), HashError::UnknownScheme, "{s:?}");
    }
}

#[test]
fn dovecot_prefix_must_agree_with_inner_scheme() {
    assert!(malformed(&format!("{{SHA512-CRYPT}}{H5}")));
    assert!(malformed(&format!("{{SHA256-CRYPT}}{H6}")));
    assert!(malformed("{SHA512-CRYPT}"));
    assert!(malformed("{SHA512-CRYPT}plaintext"));
    assert!(malformed("{SHA256-CRYPT}{PLAIN}x"));
}

#[test]
fn plain_compares_exact_bytes() {
    let p = parse(b"{PLAIN}p\xc3\xa4ss:w\x00rd").unwrap();
    assert!(p.verify(b"p\xc3\xa4ss:w\x00rd"));
    assert!(!p.verify(b"p\xc3\xa4ss:w\x00r"));
    assert!(!p.verify(b"p\xc3\xa4ss:w\x00rdd"));
    assert!(!p.verify(b""));
    assert!(malformed("{PLAIN}"));
}

#[test]
fn malformed_bodies() {
    let d86 = &H6[H6.len() - 86..];
    let d43 = &H5[H5.len() - 43..];
    // Missing or truncated digest.
    assert!(malformed("$6$saltstring"));
    assert!(malformed("$6$saltstring$"));
    assert!(malformed(&H6[..H6.len() - 1]));
    assert!(malformed(&format!("{H6}.")));
    assert!(malformed(&H5[..H5.len() - 1]));
    assert!(malformed(&format!("{H5}.")));
    // A $6$ digest on $5$ and the other way round: wrong lengths.
    assert!(malformed(&format!("$5$saltstring${d86}")));
    assert!(malformed(&format!("$6$saltstring${d43}")));
    // Bad alphabet in the digest (crypt's base64 has no + = - or spaces).
    for bad in [b'+', b'=', b'-', b' ', b'$', b'\r', 0xc3] {
        let mut b = H6.as_bytes().to_vec();
        b[H6.len() - 5] = bad;
        assert!(
            matches!(parse(&b), Err(HashError::Malformed(_))),
            "byte {bad}"
        );
    }
    // Non-canonical last character (bits beyond the 512 of the digest).
    let mut b = H6.as_bytes().to_vec();
    *b.last_mut().unwrap() = b'z';
    assert!(matches!(parse(&b), Err(HashError::Malformed(_))));
    // Trailing junk after a complete hash (e.g. a stray CR or comment).
    assert!(malformed(&format!("{H6}\r")));
    assert!(malformed(&format!("{H6} # alice")));
    // Salt: characters crypt refuses, and longer than 16.
    for s in ["sal t", "sal!t", "sal*t", "sal;t", "sal\\t", "sal\u{e9}t"] {
        assert!(malformed(&format!("$6${s}${d86}")), "salt {s:?}");
    }
    assert!(malformed(&format!("$6$toolongsaltstring${d86}")));
    assert!(parse(format!("$6$toolongsaltstri${d86}").as_bytes()).is_ok());
}

#[test]
fn empty_salt_and_extended_salt_characters_are_accepted() {
    // crypt(3) writes these: `$6$$...` for an empty salt; '=' '#' etc. are allowed salt bytes.
    let h = hash_with_salt(b"$6$", b"pw").unwrap();
    assert!(h.starts_with("$6$$"));
    assert!(parse(h.as_bytes()).unwrap().verify(b"pw"));
    let h = hash_with_salt(b"$5$rounds=1000$", b"pw").unwrap();
    assert!(h.starts_with("$5$rounds=1000$$"));
    assert!(parse(h.as_bytes()).unwrap().verify(b"pw"));
    let h = hash_with_salt(b"$6$rounds=1000$a=b#c.d/", b"pw").unwrap();
    assert!(parse(h.as_bytes()).unwrap().verify(b"pw"));
}

#[test]
fn rounds_edge_cases() {
    let d = &H6[H6.len() - 86..];
    let with = |r: &str| parse(format!("$6$rounds={r}$salt${d}").as_bytes());
    assert!(matches!(with("999"), Err(HashError::Malformed(_))));
    assert!(matches!(with("10"), Err(HashError::Malformed(_))));
    assert_eq!(
        with("1000").unwrap().cost(),
        Some((Scheme::Sha512Crypt, 1000))
    );
    assert_eq!(
        with("5000").unwrap().cost(),
        Some((Scheme::Sha512Crypt, 5000))
    );
    assert_eq!(
        with("1000000").unwrap().cost(),
        Some((Scheme::Sha512Crypt, MAX_ROUNDS))
    );
    assert_eq!(
        with("1000001").unwrap_err(),
        HashError::CostTooHigh(1_000_001)
    );
    assert_eq!(
        with("999999999").unwrap_err(),
        HashError::CostTooHigh(999_999_999)
    );
    assert_eq!(
        with("99999999999999999999999").unwrap_err(),
        HashError::CostTooHigh(u64::MAX)
    );
    for bad in [
        "", "0", "01000", "+5000", " 5000", "5000 ", "5e3", "-1", "abc",
    ] {
        assert!(
            matches!(with(bad), Err(HashError::Malformed(_))),
            "rounds={bad:?}"
        );
    }
    assert!(malformed("$6$rounds=5000"));
    // crypt(3) takes `ROUNDS=` (upper case) as part of the salt, so do we.
    let h = hash_with_salt(b"$6$ROUNDS=2000$x", b"pw").unwrap();
    assert_eq!(
        parse(h.as_bytes()).unwrap().cost(),
        Some((Scheme::Sha512Crypt, 5000))
    );
}

#[test]
fn setting_clamps_low_rounds_and_echoes_rounds_only_when_given() {
    assert!(
        hash_with_salt(b"$6$rounds=999$ab", b"pw")
            .unwrap()
            .starts_with("$6$rounds=1000$ab$")
    );
    assert!(
        hash_with_salt(b"$5$rounds=1$ab", b"pw")
            .unwrap()
            .starts_with("$5$rounds=1000$ab$")
    );
    assert_eq!(
        hash_with_salt(b"$6$rounds=1000001$ab", b"pw").unwrap_err(),
        HashError::CostTooHigh(1_000_001)
    );
    // Explicit rounds=5000 is echoed, implicit is not, and both give the same digest.
    let a = hash_with_salt(b"$6$rounds=5000$ab", b"pw").unwrap();
    let b = hash_with_salt(b"$6$ab", b"pw").unwrap();
    assert!(a.starts_with("$6$rounds=5000$ab$"));
    assert!(b.starts_with("$6$ab$"));
    assert_eq!(a[a.len() - 86..], b[b.len() - 86..]);
    // Anything after the salt's `$` is ignored in a setting, as crypt(3) does.
    assert_eq!(hash_with_salt(b"$6$ab$whatever", b"pw").unwrap(), b);
    assert_eq!(
        hash_with_salt(b"$1$ab", b"pw").unwrap_err(),
        HashError::UnknownScheme
    );
}

#[test]
fn make_writes_verifiable_hashes_in_crypt_format() {
    let h = make(Scheme::Sha512Crypt, DEFAULT_ROUNDS, b"correct horse").unwrap();
    assert_eq!(h.len(), 3 + 16 + 1 + 86);
    assert!(h.starts_with("$6$") && !h.contains("rounds="));
    let salt = &h[3..19];
    assert!(salt.bytes().all(|c| b64::ALPHABET.contains(&c)));
    let p = parse(h.as_bytes()).unwrap();
    assert!(p.verify(b"correct horse"));
    assert!(!p.verify(b"correct horsf"));
    assert_eq!(hash_with_salt(h.as_bytes(), b"correct horse").unwrap(), h);

    let h = make(Scheme::Sha256Crypt, 1000, b"pw").unwrap();
    assert!(h.starts_with("$5$rounds=1000$"));
    assert_eq!(h.len(), "$5$rounds=1000$".len() + 16 + 1 + 43);
    assert!(parse(h.as_bytes()).unwrap().verify(b"pw"));

    // Fresh salt every time.
    assert_ne!(make(Scheme::Sha256Crypt, 1000, b"pw").unwrap(), h);
}

#[test]
fn make_validates_rounds_and_password() {
    for r in [0, 999, MAX_ROUNDS + 1, u32::MAX] {
        let e = make(Scheme::Sha512Crypt, r, b"pw").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
    assert!(make(Scheme::Sha256Crypt, MIN_ROUNDS, b"pw").is_ok());
    assert!(make(Scheme::Sha256Crypt, 1000, &[b'a'; MAX_PASSWORD_LEN + 1]).is_err());
    assert!(make(Scheme::Sha256Crypt, 1000, b"a\0b").is_err());
    let e = make(Scheme::Sha256Crypt, 1000, b"sec\0ret").unwrap_err();
    assert!(!e.to_string().contains("sec"));
}

#[test]
fn overlong_passwords_never_match() {
    // libxcrypt refuses passwords of 512 bytes or more; so do we (and cheaply).
    let long = vec![b'a'; MAX_PASSWORD_LEN + 1];
    let ok = vec![b'a'; MAX_PASSWORD_LEN];
    let h = hash_with_salt(b"$5$rounds=1000$salt", &ok).unwrap();
    let p = parse(h.as_bytes()).unwrap();
    assert!(p.verify(&ok));
    assert!(!p.verify(&long));
    assert!(hash_with_salt(b"$5$rounds=1000$salt", &long).is_err());
}

#[test]
fn dummy_verify_runs_for_any_input() {
    // No panic for extreme arguments; the cost itself is measured by the timing tests.
    dummy_verify(Cost::Crypt(Scheme::Sha512Crypt, 0), b"");
    dummy_verify(Cost::Crypt(Scheme::Sha256Crypt, 1000), &[0xff; 600]);
    dummy_verify(Cost::Crypt(Scheme::Sha256Crypt, 1000), b"pw");
    dummy_verify(Cost::Plain, b"");
    dummy_verify(Cost::Plain, &[0xff; 600]);
}

#[test]
fn debug_and_display_never_show_digest_salt_or_password() {
    let vecs = [
        H6.to_string(),
        format!("{{SHA256-CRYPT}}{H5}"),
        "{PLAIN}hunter2secret".to_string(),
    ];
    for s in &vecs {
        let dbg = format!("{:?}", parse(s.as_bytes()).unwrap());
        assert!(!dbg.contains("svn8Uo") && !dbg.contains("5B8vYY"), "{dbg}");
        assert!(
            !dbg.contains("saltstring") && !dbg.contains("hunter2"),
            "{dbg}"
        );
    }
    // Errors for broken hashes never echo the hash.
    for s in [
        format!("{H6}x"),
        "$6$rounds=5000$sal t$hunter2".to_string(),
        "$6$rounds=2000000$saltstring$hunter2".to_string(),
        "{SHA512-CRYPT}hunter2".to_string(),
        "hunter2".to_string(),
    ] {
        let msg = err(&s).to_string();
        assert!(
            !msg.contains("hunter2") && !msg.contains("svn8") && !msg.contains("sal t"),
            "{msg}"
        );
    }
}

#[test]
fn password_hash_is_small() {
    assert!(
        std::mem::size_of::<PasswordHash>() <= 96,
        "{}",
        std::mem::size_of::<PasswordHash>()
    );
}
