//! End-to-end suite with a real Prosody: its external-auth module runs the freshly built
//! `xmpp-extauth` on a pseudo-terminal (lpty), the path where an echoed first request or a
//! late reply puts every later reply one behind and lets wrong passwords in (PROTOCOLS.md
//! section 4). A real XMPP client (slixmpp) logs in over STARTTLS, alternates right and wrong
//! logins, changes passwords in-band; a 1,000,000-round hash makes a verdict late; Prosody is
//! stopped and killed and the helper must go too. The work is done by
//! `tests/e2e/run_prosody.py`; this test decides whether it can run, runs it under a time
//! limit and fails if any check failed.
//!
//! Run it alone: `cargo test --test e2e_prosody -- --nocapture` (as root, with the Debian
//! packages `prosody`, `python3-slixmpp`, `openssl`, and lpty for Lua 5.4 from
//! `tests/e2e/prosody/install-lpty.sh`).
//!
//! It skips with a loud `SKIPPED:` line only when it truly cannot run (not root, a package
//! missing). With `CI=true` in the environment a skip is a failure: CI must run it.

mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::{common_prerequisite, run_driver, runs, skip};

/// The suite normally takes about a minute; past this, it is stopped (SIGTERM lets run_prosody.py
/// stop Prosody and every helper; SIGKILL follows after [`GRACE`]).
const TIME_LIMIT: Duration = Duration::from_secs(240);
const GRACE: Duration = Duration::from_secs(30);
const PROSODY: &str = "/usr/bin/prosody";

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if let Some(reason) = common_prerequisite() {
        return Some(reason);
    }
    if !Path::new(PROSODY).exists() {
        return Some(format!("{PROSODY} not found (apt-get install prosody)"));
    }
    // Debian's lua-lpty is built for Lua 5.1 and 5.2 only; Prosody runs on 5.4.
    if !runs("lua5.4", &["-e", "require 'lpty'"]) {
        return Some(
            "lua5.4 cannot load lpty (bash tests/e2e/prosody/install-lpty.sh builds it)".into(),
        );
    }
    if !runs("setpriv", &["--version"]) {
        return Some("setpriv not found (apt-get install util-linux)".into());
    }
    None
}

#[test]
fn prosody_over_a_pty_and_a_real_client() {
    if let Some(reason) = missing_prerequisite() {
        skip("Prosody end-to-end suite (tests/e2e_prosody.rs)", &reason);
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/run_prosody.py");
    let args = ["--binary", env!("CARGO_BIN_EXE_xmpp-extauth")];
    let (status, failed_checks) = run_driver("e2e_prosody", &script, &args, TIME_LIMIT, GRACE);
    assert!(
        status.success(),
        "Prosody end-to-end suite failed ({status}); failed checks:\n  {}",
        failed_checks.join("\n  ")
    );
}
