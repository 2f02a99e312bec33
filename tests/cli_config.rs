//! argv and config file together, through the library (no binary needed), plus the
//! shipped sample config.

use std::ffi::OsString;
use std::fs;
use std::time::Duration;

use xmpp_extauth::cli::{self, Command};
use xmpp_extauth::config::{self, KEYS, Settings};
use xmpp_extauth::log::Level;

mod hardening_support;
use hardening_support::Scratch;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/xmpp-extauth.conf");

fn run(args: &[&str], env: Option<&str>) -> Result<Settings, String> {
    let inv = cli::parse(args.iter().map(OsString::from)).map_err(|e| e.to_string())?;
    config::load(&inv, env.map(OsString::from)).map_err(|e| e.to_string())
}

#[test]
fn options_override_the_file_before_or_after_the_command() {
    let d = Scratch::new("cli-config");
    let conf = d.write(
        "x.conf",
        "log_level = warn\nhash_rounds = 6000\nallow_writes = yes\n",
        0o600,
    );
    let c = conf.to_str().expect("utf-8 temp path");
    for args in [
        &[
            "--hash-rounds",
            "7000",
            "-c",
            c,
            "--allow-writes=off",
            "config",
            "check",
        ][..],
        &[
            "config",
            "check",
            "--config",
            c,
            "--hash-rounds=7000",
            "--allow-writes=false",
        ],
    ] {
        let inv = cli::parse(args.iter().map(OsString::from)).expect("parses");
        assert_eq!(inv.command, Command::ConfigCheck);
        let s = config::load(&inv, None).expect("loads");
        assert_eq!(s.config_file.as_deref(), Some(conf.as_path()));
        assert_eq!(s.log_level, Level::Warn, "file value kept");
        assert_eq!(s.hash_rounds, 7000, "option beats file");
        assert!(!s.allow_writes, "option beats file");
    }
}

#[test]
fn config_option_beats_environment() {
    let d = Scratch::new("cli-config");
    let a = d.write("a.conf", "deadline_ms = 3000\n", 0o600);
    let b = d.write("b.conf", "deadline_ms = 2000\n", 0o600);
    let s = run(&["-c", a.to_str().expect("utf-8")], b.to_str()).expect("loads");
    assert_eq!(s.deadline, Duration::from_millis(3000));
    let s = run(&[], b.to_str()).expect("loads");
    assert_eq!(s.deadline, Duration::from_millis(2000));
}

#[test]
fn bad_option_value_names_the_option() {
    let e = run(&["--deadline-ms", "50"], None).expect_err("too short");
    assert_eq!(
        e,
        "--deadline-ms: invalid deadline_ms '50': expected a whole number from 100 to 60000"
    );
}

#[test]
fn sample_config_changes_nothing() {
    let s = run(&["-c", SAMPLE], None).expect("sample loads");
    assert_eq!(
        Settings {
            config_file: None,
            ..s
        },
        Settings::default()
    );
}

#[test]
fn sample_config_lists_every_key_with_its_default_or_a_valid_example() {
    let text = fs::read_to_string(SAMPLE).expect("sample readable");
    let d = Scratch::new("cli-config");
    for k in KEYS {
        let prefix = format!("#{} = ", k.name);
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("sample has no '{prefix}' line"));
        let value = &line[prefix.len()..];
        if !k.default.is_empty() {
            assert_eq!(
                value, k.default,
                "sample shows a non-default for {}",
                k.name
            );
        }
        // Uncommented, the line is valid (with the partner a key needs).
        let partner = match k.name {
            "http_client_cert" => "http_client_key = /k.pem\n",
            "http_client_key" => "http_client_cert = /c.pem\n",
            "cache_grace" => "cache_ttl = 60\n",
            "http_auth_credentials_file" => continue, // reads the file: unit-tested
            _ => "",
        };
        let conf = d.write("one.conf", format!("{}\n{partner}", &line[1..]), 0o600);
        if let Err(e) = run(&["-c", conf.to_str().expect("utf-8")], None) {
            panic!("sample line {line:?} does not load: {e}");
        }
    }
}
