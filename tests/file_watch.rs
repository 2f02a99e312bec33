//! The users file is watched (inotify + SIGIO) instead of `stat`ed before every request.
//! What must hold, through the real binary: a change made before a request was sent is
//! seen by that very request (no sleep in between), whatever way the file was changed and
//! even when the server started us with SIGIO blocked and ignored; and while nothing
//! changes, requests cost no `stat` (counted with strace).

mod hardening_support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::process::Command;

use hardening_support::*;

/// The file's content for version `i`: alice plus `u{i}`, padded so every version is
/// longer than the last (a size change is a change even within one timestamp tick, and
/// even if a deleted file's inode number is reused).
fn version(i: usize) -> String {
    format!(
        "# version {i} {}\nalice@example.org:{{PLAIN}}alice-pw\nu{i}@example.org:{{PLAIN}}pw{i}\n",
        "#".repeat(i)
    )
}

/// Starts the helper with SIGIO blocked and ignored, as a careless parent might leave it:
/// the helper must undo both or it would never hear of a change.
fn spawn_with_sigio_blocked(config: &std::path::Path) -> Helper {
    Helper::spawn_with(config, |cmd: &mut Command| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGIO, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGIO);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    })
}

fn assert_version(h: &mut Helper, i: usize, how: &str) {
    assert!(
        h.isuser(&format!("u{i}"), "example.org"),
        "version {i} ({how}) not seen by the next request"
    );
    assert!(
        !h.isuser(&format!("u{}", i - 1), "example.org"),
        "version {} still answering after {how}",
        i - 1
    );
    assert!(h.auth("alice", "example.org", "alice-pw"));
}

#[test]
fn every_change_is_seen_by_the_very_next_request() {
    let d = Scratch::new("watch");
    let users = d.write("users", version(0), 0o640);
    let mut h = spawn_with_sigio_blocked(&d.config(&users, ""));
    assert!(h.isuser("u0", "example.org"));
    for i in 1..=60 {
        let how = match i % 5 {
            0 => {
                replace_atomically(&users, version(i), 0o640);
                "rename over"
            }
            1 => {
                // In place, truncated and rewritten (`cat new > users`).
                fs::write(&users, version(i)).unwrap();
                "rewrite in place"
            }
            2 => {
                // In place, appended; the old user's line is commented out by an
                // in-place overwrite of its first byte, so the file only grows.
                let old = fs::read_to_string(&users).unwrap();
                let at = old.find(&format!("u{}@", i - 1)).unwrap();
                let mut f = fs::OpenOptions::new().write(true).open(&users).unwrap();
                use std::io::{Seek, SeekFrom};
                f.seek(SeekFrom::Start(at as u64)).unwrap();
                f.write_all(b"#").unwrap();
                f.seek(SeekFrom::End(0)).unwrap();
                f.write_all(format!("u{i}@example.org:{{PLAIN}}pw{i}\n").as_bytes())
                    .unwrap();
                "edit in place"
            }
            3 => {
                fs::remove_file(&users).unwrap();
                d.write("users", version(i), 0o640);
                "delete and create"
            }
            _ => {
                // Written elsewhere, then hard-linked in place of the old one.
                let tmp = d.path("staged");
                d.write("staged", version(i), 0o640);
                fs::remove_file(&users).unwrap();
                fs::hard_link(&tmp, &users).unwrap();
                fs::remove_file(&tmp).unwrap();
                "link"
            }
        };
        assert_version(&mut h, i, how);
    }
    assert_eq!(h.finish(), Some(0));
}

/// The configured path is a symlink into another directory; the admin edits the target
/// there (by rename, as editors do). The watch must cover the target's directory.
#[test]
fn changes_behind_a_symlink_are_seen_by_the_next_request() {
    let d = Scratch::new("watch-link");
    fs::create_dir(d.path("data")).unwrap();
    fs::create_dir(d.path("conf")).unwrap();
    let target = d.write("data/users", version(0), 0o640);
    let link = d.path("conf/users");
    symlink(&target, &link).unwrap();
    let mut h = spawn_with_sigio_blocked(&d.config(&link, ""));
    assert!(h.isuser("u0", "example.org"));
    for i in 1..=20 {
        replace_atomically(&target, version(i), 0o640);
        assert_version(&mut h, i, "rename behind the symlink");
    }
    // The link itself re-pointed to a file in a third directory, then that file edited.
    fs::create_dir(d.path("other")).unwrap();
    let other = d.write("other/users", version(21), 0o640);
    let tmp = d.path("conf/users.tmp");
    symlink(&other, &tmp).unwrap();
    fs::rename(&tmp, &link).unwrap();
    assert_version(&mut h, 21, "symlink re-pointed");
    replace_atomically(&other, version(22), 0o640);
    assert_version(&mut h, 22, "rename in the new target's directory");
    assert_eq!(h.finish(), Some(0));
}

/// While the file does not change, a request costs no `stat`: 500 requests, one at a
/// time, take at most a handful (start-up, the first look, the once-a-second backstop).
#[test]
fn no_stat_per_request_while_nothing_changes() {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing under CI=true (apt-get install strace)"
        );
        eprintln!("SKIPPED: strace not installed (apt-get install strace)");
        return;
    }
    let d = Scratch::new("watch-stat");
    let users = d.write("users", version(0), 0o640);
    let trace = d.path("trace");
    let config = d.config(&users, "");
    let mut h = Helper::spawn_with(&config, |cmd: &mut Command| {
        let prog = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut strace = Command::new("strace");
        strace
            .arg("-f")
            .arg("-qq")
            .arg("-e")
            .arg("trace=%stat,%fstat,read")
            .arg("-o")
            .arg(&trace)
            .arg(prog)
            .args(args);
        // Same pipes and environment, another program at the front.
        std::mem::swap(cmd, &mut strace);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
    });
    for _ in 0..500 {
        assert!(h.isuser("u0", "example.org"));
    }
    assert_eq!(h.finish(), Some(0));
    let trace = fs::read_to_string(&trace).unwrap();
    let reads = trace.lines().filter(|l| l.contains("read(0,")).count();
    let stats = trace.lines().filter(|l| l.contains("stat")).count();
    assert!(reads >= 500, "strace saw {reads} reads of stdin:\n{trace}");
    assert!(
        stats <= 20,
        "{stats} stat calls for 500 requests on an unchanged file"
    );
}

/// What inotify cannot see is still seen within about a second: here the users file's
/// grandparent directory is swapped for another tree (the watched directories are the old
/// ones, now elsewhere, and they see no event), which only the once-a-second `stat` finds.
#[test]
fn changes_inotify_cannot_see_are_seen_within_a_second() {
    let d = Scratch::new("watch-backstop");
    fs::create_dir_all(d.path("a/b")).unwrap();
    let users = d.write("a/b/users", version(0), 0o640);
    let mut h = Helper::spawn(&d.config(&users, ""));
    assert!(h.isuser("u0", "example.org"));
    fs::create_dir_all(d.path("new/b")).unwrap();
    d.write("new/b/users", version(1), 0o640);
    fs::rename(d.path("a"), d.path("old")).unwrap();
    fs::rename(d.path("new"), d.path("a")).unwrap();
    let t = std::time::Instant::now();
    while !h.isuser("u1", "example.org") {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(3),
            "the swapped tree was not seen within 3 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!h.isuser("u0", "example.org"));
    assert_eq!(h.finish(), Some(0));
}
