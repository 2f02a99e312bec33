//! Config loading: every key good and bad, precedence, file:line errors, secrets.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::cli::{Command, Invocation, Override};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xmpp-extauth-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// Writes `name` with `text` and mode 0600; returns its path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).expect("write temp file");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn inv(config: Option<&Path>, overrides: &[(&str, &str)]) -> Invocation {
    Invocation {
        command: Command::Serve,
        config: config.map(Path::to_path_buf),
        overrides: overrides
            .iter()
            .map(|(k, v)| Override {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

/// Loads `text` as the config file (named by --config).
fn load_text(text: &str) -> Result<Settings, ConfigError> {
    let d = TempDir::new();
    let p = d.file("x.conf", text);
    load(&inv(Some(&p), &[]), None)
}

/// Loads a one-line config and returns the error text with the temp path cut off.
fn err_of(text: &str) -> String {
    let d = TempDir::new();
    let p = d.file("x.conf", text);
    let e = load(&inv(Some(&p), &[]), None).expect_err(text);
    e.to_string().replace(&p.display().to_string(), "F")
}

#[test]
fn good_values_per_key() {
    type Check = fn(&Settings) -> bool;
    let table: &[(&str, Check)] = &[
        ("protocol = auto", |s| s.protocol == ProtocolChoice::Auto),
        ("protocol = generic", |s| {
            s.protocol == ProtocolChoice::Generic
        }),
        ("protocol = ejabberd", |s| {
            s.protocol == ProtocolChoice::Ejabberd
        }),
        ("backend = file", |s| s.backend == BackendKind::File),
        ("users_file = /srv/users", |s| {
            s.users_file == Path::new("/srv/users")
        }),
        ("allow_writes = true", |s| s.allow_writes),
        ("allow_writes = yes", |s| s.allow_writes),
        ("allow_writes = 1", |s| s.allow_writes),
        ("allow_writes = on", |s| s.allow_writes),
        ("allow_writes = off", |s| !s.allow_writes),
        ("allow_writes = no", |s| !s.allow_writes),
        ("hash_scheme = sha256-crypt", |s| {
            s.hash_scheme == Scheme::Sha256Crypt
        }),
        ("hash_scheme = sha512-crypt", |s| {
            s.hash_scheme == Scheme::Sha512Crypt
        }),
        ("hash_rounds = 1000", |s| s.hash_rounds == 1000),
        ("hash_rounds = 1000000", |s| s.hash_rounds == 1_000_000),
        ("read_timeout = 0", |s| s.read_timeout.is_none()),
        ("read_timeout = 30", |s| {
            s.read_timeout == Some(Duration::from_secs(30))
        }),
        ("read_timeout = 0.5", |s| {
            s.read_timeout == Some(Duration::from_millis(500))
        }),
        ("deadline_ms = 100", |s| {
            s.deadline == Duration::from_millis(100)
        }),
        ("deadline_ms = 3000", |s| {
            s.deadline == Duration::from_millis(3000)
        }),
        ("log = stderr", |s| s.log == LogTarget::Stderr),
        ("log = none", |s| s.log == LogTarget::None),
        ("log = syslog", |s| s.log == LogTarget::Syslog),
        ("log = file:/var/log/x.log", |s| {
            s.log == LogTarget::File("/var/log/x.log".into())
        }),
        ("log_level = debug", |s| s.log_level == Level::Debug),
        ("log_level = error", |s| s.log_level == Level::Error),
        ("http_url = https://api.example.org/auth#x", |s| {
            s.http.url.as_deref() == Some("https://api.example.org/auth#x")
        }),
        ("http_url = \"http://127.0.0.1:8080/$host\"", |s| {
            s.http.url.as_deref() == Some("http://127.0.0.1:8080/$host")
        }),
        ("http_url =", |s| s.http.url.is_none()),
        ("http_check_method = post", |s| {
            s.http.check_method == HttpMethod::Post
        }),
        ("http_check_method = GET", |s| {
            s.http.check_method == HttpMethod::Get
        }),
        ("http_auth_credentials = api:pa:ss#word", |s| {
            s.http.auth_credentials == Some(Secret("api:pa:ss#word".into()))
        }),
        ("http_ca_file = /etc/ssl/my.pem", |s| {
            s.http.ca_file.as_deref() == Some(Path::new("/etc/ssl/my.pem"))
        }),
        ("http_proxy = http://u:p@proxy:3128", |s| {
            s.http.proxy.as_deref() == Some("http://u:p@proxy:3128")
        }),
        ("http_connect_timeout_ms = 1", |s| {
            s.http.connect_timeout == Duration::from_millis(1)
        }),
        ("http_connect_timeout_ms = 4000", |s| {
            s.http.connect_timeout == Duration::from_millis(4000)
        }),
        ("cache_ttl = 60", |s| {
            s.http.cache_ttl == Duration::from_secs(60)
        }),
        ("cache_ttl = 0", |s| s.http.cache_ttl.is_zero()),
    ];
    for (line, check) in table {
        let s = load_text(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(check(&s), "{line}");
    }
}

#[test]
fn bad_values_per_key() {
    let table: &[(&str, &str)] = &[
        (
            "protocol = prosody",
            "F:1: invalid protocol 'prosody': expected auto",
        ),
        (
            "backend = ldap",
            "F:1: invalid backend 'ldap': expected file or http",
        ),
        (
            "users_file = users",
            "F:1: invalid users_file 'users': expected an absolute path",
        ),
        (
            "users_file =",
            "F:1: invalid users_file '': expected an absolute path",
        ),
        (
            "allow_writes = maybe",
            "F:1: invalid allow_writes 'maybe': expected true or false",
        ),
        (
            "hash_scheme = md5",
            "F:1: invalid hash_scheme 'md5': expected sha512-crypt",
        ),
        (
            "hash_rounds = 999",
            "F:1: invalid hash_rounds '999': expected a whole number from 1000 to 1000000",
        ),
        (
            "hash_rounds = 1000001",
            "F:1: invalid hash_rounds '1000001'",
        ),
        ("hash_rounds = 5k", "F:1: invalid hash_rounds '5k'"),
        (
            "read_timeout = -1",
            "F:1: invalid read_timeout '-1': expected seconds",
        ),
        ("read_timeout = 1e3", "F:1: invalid read_timeout '1e3'"),
        (
            "read_timeout = 0.0001",
            "F:1: invalid read_timeout '0.0001'",
        ),
        (
            "deadline_ms = 99",
            "F:1: invalid deadline_ms '99': expected a whole number from 100 to 60000",
        ),
        ("deadline_ms = 60001", "F:1: invalid deadline_ms '60001'"),
        (
            "log = journal",
            "F:1: invalid log 'journal': expected syslog, stderr, none or file:/absolute/path",
        ),
        ("log = file:x.log", "F:1: invalid log 'file:x.log'"),
        (
            "log_level = trace",
            "F:1: invalid log_level 'trace': expected error, warn, info or debug",
        ),
        (
            "http_url = ftp://x/",
            "F:1: invalid http_url: expected a URL starting with http:// or https://",
        ),
        (
            "http_url = https://",
            "F:1: invalid http_url: URL has no host",
        ),
        (
            "http_url = https://u:pw@h/",
            "F:1: invalid http_url: URL must not contain credentials",
        ),
        (
            "http_check_method = put",
            "F:1: invalid http_check_method 'put': expected get or post",
        ),
        (
            "http_auth_credentials = nocolon",
            "F:1: invalid http_auth_credentials: expected user:password",
        ),
        (
            "http_auth_credentials = :pw",
            "F:1: invalid http_auth_credentials: expected user:password",
        ),
        (
            "http_auth_credentials_file = creds",
            "F:1: invalid http_auth_credentials_file 'creds': expected an absolute path",
        ),
        (
            "http_ca_file = ca.pem",
            "F:1: invalid http_ca_file 'ca.pem'",
        ),
        (
            "http_client_cert = c.pem",
            "F:1: invalid http_client_cert 'c.pem'",
        ),
        (
            "http_client_key = k.pem",
            "F:1: invalid http_client_key 'k.pem'",
        ),
        (
            "http_proxy = socks5://p:1080",
            "F:1: invalid http_proxy: expected a URL starting with http://",
        ),
        (
            "http_connect_timeout_ms = 0",
            "F:1: invalid http_connect_timeout_ms '0'",
        ),
        (
            "cache_ttl = forever",
            "F:1: invalid cache_ttl 'forever': expected seconds",
        ),
        ("cache_ttl = 604801", "F:1: invalid cache_ttl '604801'"),
        ("cache_grace = -5", "F:1: invalid cache_grace '-5'"),
    ];
    for (line, want) in table {
        let got = err_of(line);
        assert!(
            got.starts_with(want),
            "{line}: got {got:?}, want prefix {want:?}"
        );
        assert!(!got.contains('\n'), "{line}: one line: {got:?}");
    }
}

#[test]
fn every_key_is_covered_by_the_tables() {
    // Guards the two tables above: a new key must get good and bad cases.
    let src = include_str!("tests.rs");
    for k in KEYS {
        if k.name == "http_auth_credentials_file" {
            continue; // needs a real file: see `credentials_file`
        }
        assert!(
            src.matches(&format!("\"{} =", k.name)).count() >= 2,
            "no good and bad test lines for {}",
            k.name
        );
    }
}

#[test]
fn cross_key_rules() {
    let table: &[(&str, &str)] = &[
        ("cache_grace = 30", "F:1: cache_grace needs cache_ttl"),
        (
            "http_client_cert = /c.pem",
            "F:1: http_client_cert needs http_client_key",
        ),
        (
            "http_client_key = /k.pem",
            "F:1: http_client_key needs http_client_cert",
        ),
        (
            "deadline_ms = 1000\nhttp_connect_timeout_ms = 1500",
            "F:2: http_connect_timeout_ms 1500 is above deadline_ms 1000",
        ),
        (
            "http_auth_credentials = a:b\nhttp_auth_credentials_file = /nonexistent",
            "F:2: http_auth_credentials and http_auth_credentials_file are mutually exclusive",
        ),
    ];
    for (text, want) in table {
        let got = err_of(text);
        assert!(got.starts_with(want), "{text}: got {got:?}");
    }
    // Both cert and key, grace with ttl: fine.
    let s = load_text(
        "http_client_cert = /c.pem\nhttp_client_key = /k.pem\ncache_ttl = 60\ncache_grace = 600",
    )
    .expect("valid");
    assert_eq!(s.http.cache_grace, Duration::from_secs(600));
    // The default connect timeout follows a shorter deadline instead of failing.
    let s = load_text("deadline_ms = 500").expect("valid");
    assert_eq!(s.http.connect_timeout, Duration::from_millis(500));
}

#[cfg(feature = "http")]
#[test]
fn http_backend_needs_url() {
    assert!(err_of("backend = http").starts_with("F:1: backend = http needs http_url"));
    let s = load_text("backend = http\nhttp_url = http://127.0.0.1:5280/auth").expect("valid");
    assert_eq!(s.backend, BackendKind::Http);
}

#[cfg(not(feature = "http"))]
#[test]
fn http_backend_missing_from_build() {
    assert!(err_of("backend = http").contains("lacks the 'http' cargo feature"));
}

#[cfg(all(feature = "http", not(feature = "tls")))]
#[test]
fn https_needs_tls() {
    let e = err_of("backend = http\nhttp_url = https://h/");
    assert!(e.contains("'tls' cargo feature"), "{e}");
}

#[test]
fn file_syntax() {
    let text = "\
# a comment
   # an indented comment

  protocol   =   generic  \r
log_level=debug
http_url = \"https://h/a#b\"
users_file = \"/etc/x # not a comment\"
";
    let s = load_text(text).expect("valid");
    assert_eq!(s.protocol, ProtocolChoice::Generic);
    assert_eq!(s.log_level, Level::Debug);
    assert_eq!(s.http.url.as_deref(), Some("https://h/a#b"));
    assert_eq!(s.users_file, Path::new("/etc/x # not a comment"));
}

#[test]
fn syntax_errors_name_file_and_line() {
    let table: &[(&str, &str)] = &[
        (
            "\n\nuser_file = /x",
            "F:3: unknown key 'user_file' (did you mean 'users_file'?)",
        ),
        (
            "users-file = /x",
            "F:1: unknown key 'users-file' (did you mean 'users_file'?)",
        ),
        ("colour = red", "F:1: unknown key 'colour'"),
        ("protocol", "F:1: expected 'key = value'"),
        ("= x", "F:1: missing key before '='"),
        ("Protocol = auto", "F:1: invalid key"),
        (
            "log = syslog\n# x\nlog = stderr",
            "F:3: duplicate key 'log' (first set on line 1)",
        ),
        ("log = \"syslog", "F:1: log: unbalanced double quote"),
        (
            "deadline_ms = 3000 # below 5 s",
            "F:1: invalid deadline_ms '3000 # below 5 s': expected a whole number from 100 to 60000 (comments must be on a line of their own)",
        ),
    ];
    for (text, want) in table {
        let got = err_of(text);
        assert!(got.starts_with(want), "{text:?}: got {got:?}");
    }
    let d = TempDir::new();
    let p = d.0.join("bin.conf");
    fs::write(&p, b"log = syslog\nlog_level = \xff\n").expect("write");
    let e = load(&inv(Some(&p), &[]), None).expect_err("invalid utf-8");
    assert_eq!(
        e.to_string(),
        format!("{}:2: line is not valid UTF-8", p.display())
    );
}

#[test]
fn missing_default_file_is_fine_missing_named_file_is_not() {
    // The default path (/etc/xmpp-extauth.conf) is normally absent on a build machine;
    // only check the no-file outcome when it is.
    if !Path::new(DEFAULT_CONFIG).exists() {
        let s = load(&inv(None, &[]), None).expect("defaults");
        assert_eq!(s.config_file, None);
        assert_eq!(
            Settings {
                warnings: Vec::new(),
                ..s
            },
            Settings::default()
        );
    }
    let d = TempDir::new();
    let missing = d.0.join("nope.conf");
    let e = load(&inv(Some(&missing), &[]), None).expect_err("named by --config");
    assert_eq!(
        e.to_string(),
        format!("{}: no such file (named by --config)", missing.display())
    );
    let e = load(&inv(None, &[]), Some(missing.clone().into_os_string())).expect_err("env");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: no such file (named by XMPP_EXTAUTH_CONFIG)",
            missing.display()
        )
    );
    let e = load(&inv(Some(&d.0), &[]), None).expect_err("directory");
    assert!(
        e.to_string()
            .ends_with("is a directory, not a config file (named by --config)")
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let d = TempDir::new();
    let p = d.file("x.conf", "log = stderr\n");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).expect("chmod");
    if fs::read(&p).is_ok() {
        eprintln!("SKIPPED unreadable_file_is_an_error: running as root");
        return;
    }
    let e = load(&inv(Some(&p), &[]), None).expect_err("unreadable");
    assert!(
        e.to_string().contains("cannot read: permission denied"),
        "{e}"
    );
}

#[test]
fn precedence_option_over_env_over_default_and_cli_over_file() {
    let d = TempDir::new();
    let a = d.file("a.conf", "log_level = warn\nhash_rounds = 6000\n");
    let b = d.file("b.conf", "log_level = error\n");
    // --config beats the environment.
    let s = load(&inv(Some(&a), &[]), Some(b.clone().into_os_string())).expect("a");
    assert_eq!(s.config_file.as_deref(), Some(a.as_path()));
    assert_eq!(s.log_level, Level::Warn);
    // The environment beats the default; empty counts as unset.
    let s = load(&inv(None, &[]), Some(b.clone().into_os_string())).expect("b");
    assert_eq!(s.config_file.as_deref(), Some(b.as_path()));
    assert_eq!(s.log_level, Level::Error);
    if !Path::new(DEFAULT_CONFIG).exists() {
        let s = load(&inv(None, &[]), Some(OsString::new())).expect("default");
        assert_eq!(s.config_file, None);
    }
    // Options beat the file; the last of repeated options wins.
    let s = load(
        &inv(
            Some(&a),
            &[
                ("log_level", "debug"),
                ("hash_rounds", "7000"),
                ("hash_rounds", "8000"),
            ],
        ),
        None,
    )
    .expect("overrides");
    assert_eq!(s.log_level, Level::Debug);
    assert_eq!(s.hash_rounds, 8000);
}

#[test]
fn option_errors_name_the_option() {
    let e = load(&inv(None, &[("hash_rounds", "12")]), None).expect_err("bad");
    assert_eq!(
        e.to_string(),
        "--hash-rounds: invalid hash_rounds '12': expected a whole number from 1000 to 1000000"
    );
    let e = load(&inv(None, &[("nope", "1")]), None).expect_err("unknown");
    assert_eq!(e.to_string(), "--nope: unknown option");
    let e = load(&inv(None, &[("http_auth_credentials", "u:hunter2")]), None).expect_err("secret");
    assert!(
        e.to_string()
            .starts_with("--http-auth-credentials: not accepted on the command line")
    );
    assert!(!e.to_string().contains("hunter2"));
    // A cross-key error caused by an option blames the option.
    let e = load(&inv(None, &[("cache_grace", "5")]), None).expect_err("grace");
    assert_eq!(
        e.to_string(),
        "--cache-grace: cache_grace needs cache_ttl (the cache is off while cache_ttl = 0)"
    );
}

#[test]
fn secrets_never_in_errors_or_effective() {
    for text in [
        "http_auth_credentials = hunter2",
        "http_auth_credentials = \"hunter2",
        "http_auth_credentials = :hunter2",
        "http_url = https://bob:hunter2@h/",
        "http_url = ftp://bob:hunter2@h/",
        "http_proxy = socks5://bob:hunter2@h/",
        "http_auth_credentials: bob:hunter2",
        "bob:hunter2",
    ] {
        let e = err_of(text);
        assert!(!e.contains("hunter2"), "{text}: {e}");
    }
    let s = load_text(
        "http_auth_credentials = bob:hunter2\nhttp_proxy = http://carol:hunter2@proxy:3128/\n",
    )
    .expect("valid");
    let eff = s.effective();
    let all = format!("{eff:?} {s:?}");
    assert!(!all.contains("hunter2"), "{all}");
    let get = |k: &str| eff.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    assert_eq!(get("http_auth_credentials").as_deref(), Some("<set>"));
    assert_eq!(
        get("http_proxy").as_deref(),
        Some("http://carol:<redacted>@proxy:3128/")
    );
    let s = load_text("").expect("valid");
    assert_eq!(
        s.effective()
            .iter()
            .find(|(n, _)| *n == "http_auth_credentials")
            .map(|(_, v)| v.as_str()),
        Some("<unset>")
    );
}

#[test]
fn effective_lists_every_key_and_round_trips() {
    let text = "protocol = ejabberd\nhash_rounds = 6000\nread_timeout = 2.5\nlog = file:/var/log/x\ncache_ttl = 30\ncache_grace = 90\nhttp_url = http://h/\n";
    let s = load_text(text).expect("valid");
    let eff = s.effective();
    let names: Vec<&str> = eff.iter().map(|(k, _)| *k).collect();
    let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names, keys);
    // Printing `key = value` and reading it back gives the same settings (the secret
    // placeholder aside, which is unset here and left out).
    let printed: String = eff
        .iter()
        .filter(|(k, _)| *k != "http_auth_credentials")
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect();
    let again = load_text(&printed).expect("round trip");
    assert_eq!(
        Settings {
            config_file: None,
            ..again
        },
        Settings {
            config_file: None,
            ..s
        }
    );
}

#[test]
fn defaults_match_the_key_table() {
    let s = Settings::default();
    for (k, v) in s.effective() {
        let key = find_key(k).expect("listed");
        let shown = if k == "http_auth_credentials" {
            ""
        } else {
            v.as_str()
        };
        assert_eq!(key.default, shown, "default of {k}");
    }
}

#[test]
fn credentials_file() {
    let d = TempDir::new();
    let good = d.file("creds", "api:pa:ss word\r\nignored second line\n");
    let conf = d.file(
        "x.conf",
        &format!("http_auth_credentials_file = {}\n", good.display()),
    );
    let s = load(&inv(Some(&conf), &[]), None).expect("valid");
    assert_eq!(
        s.http.auth_credentials,
        Some(Secret("api:pa:ss word".into()))
    );
    let eff = s.effective();
    assert!(!format!("{eff:?}").contains("pa:ss"));

    let cases: &[(&str, u32, &str)] = &[
        ("open", 0o644, "is world-readable; run chmod o-r on it"),
        ("nocolon", 0o600, "first line must be user:password"),
        ("empty", 0o600, "first line must be user:password"),
    ];
    for (name, mode, want) in cases {
        let text = if *name == "nocolon" {
            "hunter2\n"
        } else if *name == "empty" {
            ""
        } else {
            "u:hunter2\n"
        };
        let p = d.file(name, text);
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).expect("chmod");
        let conf = d.file(
            "y.conf",
            &format!("\nhttp_auth_credentials_file = {}\n", p.display()),
        );
        let e = load(&inv(Some(&conf), &[]), None)
            .expect_err(name)
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}:2: http_auth_credentials_file {}: {want}",
                conf.display(),
                p.display()
            )
        );
        assert!(!e.contains("hunter2"));
    }
    let missing = d.0.join("missing");
    let e = load(
        &inv(
            None,
            &[("http_auth_credentials_file", &missing.display().to_string())],
        ),
        None,
    )
    .expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("--http-auth-credentials-file: http_auth_credentials_file")
    );
    assert!(e.to_string().ends_with(": no such file"));
}

#[test]
fn warnings() {
    let d = TempDir::new();
    let p = d.file("x.conf", "http_auth_credentials = u:hunter2\n");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
    let s = load(&inv(Some(&p), &[]), None).expect("valid");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("world-readable but holds http_auth_credentials"));
    assert!(!s.warnings[0].contains("hunter2"));
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(
        load(&inv(Some(&p), &[]), None)
            .expect("valid")
            .warnings
            .is_empty()
    );

    let s = load_text("deadline_ms = 10000").expect("valid");
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].contains("Prosody"));
    assert!(
        load_text("deadline_ms = 4999")
            .expect("valid")
            .warnings
            .is_empty()
    );
}
