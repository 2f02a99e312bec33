//! Differential test of `xmpp_extauth::hash` against the system's crypt(3) (libxcrypt's
//! `crypt_r()`), issue 7: thousands of random passwords, salts (0..=20 characters, so
//! truncation too) and round counts must agree both ways:
//! - our output for a setting equals crypt's, byte for byte;
//! - our `parse` + `verify` accepts crypt's hash for the right password, rejects a wrong one;
//! - crypt accepts the hashes `make` writes (random salt) and rejects a wrong password;
//! - settings crypt refuses (bad salt characters, absurd rounds) we refuse too.
//!
//! crypt is reached through one long-lived helper fed over a pipe: a 20-line C program
//! compiled here with `cc -lcrypt` (needs libcrypt-dev), else Python 3's `crypt` module
//! (UTF-8 passwords only). With neither, the test prints SKIP and passes, unless `CI=true`.
//!
//! `HASH_DIFF_CASES` (default 2000) and `HASH_DIFF_SEED` change the run.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use xmpp_extauth::hash::{self, Scheme};

mod hardening_support;
use hardening_support::Rng;

const C_HELPER: &str = r#"
#define _GNU_SOURCE
#include <crypt.h>
#include <stdio.h>
#include <string.h>
/* stdin: "HEXPASSWORD SETTING\n" per line; stdout: crypt_r's answer (or "(null)") per line */
static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }
int main(void) {
    static struct crypt_data cd;
    static char line[8192], pw[4096];
    while (fgets(line, sizeof line, stdin)) {
        char *sp = strchr(line, ' ');
        if (!sp) return 2;
        *sp = 0;
        char *setting = sp + 1;
        setting[strcspn(setting, "\n")] = 0;
        size_t n = strlen(line) / 2;
        for (size_t i = 0; i < n; i++) pw[i] = (char)(hexval(line[2 * i]) << 4 | hexval(line[2 * i + 1]));
        pw[n] = 0;
        const char *r = crypt_r(pw, setting, &cd);
        printf("%s\n", r ? r : "(null)");
        fflush(stdout);
    }
    return 0;
}
"#;

const PY_HELPER: &str = r#"
import sys, warnings
warnings.simplefilter("ignore")
import crypt
for line in sys.stdin:
    hexpw, setting = line.rstrip("\n").split(" ", 1)
    r = crypt.crypt(bytes.fromhex(hexpw).decode("utf-8"), setting)
    sys.stdout.write((r if r is not None else "(null)") + "\n")
    sys.stdout.flush()
"#;

struct Crypt {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Python's crypt takes text: invalid UTF-8 passwords cannot be sent.
    utf8_only: bool,
    name: &'static str,
}

impl Crypt {
    fn start() -> Option<Crypt> {
        Self::c_helper().or_else(Self::python)
    }

    fn c_helper() -> Option<Crypt> {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Unique per process and call: the tests of this file run in parallel.
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let src = dir.join(format!("crypt_helper-{tag}.c"));
        let bin = dir.join(format!("crypt_helper-{tag}"));
        std::fs::write(&src, C_HELPER).ok()?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = Command::new(cc)
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .arg("-lcrypt")
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            eprintln!(
                "hash_differential: cannot build the C crypt helper (is libcrypt-dev installed?)"
            );
            return None;
        }
        Self::spawn(Command::new(bin), false, "C helper on crypt_r() (-lcrypt)")
    }

    fn python() -> Option<Crypt> {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", PY_HELPER]);
        Self::spawn(cmd, true, "python3 crypt module")
    }

    fn spawn(mut cmd: Command, utf8_only: bool, name: &'static str) -> Option<Crypt> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        let mut c = Crypt {
            child,
            stdin,
            stdout,
            utf8_only,
            name,
        };
        // Probe with Drepper's first vector: the helper must work and be a real SHA-crypt.
        let want = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        match c.try_crypt(b"Hello world!", "$6$saltstring") {
            Some(got) if got == want => Some(c),
            _ => {
                eprintln!("hash_differential: {name} does not work here");
                None
            }
        }
    }

    fn try_crypt(&mut self, pw: &[u8], setting: &str) -> Option<String> {
        let hex: String = pw.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(self.stdin, "{hex} {setting}").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        if line.is_empty() {
            return None;
        }
        Some(line.trim_end_matches('\n').to_string())
    }

    /// crypt(pw, setting); `None` when crypt refuses (NULL or a `*` failure token).
    fn crypt(&mut self, pw: &[u8], setting: &str) -> Option<String> {
        let r = self.try_crypt(pw, setting).expect("crypt helper died");
        if r == "(null)" || r.starts_with('*') {
            None
        } else {
            Some(r)
        }
    }
}

impl Drop for Crypt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Salt characters libxcrypt accepts beyond the crypt alphabet.
const SALT_EXTRA: &[u8] = b"#%&'()+,-<=>?@[]^_`{|}~";

fn password(rng: &mut Rng, utf8_only: bool) -> Vec<u8> {
    let len = if rng.below(20) == 0 {
        60 + rng.below(140)
    } else {
        rng.below(41)
    };
    let mut pw = Vec::new();
    while (pw.len() as u64) < len {
        match rng.below(10) {
            0 => pw.push(*rng.pick(b": \t")),
            1 => pw.extend_from_slice(
                rng.pick(&["\u{e9}", "\u{6f22}", "\u{1f600}", "\u{df}"])
                    .as_bytes(),
            ),
            2 if !utf8_only => pw.push(0x80 + rng.below(0x80) as u8),
            _ => pw.push(0x21 + rng.below(0x5e) as u8),
        }
    }
    pw
}

fn salt(rng: &mut Rng) -> String {
    let len = rng.below(21);
    let extended = rng.below(10) == 0;
    (0..len)
        .map(|_| {
            let c = if extended && rng.below(3) == 0 {
                rng.pick(SALT_EXTRA)
            } else {
                rng.pick(ALPHABET)
            };
            *c as char
        })
        .collect()
}

/// A password that differs from `pw` (one bit flipped, or one byte added).
fn wrong(rng: &mut Rng, pw: &[u8]) -> Vec<u8> {
    let mut w = pw.to_vec();
    let i = rng.below(w.len().max(1) as u64) as usize;
    // Replace only ASCII bytes, so a UTF-8 password stays UTF-8 (Python's crypt needs that).
    if w.get(i).is_none_or(|&b| b >= 0x80) || rng.below(2) == 0 {
        w.push(b'x');
    } else {
        w[i] = if w[i] == b'A' { b'B' } else { b'A' };
    }
    w
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn agrees_with_system_crypt() {
    let Some(mut crypt) = Crypt::start() else {
        eprintln!();
        eprintln!("################################################################");
        eprintln!("# SKIP hash_differential: no system crypt to compare with.      #");
        eprintln!("# Install gcc and libcrypt-dev (or python3 <= 3.12 with crypt).  #");
        eprintln!("################################################################");
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true: the differential test must run"
        );
        return;
    };
    let cases = env_u64("HASH_DIFF_CASES", 2000);
    let seed = env_u64("HASH_DIFF_SEED", 0x5eed_c0ff_ee15_600d) | 1;
    eprintln!(
        "hash_differential: {cases} cases, seed {seed}, against the {}",
        crypt.name
    );
    let mut rng = Rng(seed);
    let (mut truncated, mut implicit, mut made) = (0, 0, 0);
    for case in 0..cases {
        let ctx = format!("case {case} (HASH_DIFF_SEED={seed})");
        let scheme = if rng.below(2) == 0 {
            Scheme::Sha512Crypt
        } else {
            Scheme::Sha256Crypt
        };
        let id = if scheme == Scheme::Sha512Crypt {
            "$6$"
        } else {
            "$5$"
        };
        // Mostly cheap explicit rounds (1000..=2000); some implicit (5000) and the edges.
        let rounds = match rng.below(40) {
            0 => None,
            1 => Some(1000),
            2 => Some(5000),
            _ => Some(1000 + rng.below(1001) as u32),
        };
        let salt = salt(&mut rng);
        truncated += usize::from(salt.len() > 16);
        implicit += usize::from(rounds.is_none());
        let setting = match rounds {
            Some(r) => format!("{id}rounds={r}${salt}"),
            None => format!("{id}{salt}"),
        };
        let pw = password(&mut rng, crypt.utf8_only);
        let bad = wrong(&mut rng, &pw);

        // 1. Same setting, same output, byte for byte.
        let theirs = crypt
            .crypt(&pw, &setting)
            .unwrap_or_else(|| panic!("{ctx}: crypt refused {setting}"));
        let ours =
            hash::hash_with_salt(setting.as_bytes(), &pw).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(ours, theirs, "{ctx}: setting {setting}");

        // 2. crypt's hash: accepted for the right password, refused for a wrong one.
        let parsed = hash::parse(theirs.as_bytes()).unwrap_or_else(|e| panic!("{ctx}: parse: {e}"));
        assert_eq!(
            parsed.cost(),
            Some((scheme, rounds.unwrap_or(5000))),
            "{ctx}"
        );
        assert!(
            parsed.verify(&pw),
            "{ctx}: right password refused for {theirs}"
        );
        assert!(
            !parsed.verify(&bad),
            "{ctx}: wrong password accepted for {theirs}"
        );

        // 3. Every 10th case: crypt checks a hash `make` wrote (fresh random salt).
        if case % 10 == 0 && rounds.is_some() && !pw.contains(&0) {
            let m = hash::make(scheme, rounds.unwrap_or(5000), &pw)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(
                crypt.crypt(&pw, &m).as_deref(),
                Some(m.as_str()),
                "{ctx}: crypt refuses our {m}"
            );
            assert_ne!(
                crypt.crypt(&bad, &m).as_deref(),
                Some(m.as_str()),
                "{ctx}: crypt takes a wrong pw"
            );
            made += 1;
        }
    }
    eprintln!(
        "hash_differential: ok ({truncated} truncated salts, {implicit} implicit rounds, {made} made)"
    );
    assert!(
        truncated > cases as usize / 100 && made > 0,
        "generator lost its coverage"
    );
}

#[test]
fn refuses_what_system_crypt_refuses() {
    let Some(mut crypt) = Crypt::start() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true: the differential test must run"
        );
        eprintln!("SKIP refuses_what_system_crypt_refuses: no system crypt");
        return;
    };
    for setting in [
        "$6$ab!cd",
        "$6$ab*cd",
        "$6$ab;cd",
        "$6$ab\\cd",
        "$5$abcdefghijklmnopq!",
        "$6$rounds=01000$ab",
        "$6$rounds=$ab",
        "$6$rounds=12a$ab",
        "$6$rounds=+2000$ab",
        "$6$rounds=5000",
        "$6$rounds=1000000000$ab",
        "$7$ab",
    ] {
        assert_eq!(
            crypt.crypt(b"pw", setting),
            None,
            "system crypt accepts {setting}"
        );
        assert!(
            hash::hash_with_salt(setting.as_bytes(), b"pw").is_err(),
            "we accept {setting}"
        );
    }
    // Stored strings crypt(3) could never have written for any password: refused at parse.
    let digest =
        "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
    for stored in [
        format!("$6$rounds=999$saltstring${digest}"),
        format!("$6$toolongsaltstring${digest}"),
        format!("$6$rounds=05000$saltstring${digest}"),
    ] {
        assert!(
            hash::parse(stored.as_bytes()).is_err(),
            "we accept {stored}"
        );
        // crypt(3) recomputes a different string, so it would never verify it either.
        assert_ne!(
            crypt.crypt(b"Hello world!", &stored).as_deref(),
            Some(stored.as_str())
        );
    }
    // Passwords of 512 bytes or more: crypt refuses, we never match.
    let long = vec![b'a'; 512];
    assert_eq!(crypt.crypt(&long, "$6$ab"), None);
    assert!(hash::hash_with_salt(b"$6$ab", &long).is_err());
}
