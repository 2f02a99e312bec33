//! What the end-to-end suites (`tests/e2e.rs` with ejabberd, `tests/e2e_prosody.rs` with
//! Prosody) share: the loud skip, and running a Python driver under a time limit while its
//! check list streams to the console.
//!
//! A driver prints `PASS name` / `FAIL name: detail` per check, then a summary headed
//! `==== e2e summary`, and exits 0 only if every check passed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Debian's interpreter, where `python3-slixmpp` installs (a pyenv shim would not see it).
pub const PYTHON: &str = "/usr/bin/python3";

/// Print straight to the process's stderr, past libtest's output capture: the check list, the
/// summary and a SKIPPED line must show in every `cargo test` run (CI logs), not only on
/// failure or with --nocapture. (stderr, because the crate denies print_stdout.)
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// True if `program args...` runs and exits 0 (output discarded).
pub fn runs(program: &str, args: &[&str]) -> bool {
    matches!(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status(),
        Ok(s) if s.success()
    )
}

/// Root, `/usr/bin/python3` with slixmpp, and openssl: what both suites need.
pub fn common_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (the server runs as its own user, started by the test)".into());
    }
    if !runs(PYTHON, &["-c", "import slixmpp"]) {
        return Some(format!(
            "{PYTHON} cannot import slixmpp (apt-get install python3-slixmpp)"
        ));
    }
    if !runs("openssl", &["version"]) {
        return Some("openssl not found (apt-get install openssl)".into());
    }
    None
}

/// Print a loud SKIPPED banner; under `CI=true` a skip is a failure instead.
#[track_caller]
pub fn skip(suite: &str, reason: &str) {
    let line = "=".repeat(78);
    say(&format!("\n{line}\nSKIPPED: {suite}: {reason}\n{line}\n"));
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {suite} was skipped: {reason}"
    );
}

/// Runs `python3 script args...`, forwarding its output line by line, stopped with SIGTERM
/// after `limit` (the driver cleans up on SIGTERM) and SIGKILL `grace` later. Returns the
/// exit status and the names of the failed checks.
pub fn run_driver(
    name: &str,
    script: &Path,
    args: &[&str],
    limit: Duration,
    grace: Duration,
) -> (ExitStatus, Vec<String>) {
    let started = Instant::now();
    let mut child = Command::new(PYTHON)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", script.display()));
    let pid = child.id() as libc::pid_t;

    // Watchdog: stop a hung run.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = Arc::clone(&done);
        let name = name.to_string();
        thread::spawn(move || {
            let mut signalled = None;
            while !done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(200));
                let elapsed = started.elapsed();
                if signalled.is_none() && elapsed > limit {
                    say(&format!(
                        "{name}: time limit {limit:?} reached, sending SIGTERM"
                    ));
                    // SAFETY: plain syscall on our own child's pid (not yet reaped: `done`
                    // is set only after wait() returns).
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                    signalled = Some(elapsed);
                } else if signalled.is_some_and(|t| elapsed > t + grace) {
                    say(&format!("{name}: no exit after SIGTERM, sending SIGKILL"));
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
            }
        })
    };

    let stderr = child.stderr.take().expect("piped stderr");
    let err_thread = thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            say(&line);
        }
    });
    let mut failed_checks = Vec::new();
    let mut in_summary = false;
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        say(&line);
        in_summary |= line.starts_with("==== e2e summary");
        if let Some(check) = line.strip_prefix("FAIL ").filter(|_| !in_summary) {
            failed_checks.push(check.to_string());
        }
    }
    let status = child.wait().expect("wait for the driver");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let _ = err_thread.join();
    say(&format!(
        "{name}: {} finished in {:.1?}",
        script.file_name().unwrap_or_default().to_string_lossy(),
        started.elapsed()
    ));
    (status, failed_checks)
}
