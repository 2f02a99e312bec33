//! End-to-end suite: a real ejabberd runs the freshly built `xmpp-extauth` as its
//! `extauth_program`, and a real XMPP client (slixmpp) logs in, changes passwords and
//! registers accounts. The work is done by `tests/e2e/run.py` (setup, checks, cleanup); this
//! test decides whether it can run, runs it under a time limit and fails if any check failed.
//!
//! Run it alone: `cargo test --test e2e -- --nocapture` (as root, with the Debian packages
//! `ejabberd`, `python3-slixmpp` and `openssl` installed).
//!
//! It skips with a loud `SKIPPED:` line only when it truly cannot run (not root, a package
//! missing). With `CI=true` in the environment a skip is a failure: CI must run it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The whole suite normally takes well under a minute; past this, it is stopped (SIGTERM lets
/// run.py stop ejabberd and every helper; SIGKILL follows after [`GRACE`]).
const TIME_LIMIT: Duration = Duration::from_secs(420);
const GRACE: Duration = Duration::from_secs(45);
/// Debian's interpreter, where `python3-slixmpp` installs (a pyenv shim would not see it).
const PYTHON: &str = "/usr/bin/python3";
const EJABBERDCTL: &str = "/usr/sbin/ejabberdctl";

/// Print straight to the process's stderr, past libtest's output capture: the check list, the
/// summary and a SKIPPED line must show in every `cargo test` run (CI logs), not only on
/// failure or with --nocapture. (stderr, because the crate denies print_stdout.)
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (ejabberdctl runs the server as the ejabberd user)".into());
    }
    if !Path::new(EJABBERDCTL).exists() {
        return Some(format!(
            "{EJABBERDCTL} not found (apt-get install ejabberd)"
        ));
    }
    let slixmpp = Command::new(PYTHON)
        .args(["-c", "import slixmpp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(slixmpp, Ok(s) if s.success()) {
        return Some(format!(
            "{PYTHON} cannot import slixmpp (apt-get install python3-slixmpp)"
        ));
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(openssl, Ok(s) if s.success()) {
        return Some("openssl not found (apt-get install openssl)".into());
    }
    None
}

#[test]
fn ejabberd_and_a_real_client() {
    if let Some(reason) = missing_prerequisite() {
        let line = "=".repeat(78);
        say(&format!(
            "\n{line}\nSKIPPED: end-to-end suite (tests/e2e.rs): {reason}\n{line}\n"
        ));
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the end-to-end suite was skipped: {reason}"
        );
        return;
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/run.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(&script)
        .args(["--binary", env!("CARGO_BIN_EXE_xmpp-extauth")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A third vhost with `backend = http` against tests/e2e/api_server.py, when built in.
    if cfg!(feature = "http") {
        cmd.arg("--http");
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn tests/e2e/run.py");
    let pid = child.id() as libc::pid_t;

    // Watchdog: stop a hung run (run.py cleans up on SIGTERM).
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut signalled = None;
            while !done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(200));
                let elapsed = started.elapsed();
                if signalled.is_none() && elapsed > TIME_LIMIT {
                    say(&format!(
                        "e2e: time limit {TIME_LIMIT:?} reached, sending SIGTERM"
                    ));
                    // SAFETY: plain syscall on our own child's pid (not yet reaped: `done`
                    // is set only after wait() returns).
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                    signalled = Some(elapsed);
                } else if signalled.is_some_and(|t| elapsed > t + GRACE) {
                    say("e2e: no exit after SIGTERM, sending SIGKILL");
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
            }
        })
    };

    // Forward run.py's output line by line as it comes.
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
        if let Some(name) = line.strip_prefix("FAIL ").filter(|_| !in_summary) {
            failed_checks.push(name.to_string());
        }
    }
    let status = child.wait().expect("wait for run.py");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let _ = err_thread.join();
    say(&format!(
        "e2e: run.py finished in {:.1?}",
        started.elapsed()
    ));

    assert!(
        status.success(),
        "end-to-end suite failed ({status}); failed checks:\n  {}",
        failed_checks.join("\n  ")
    );
}
