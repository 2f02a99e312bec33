//! The man page renders cleanly and documents every option and config key, so the page
//! and the code cannot drift apart.

use std::path::Path;
use std::process::Command;

use xmpp_extauth::cli::long_options;
use xmpp_extauth::config::KEYS;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/xmpp-extauth.8");

/// The page with roff's `\-` turned into plain hyphens.
fn page_text() -> String {
    std::fs::read_to_string(PAGE)
        .expect("packaging/xmpp-extauth.8 is readable")
        .replace("\\-", "-")
}

#[test]
fn groff_renders_without_warnings() {
    let out = match Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .arg(Path::new(PAGE))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "groff is required in CI (apt-get install groff): {e}"
            );
            eprintln!("SKIPPED groff_renders_without_warnings: groff not runnable: {e}");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "groff failed: {stderr}");
    assert!(stderr.trim().is_empty(), "groff warnings:\n{stderr}");
}

#[test]
fn every_long_option_is_documented() {
    let text = page_text();
    for opt in long_options() {
        assert!(
            text.contains(&format!("--{opt}")),
            "--{opt} is not in the man page"
        );
    }
    // The refused option is explained too.
    assert!(text.contains("There is no\n.B --http-auth-credentials\n"));
}

#[test]
fn every_config_key_has_an_entry() {
    let text = page_text();
    for k in KEYS {
        assert!(
            text.lines().any(|l| l == format!(".B {}", k.name)),
            "config key {} has no '.B {}' entry in the man page",
            k.name,
            k.name
        );
    }
}

#[test]
fn required_sections_are_present() {
    let text = page_text();
    for s in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "COMMANDS",
        "OPTIONS",
        "CONFIGURATION",
        "USERS FILE",
        "PROTOCOLS",
        "FILES",
        "ENVIRONMENT",
        "EXIT STATUS",
        "SECURITY",
        "EXAMPLES",
    ] {
        let head = if s.contains(' ') {
            format!(".SH \"{s}\"")
        } else {
            format!(".SH {s}")
        };
        assert!(
            text.lines().any(|l| l == head || l == format!(".SH {s}")),
            "section {s} missing"
        );
    }
    for cmd in [
        "demo",
        "hash",
        "user add",
        "user passwd",
        "user del",
        "user list",
        "check auth",
        "check isuser",
        "config check",
    ] {
        assert!(text.contains(cmd), "command {cmd} missing");
    }
    for line in [
        "authentication = \"external_insecure\"",
        "external_auth_command = \"/usr/bin/xmpp-extauth\"",
        "auth_method: external",
        "extauth_program: \"/usr/bin/xmpp-extauth\"",
        "auth_use_cache: false",
        "XMPP_EXTAUTH_CONFIG",
    ] {
        assert!(text.contains(line), "{line} missing");
    }
}

#[test]
fn title_names_the_crate_version() {
    let text = page_text();
    let th = text
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    assert!(
        th.contains(&format!("\"xmpp-extauth {}\"", env!("CARGO_PKG_VERSION"))),
        "bump the version in the man page's .TH line: {th}"
    );
}

/// mandoc's linter is stricter than groff (style too); run it when installed. Optional:
/// CI installs groff, which is what `man` uses on Debian.
#[test]
fn mandoc_lint_is_clean_when_available() {
    let Ok(out) = Command::new("mandoc")
        .args(["-T", "lint", "-W", "all"])
        .arg(Path::new(PAGE))
        .output()
    else {
        eprintln!("SKIPPED mandoc_lint_is_clean_when_available: mandoc not installed");
        return;
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "mandoc lint:\n{text}"
    );
}
