//! End-to-end suite: a real ejabberd runs the freshly built `xmpp-extauth` as its
//! `extauth_program`, and a real XMPP client (slixmpp) logs in, changes passwords and
//! registers accounts. The work is done by `tests/e2e/run.py` (setup, checks, cleanup); this
//! test decides whether it can run, runs it under a time limit and fails if any check failed.
//! (`tests/e2e_prosody.rs` is the same for Prosody; both use `tests/e2e_support`.)
//!
//! Run it alone: `cargo test --test e2e -- --nocapture` (as root, with the Debian packages
//! `ejabberd`, `python3-slixmpp` and `openssl` installed).
//!
//! It skips with a loud `SKIPPED:` line only when it truly cannot run (not root, a package
//! missing). With `CI=true` in the environment a skip is a failure: CI must run it.

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::{common_prerequisite, run_driver, skip};

/// The whole suite normally takes well under a minute; past this, it is stopped (SIGTERM lets
/// run.py stop ejabberd and every helper; SIGKILL follows after [`GRACE`]).
const TIME_LIMIT: Duration = Duration::from_secs(420);
const GRACE: Duration = Duration::from_secs(45);
const EJABBERDCTL: &str = "/usr/sbin/ejabberdctl";

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if let Some(reason) = common_prerequisite() {
        return Some(reason);
    }
    if !Path::new(EJABBERDCTL).exists() {
        return Some(format!(
            "{EJABBERDCTL} not found (apt-get install ejabberd)"
        ));
    }
    None
}

#[test]
fn ejabberd_and_a_real_client() {
    if let Some(reason) = missing_prerequisite() {
        skip("end-to-end suite (tests/e2e.rs)", &reason);
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/run.py");
    let mut args = vec!["--binary", env!("CARGO_BIN_EXE_xmpp-extauth")];
    // A third vhost with `backend = http` against tests/e2e/api_server.py, when built in.
    if cfg!(feature = "http") {
        args.push("--http");
    }
    let (status, failed_checks) = run_driver("e2e", &script, &args, TIME_LIMIT, GRACE);
    assert!(
        status.success(),
        "end-to-end suite failed ({status}); failed checks:\n  {}",
        failed_checks.join("\n  ")
    );
}
