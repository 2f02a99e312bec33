//! A hostile or broken users file, through the real binary: huge rounds, gigantic lines,
//! binary junk, a file replaced (in place or by rename) while the helper runs, a symlink
//! swap, a file that disappears or becomes unreadable. The helper refuses or skips with
//! `file:line` logs, keeps the last good copy, never hangs (every reply is awaited with a
//! timeout), and never answers `1` for a wrong password.

mod hardening_support;

use std::fs;
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use hardening_support::*;

fn users_with(extra: &str) -> String {
    format!(
        "alice@example.org:{}\n{extra}carol@example.org:{}\n",
        hash("alice-pw"),
        hash("carol-pw")
    )
}

/// Alice and Carol work and wrong passwords do not.
fn assert_good_copy(h: &mut Helper) {
    assert!(h.auth("alice", "example.org", "alice-pw"));
    assert!(!h.auth("alice", "example.org", "alice-pw "));
    assert!(h.auth("carol", "example.org", "carol-pw"));
    assert!(!h.auth("carol", "example.org", "alice-pw"));
    assert!(!h.auth("mallory", "example.org", "alice-pw"));
}

#[test]
fn huge_rounds_are_refused_at_load_with_file_and_line() {
    let d = Scratch::new("rounds");
    let users = d.write(
        "users",
        users_with(
            "bob@example.org:$6$rounds=999999999$saltsalt$abcdefghijklmnopqrstuvwxyz\n\
             dave@example.org:$6$rounds=18446744073709551617$saltsalt$x\n",
        ),
        0o640,
    );
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    // Refused, and answered at once (no billion-round hash).
    let t = Instant::now();
    assert!(!h.auth("bob", "example.org", "anything"));
    assert!(!h.isuser("bob", "example.org"));
    assert!(!h.auth("dave", "example.org", "x"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let log = d.log();
    let at = format!("{}:2:", users.display());
    assert!(
        log.lines().any(|l| l.contains(&at) && l.contains("rounds")),
        "no {at} rounds line in log:\n{log}"
    );
    assert!(log.contains(&format!("{}:3:", users.display())), "{log}");
}

#[test]
fn gigantic_line_is_skipped_with_bounded_memory() {
    let d = Scratch::new("giant");
    const GIANT: usize = 50 << 20;
    let mut bytes = users_with("").into_bytes();
    let mut giant = b"eve@example.org:$6$".to_vec();
    giant.resize(GIANT, b'A');
    giant.push(b'\n');
    // The giant line sits between the good ones.
    let split = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes.splice(split..split, giant);
    let users = d.write("users", &bytes, 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    assert!(!h.auth("eve", "example.org", "AAAA"));
    let hwm = kb(&h.status_field("VmHWM").expect("VmHWM"));
    let rss = kb(&h.status_field("VmRSS").expect("VmRSS"));
    eprintln!(
        "50 MiB users file: VmHWM {} MiB, VmRSS {} MiB",
        hwm >> 20,
        rss >> 20
    );
    // The file is held in memory once (the index points into it); a second copy of the
    // giant line, or a hash of it, would show as another 50 MiB.
    assert!(
        hwm < (GIANT as u64) + (24 << 20),
        "VmHWM {} MiB for a 50 MiB file",
        hwm >> 20
    );
    let log = d.log();
    assert!(
        log.contains(&format!("{}:2: line longer than", users.display())),
        "{log}"
    );
}

#[test]
fn oversized_file_is_refused_and_the_last_good_copy_kept() {
    let d = Scratch::new("oversized");
    let users = d.write("users", users_with(""), 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    // A sparse 300 MiB file replaces it: above the size limit, refused before reading.
    let tmp = d.path("big");
    let f = fs::File::create(&tmp).unwrap();
    f.set_len(300 << 20).unwrap();
    drop(f);
    fs::rename(&tmp, &users).unwrap();
    settle();
    assert_good_copy(&mut h);
    assert!(
        d.wait_log("above the limit", Duration::from_secs(2)),
        "{}",
        d.log()
    );
    let hwm = kb(&h.status_field("VmHWM").expect("VmHWM"));
    assert!(hwm < 64 << 20, "VmHWM {} MiB", hwm >> 20);
}

#[test]
fn binary_junk_lines_are_skipped_and_nul_files_refused() {
    let d = Scratch::new("junk");
    // Junk without NUL bytes: skipped line by line, with file:line.
    let mut junk: Vec<u8> = (1u8..=255).filter(|&b| b != b'\n').collect();
    junk.extend_from_slice(b"\n\xff\xfe:{PLAIN}x\n\x1b[31m@x:{PLAIN}y\n:::\n@@@:\n");
    let mut bytes = users_with("").into_bytes();
    bytes.extend_from_slice(&junk);
    let users = d.write("users", &bytes, 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    assert!(!h.auth("\u{fffd}", "example.org", "x"));
    let log = d.log();
    for line in 3..=5 {
        assert!(
            log.contains(&format!("{}:{line}:", users.display())),
            "line {line}:\n{log}"
        );
    }
    // A file with NUL bytes is binary data: refused whole, the last good copy kept.
    let mut nul = users_with("").into_bytes();
    nul.extend_from_slice(b"frank@example.org:{PLAIN}frank\0\n");
    replace_atomically(&users, &nul, 0o640);
    settle();
    assert_good_copy(&mut h);
    assert!(!h.auth("frank", "example.org", "frank"));
    assert!(
        d.wait_log("NUL", Duration::from_secs(2)),
        "no NUL refusal in log:\n{}",
        d.log()
    );
}

#[test]
fn file_replaced_by_rename_is_picked_up() {
    let d = Scratch::new("rename");
    let users = d.write("users", users_with(""), 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    replace_atomically(
        &users,
        format!("alice@example.org:{}\n", hash("new-pw")),
        0o640,
    );
    settle();
    assert!(h.auth("alice", "example.org", "new-pw"));
    assert!(!h.auth("alice", "example.org", "alice-pw"));
    assert!(!h.auth("carol", "example.org", "carol-pw"));
}

/// An admin rewriting the file in place (`cat > users`): the helper may read it half
/// written. Whatever it reads, a wrong password never gets `1`, and once the writer is
/// done the complete new file is what answers.
#[test]
fn file_rewritten_in_place_while_serving() {
    use std::io::Write;
    let d = Scratch::new("inplace");
    let users = d.write("users", users_with(""), 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    let new = format!(
        "# rewritten\nalice@example.org:{}\ncarol@example.org:{}\n",
        hash("alice-2"),
        hash("carol-2")
    );
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&users)
        .unwrap();
    for chunk in new.as_bytes().chunks(17) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        // Only the current or the new password may ever be accepted.
        for (user, pw) in [
            ("alice", "carol-pw"),
            ("alice", "carol-2"),
            ("carol", "alice-2"),
        ] {
            assert!(!h.auth(user, "example.org", pw), "{user} with {pw}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(f);
    settle();
    assert!(h.auth("alice", "example.org", "alice-2"));
    assert!(h.auth("carol", "example.org", "carol-2"));
    assert!(!h.auth("alice", "example.org", "alice-pw"));
}

#[test]
fn symlink_swap_follows_good_targets_and_refuses_bad_ones() {
    let d = Scratch::new("symlink");
    let a = d.write("a", users_with(""), 0o640);
    let b = d.write("b", format!("alice@example.org:{}\n", hash("b-pw")), 0o640);
    let writable = d.write("w", format!("alice@example.org:{}\n", hash("w-pw")), 0o666);
    let link = d.path("users");
    symlink(&a, &link).unwrap();
    let mut h = Helper::spawn(&d.config(&link, ""));
    assert_good_copy(&mut h);
    let swap = |target: &std::path::Path| {
        let tmp = d.path("users.swap");
        let _ = fs::remove_file(&tmp);
        symlink(target, &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
        settle();
    };
    // To another good file: followed, like a rename.
    swap(&b);
    assert!(h.auth("alice", "example.org", "b-pw"));
    assert!(!h.auth("alice", "example.org", "alice-pw"));
    // To a world-writable file: refused, last good copy (b) kept.
    fs::set_permissions(
        &writable,
        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666),
    )
    .unwrap();
    swap(&writable);
    assert!(!h.auth("alice", "example.org", "w-pw"));
    assert!(h.auth("alice", "example.org", "b-pw"));
    assert!(
        d.wait_log("world-writable", Duration::from_secs(2)),
        "{}",
        d.log()
    );
    // To a FIFO: must not hang (opened non-blocking, refused as not a regular file).
    let fifo = d.path("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o640) }, 0);
    swap(&fifo);
    assert!(h.auth("alice", "example.org", "b-pw"));
    // To /dev/zero and to a dangling target: refused / missing, last good copy kept.
    swap(std::path::Path::new("/dev/zero"));
    assert!(h.auth("alice", "example.org", "b-pw"));
    swap(&d.path("nonexistent"));
    assert!(h.auth("alice", "example.org", "b-pw"));
    assert!(!h.auth("alice", "example.org", "w-pw"));
    assert!(
        d.wait_log("not a regular file", Duration::from_secs(2)),
        "{}",
        d.log()
    );
}

#[test]
fn file_that_disappears_or_becomes_unreadable_keeps_the_last_good_copy() {
    let d = Scratch::new("gone");
    let users = d.write("users", users_with(""), 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert_good_copy(&mut h);
    // Disappears.
    fs::remove_file(&users).unwrap();
    assert_good_copy(&mut h);
    assert!(
        d.wait_log("keeping the last good copy", Duration::from_secs(2)),
        "{}",
        d.log()
    );
    // Comes back changed: used.
    d.write(
        "users",
        format!("alice@example.org:{}\n", hash("back-pw")),
        0o640,
    );
    settle();
    assert!(h.auth("alice", "example.org", "back-pw"));
    // Becomes a directory (unreadable as a file, even for root).
    fs::remove_file(&users).unwrap();
    fs::create_dir(&users).unwrap();
    settle();
    assert!(h.auth("alice", "example.org", "back-pw"));
    assert!(!h.auth("alice", "example.org", "alice-pw"));
    fs::remove_dir(&users).unwrap();
    // Becomes unreadable by permissions (only meaningful when not running as root).
    let p = d.write(
        "users",
        format!("alice@example.org:{}\n", hash("perm-pw")),
        0o640,
    );
    settle();
    assert!(h.auth("alice", "example.org", "perm-pw"));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        fs::set_permissions(
            &p,
            <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o000),
        )
        .unwrap();
        settle();
        assert!(h.auth("alice", "example.org", "perm-pw"));
    }
    assert_eq!(h.finish(), Some(0));
}
