//! Process hygiene of a serving helper, seen from outside through /proc: no core dumps
//! (RLIMIT_CORE 0, and not dumpable), no password in /proc/PID/cmdline or environ, and
//! where password bytes linger in memory after a request. (Inherited descriptors are
//! covered by tests/binary.rs.)

mod hardening_support;

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;

use hardening_support::*;

const HOST: &str = "example.org";

fn serving(d: &Scratch) -> Helper {
    let users = d.write(
        "users",
        format!("alice@{HOST}:{}\n", hash("alice-pw")),
        0o640,
    );
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert!(h.auth("alice", HOST, "alice-pw"));
    h
}

#[test]
fn core_dumps_are_off_while_serving() {
    let d = Scratch::new("core");
    let h = serving(&d);
    let limits = fs::read_to_string(format!("/proc/{}/limits", h.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core limit line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "Max core file size  0  0  bytes": soft and hard limit both zero.
    assert_eq!(&fields[4..6], ["0", "0"], "{line}");
}

/// `prctl(PR_SET_DUMPABLE, 0)` is visible from outside: the kernel makes a non-dumpable
/// process's /proc/PID files owned by root. Seen only when the helper runs as another user,
/// so this runs it as `nobody` (needs root to start it so; skipped otherwise).
#[test]
fn helper_is_not_dumpable_while_serving() {
    if !is_root() {
        eprintln!("skipped: needs root to start the helper as nobody");
        return;
    }
    const NOBODY: u32 = 65534;
    let d = Scratch::new("dumpable");
    let users = d.write(
        "users",
        format!("alice@{HOST}:{}\n", hash("alice-pw")),
        0o640,
    );
    let config = d.config(&users, "");
    for p in [&d.0, &users, &config] {
        let c = CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: chown with a valid C string.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), NOBODY, NOBODY) }, 0);
    }
    let mut h = Helper::spawn_with(&config, |cmd| {
        cmd.uid(NOBODY).gid(NOBODY);
    });
    assert!(h.auth("alice", HOST, "alice-pw"));
    let status = format!("/proc/{}/status", h.pid());
    let uid_line = h.status_field("Uid").expect("Uid");
    assert!(uid_line.starts_with("65534"), "runs as {uid_line}");
    let owner = fs::metadata(&status).unwrap().uid();
    assert_eq!(
        owner, 0,
        "/proc/PID files of a helper running as nobody are owned by {owner}: still dumpable"
    );
}

#[test]
fn no_password_in_cmdline_or_environment() {
    let d = Scratch::new("cmdline");
    let mut h = serving(&d);
    let secret = "Zq8-unique-password-7Hn";
    assert!(!h.auth("alice", HOST, secret));
    assert!(!h.auth("nobody-here", HOST, secret));
    for what in ["cmdline", "environ"] {
        let bytes = fs::read(format!("/proc/{}/{what}", h.pid())).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "password in /proc/PID/{what}"
        );
        assert!(
            !bytes.windows(8).any(|w| w == b"alice-pw"),
            "password in /proc/PID/{what}"
        );
    }
}

/// Where the bytes of a password are still found in the helper's writable memory after
/// its request was answered (read through /proc/PID/mem: needs ptrace rights over the
/// helper, i.e. root, since the helper is not dumpable).
fn residues(pid: u32, needle: &[u8]) -> Option<Vec<String>> {
    use std::os::unix::fs::FileExt;
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mem = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut found = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let name = line.split_whitespace().nth(5).unwrap_or("[anon]");
        let (a, b) = range.split_once('-')?;
        let (a, b) = (
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
        );
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.read_exact_at(&mut buf, a).is_err() {
            continue;
        }
        let hits = buf.windows(needle.len()).filter(|w| *w == needle).count();
        if hits > 0 {
            found.push(format!("{name} x{hits}"));
        }
    }
    Some(found)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Copies of `needle` per memory kind: (heap and anonymous mappings, stack).
fn heap_and_stack(found: &[String]) -> (usize, usize) {
    let n = |f: &String| {
        f.rsplit(" x")
            .next()
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let stack = found
        .iter()
        .filter(|f| f.starts_with("[stack]"))
        .map(n)
        .sum();
    let other = found
        .iter()
        .filter(|f| !f.starts_with("[stack]"))
        .map(n)
        .sum();
    (other, stack)
}

/// With the file backend, the request paths copy a password into no heap memory of their
/// own: after an `auth` (SHA-crypt verification) and after a refused `setpass`, the only
/// heap copy is the serve loop's input buffer, which the next request overwrites. (Stack copies left by SHA-crypt
/// are the open finding below.) A password formatted into a `String`, a log line or a
/// cache key in plain text would show here as a second copy.
#[test]
fn password_reaches_no_heap_memory_but_the_input_buffer() {
    if !is_root() {
        eprintln!("skipped: reading another process's memory needs root");
        return;
    }
    let d = Scratch::new("residue");
    let mut h = serving(&d);
    for (i, request) in ["auth:alice", "auth:mallory", "setpass:alice"]
        .iter()
        .enumerate()
    {
        let secret = format!("Residue-Canary-{i}-4c1e-pw");
        assert!(
            !h.ask(format!("{request}:{HOST}:{secret}").as_bytes())
                .unwrap()
        );
        let found = residues(h.pid(), secret.as_bytes()).expect("read /proc/PID/mem");
        let (heap, stack) = heap_and_stack(&found);
        eprintln!("{request}: password copies in memory after the reply: {found:?}");
        assert!(heap <= 1, "{request}: {heap} heap copies: {found:?}");
        let _ = stack;
    }
}

/// Open finding (src/hash/shacrypt.rs): after a SHA-crypt verification, ~9 copies of the
/// password remain on the stack (debug and release builds alike): the hash code wipes its
/// own buffers, but moved temporaries and the sha2 compression function's message schedule
/// (which copies each block) are not. Suggested fix: after `compute`, scrub the stack
/// region it used with an `#[inline(never)]` function that volatile-writes zeros over a
/// large enough local array (e.g. 16 KiB), the approach of libsodium's `sodium_stackzero`.
#[test]
fn open_no_password_left_on_the_stack_after_hashing() {
    let d = Scratch::new("residue-stack");
    let mut h = serving(&d);
    let secret = "Residue-Canary-9a7f-pw";
    assert!(!h.auth("alice", HOST, secret));
    let found = residues(h.pid(), secret.as_bytes()).expect("read /proc/PID/mem");
    assert_eq!(
        heap_and_stack(&found).1,
        0,
        "password on the stack: {found:?}"
    );
}

/// Open finding (src/serve.rs): the input buffer keeps a request's bytes after it has
/// been handled, until later input overwrites them, so an idle helper holds the last
/// password in memory. Suggested fix: zero `buf[..start]` (the consumed bytes) with a
/// volatile write before `copy_within`, and the whole buffer before returning.
#[test]
fn open_no_password_left_in_the_input_buffer() {
    let d = Scratch::new("residue-buffer");
    let mut h = serving(&d);
    let secret = "Residue-Canary-77d1-pw";
    // Refused setpass: no hashing, so only the input buffer can hold it.
    assert!(
        !h.ask(format!("setpass:alice:{HOST}:{secret}").as_bytes())
            .unwrap()
    );
    let found = residues(h.pid(), secret.as_bytes()).expect("read /proc/PID/mem");
    assert!(found.is_empty(), "password still in memory: {found:?}");
}

/// A minimal API that answers `false` to every request (keep-alive; a POST body is left
/// unread in front of the next request's headers, which is fine for a `false` to all).
fn false_api() -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfalse";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

/// With the HTTP backend no copy of a password outlives its request, GET (password in the
/// URL) or POST (in the body): the form and the GET URL are built in buffers wiped on drop
/// and handed to ureq without a copy, the credentials header is shared rather than copied,
/// and ureq's request buffer (which belongs to the pooled connection and so lives on) is
/// wiped after each send (src/backend/http/scrub.rs). Checked right after the `auth` reply,
/// before any later request could overwrite a buffer, with a password longer than any
/// later request line. (Before the fix: 3 heap copies, even after a following `isuser`.)
#[test]
fn http_backend_leaves_no_password_in_memory() {
    if !is_root() {
        eprintln!("skipped: reading another process's memory needs root");
        return;
    }
    for method in ["get", "post"] {
        let d = Scratch::new(&format!("residue-http-{method}"));
        let port = false_api();
        let config = d.write(
            "extauth.conf",
            format!(
                "backend = http\nhttp_url = http://127.0.0.1:{port}/api\nhttp_check_method = {method}\n\
                 http_auth_credentials = api:api-secret\nlog = none\n"
            ),
            0o600,
        );
        let mut h = Helper::spawn(&config);
        let secret = format!("Residue-Canary-http-{method}-{}", "x".repeat(150));
        assert!(!h.auth("alice", HOST, &secret));
        let found = residues(h.pid(), secret.as_bytes()).expect("read /proc/PID/mem");
        assert!(
            found.is_empty(),
            "{method}: password still in memory: {found:?}"
        );
        assert!(!h.isuser("alice", HOST));
        let found = residues(h.pid(), secret.as_bytes()).expect("read /proc/PID/mem");
        assert!(
            found.is_empty(),
            "{method}: password still in memory: {found:?}"
        );
    }
}
