//! argv -> [`Invocation`] with lexopt, plus the help and version texts.
//!
//! Every config key is also a long option (`users_file` <-> `--users-file`); such options
//! are collected as [`Override`]s and validated by `config` exactly like file lines, so
//! the two can never disagree. Options may come before or after the subcommand.
//! A password is never taken from argv (`/proc/PID/cmdline` is world-readable), and no
//! error message here repeats a stray positional argument, which might be one.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::config::{KEYS, find_key, value};
use crate::hash::{MAX_ROUNDS, MIN_ROUNDS, Scheme};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// No subcommand: serve the extauth protocol on stdin/stdout.
    Serve,
    /// Run the built-in example conversation against an embedded users file.
    Demo,
    /// Print a hash of the password read from the terminal or stdin.
    Hash {
        scheme: Option<Scheme>,
        rounds: Option<u32>,
    },
    User(UserCommand),
    Check {
        kind: CheckKind,
        jid: String,
    },
    /// Validate the config and print the effective settings.
    ConfigCheck,
    Help,
    Version,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserCommand {
    Add(String),
    Passwd(String),
    Del(String),
    List,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    Auth,
    IsUser,
}

/// A config key given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The config key (`users_file`).
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    /// `--config PATH`.
    pub config: Option<PathBuf>,
    /// Config keys given as options, in order.
    pub overrides: Vec<Override>,
}

/// A command-line mistake. `Display` is one line:
/// `xmpp-extauth: <problem>; try 'xmpp-extauth --help'`. The caller prints it to stderr
/// and exits 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(String);

impl UsageError {
    /// The problem alone, without program name or hint.
    pub fn problem(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xmpp-extauth: {}; try 'xmpp-extauth --help'", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Every usage error is one line: control characters from argv (an unknown option
/// `$'--x\nforged'`) are escaped, so they cannot forge a second line.
fn usage(s: impl Into<String>) -> UsageError {
    let s: String = s.into();
    if !s.chars().any(char::is_control) {
        return UsageError(s);
    }
    UsageError(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Long options that are not config keys.
pub const OWN_LONG_OPTIONS: &[&str] = &["help", "version", "config", "scheme", "rounds"];

/// Every long option the parser accepts (without dashes): [`OWN_LONG_OPTIONS`] plus one
/// per config key that may appear on argv. Tests check the help text and the man page
/// against this list.
pub fn long_options() -> Vec<String> {
    OWN_LONG_OPTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(KEYS.iter().filter(|k| k.on_argv).map(|k| k.option()))
        .collect()
}

/// Subcommand words, for "did you mean".
const COMMANDS: &[&str] = &["demo", "hash", "user", "check", "config", "help"];

/// Parses the arguments after argv[0].
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Invocation, UsageError> {
    use lexopt::Arg::{Long, Short, Value};

    let mut p = lexopt::Parser::from_args(args);
    let mut help = false;
    let mut version = false;
    let mut config: Option<PathBuf> = None;
    let mut scheme: Option<(Scheme, &'static str)> = None;
    let mut rounds: Option<(u32, &'static str)> = None;
    let mut overrides = Vec::new();
    let mut words: Vec<String> = Vec::new();

    while let Some(arg) = p.next().map_err(lexopt_error)? {
        match arg {
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => version = true,
            Short('c') | Long("config") => {
                let v = p.value().map_err(lexopt_error)?;
                if v.is_empty() {
                    return Err(usage("--config: empty path"));
                }
                config = Some(PathBuf::from(v));
            }
            Long("scheme") => {
                let v = utf8(p.value().map_err(lexopt_error)?, "--scheme")?;
                let s = Scheme::from_name(&v).ok_or_else(|| {
                    usage(format!(
                        "--scheme: invalid value '{v}': expected sha512-crypt or sha256-crypt"
                    ))
                })?;
                scheme = Some((s, "--scheme"));
            }
            Long("rounds") => {
                let v = utf8(p.value().map_err(lexopt_error)?, "--rounds")?;
                let n = value::integer(&v, MIN_ROUNDS.into(), MAX_ROUNDS.into())
                    .map_err(|e| usage(format!("--rounds: invalid value '{v}': {e}")))?;
                rounds = Some((n as u32, "--rounds"));
            }
            Long("http-auth-credentials") => {
                return Err(usage(
                    "--http-auth-credentials is not accepted on the command line (any user can \
                     read a process's arguments); set http_auth_credentials_file in the config file",
                ));
            }
            Long("allow-writes") => {
                // A bare flag means true; `--allow-writes=false` is accepted too.
                let v = match p.optional_value() {
                    Some(v) => utf8(v, "--allow-writes")?,
                    None => "true".to_string(),
                };
                overrides.push(Override {
                    key: "allow_writes".into(),
                    value: v,
                });
            }
            Long(name) => {
                let key = name.replace('-', "_");
                match find_key(&key) {
                    Some(k) if k.on_argv && !name.contains('_') => {
                        let opt = format!("--{name}");
                        let v = utf8(p.value().map_err(lexopt_error)?, &opt)?;
                        overrides.push(Override {
                            key: k.name.to_string(),
                            value: v,
                        });
                    }
                    _ => {
                        let all = long_options();
                        let hint = value::closest(name, all.iter().map(String::as_str))
                            .map(|s| format!(" (did you mean '--{s}'?)"))
                            .unwrap_or_default();
                        return Err(usage(format!("unknown option '--{name}'{hint}")));
                    }
                }
            }
            Short(c) => return Err(usage(format!("unknown option '-{c}'"))),
            Value(v) => {
                // Checked for UTF-8 without quoting it: a stray argument may be a password.
                let s = v
                    .into_string()
                    .map_err(|_| usage("an argument is not valid UTF-8"))?;
                words.push(s);
            }
        }
    }

    let command = if help {
        Command::Help
    } else if version {
        Command::Version
    } else {
        command(&words, scheme.map(|s| s.0), rounds.map(|r| r.0))?
    };
    if !matches!(
        command,
        Command::Hash { .. } | Command::Help | Command::Version
    ) {
        if let Some(opt) = scheme.map(|s| s.1).or(rounds.map(|r| r.1)) {
            return Err(usage(format!("{opt} is only valid with the hash command")));
        }
    }
    Ok(Invocation {
        command,
        config,
        overrides,
    })
}

/// Positional words -> command.
fn command(
    words: &[String],
    scheme: Option<Scheme>,
    rounds: Option<u32>,
) -> Result<Command, UsageError> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let extra = |cmd: &str| {
        usage(format!(
            "{cmd}: too many arguments (passwords are read from the terminal or stdin, never \
             from the command line)"
        ))
    };
    let cmd = match w.as_slice() {
        [] => Command::Serve,
        ["help", ..] if w.len() == 1 => Command::Help,
        ["demo"] => Command::Demo,
        ["hash"] => Command::Hash { scheme, rounds },
        ["user", "list"] => Command::User(UserCommand::List),
        ["user", sub @ ("add" | "passwd" | "del"), rest @ ..] => {
            let label = format!("user {sub}");
            let jid = one_jid(rest, &label)
                .map_err(|e| if rest.len() > 1 { extra(&label) } else { e })?;
            Command::User(match *sub {
                "add" => UserCommand::Add(jid),
                "passwd" => UserCommand::Passwd(jid),
                _ => UserCommand::Del(jid),
            })
        }
        ["check", sub @ ("auth" | "isuser"), rest @ ..] => {
            let label = format!("check {sub}");
            let jid = one_jid(rest, &label)
                .map_err(|e| if rest.len() > 1 { extra(&label) } else { e })?;
            let kind = if *sub == "auth" {
                CheckKind::Auth
            } else {
                CheckKind::IsUser
            };
            Command::Check { kind, jid }
        }
        ["config", "check"] => Command::ConfigCheck,
        ["user"] => return Err(usage("user: expected add, passwd, del or list")),
        ["user", "list", ..] => return Err(extra("user list")),
        ["user", sub, ..] => {
            return Err(usage(format!(
                "user: unknown subcommand '{}': expected add, passwd, del or list",
                shown(sub)
            )));
        }
        ["check"] => return Err(usage("check: expected auth or isuser")),
        ["check", sub, ..] => {
            return Err(usage(format!(
                "check: unknown subcommand '{}': expected auth or isuser",
                shown(sub)
            )));
        }
        ["config"] => return Err(usage("config: expected check")),
        ["config", "check", ..] => return Err(extra("config check")),
        ["config", sub, ..] => {
            return Err(usage(format!(
                "config: unknown subcommand '{}': expected check",
                shown(sub)
            )));
        }
        [c @ ("demo" | "hash" | "help"), ..] => return Err(extra(c)),
        [c, ..] => {
            let hint = value::closest(c, COMMANDS.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(usage(format!("unknown command '{}'{hint}", shown(c))));
        }
    };
    Ok(cmd)
}

/// Exactly one `USER@HOST` argument: non-empty local part and domain, no `:`, no spaces
/// or control characters (the users file and the generic protocol use `:` as separator).
fn one_jid(rest: &[&str], label: &str) -> Result<String, UsageError> {
    let [jid] = rest else {
        return Err(usage(format!("{label}: expected USER@HOST")));
    };
    let ok = match jid.split_once('@') {
        Some((u, h)) => {
            !u.is_empty()
                && !h.is_empty()
                && !h.contains('@')
                && !jid
                    .chars()
                    .any(|c| c == ':' || c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !ok {
        return Err(usage(format!(
            "{label}: '{}' is not USER@HOST (no spaces or ':')",
            shown(jid)
        )));
    }
    Ok(jid.to_string())
}

/// A command word for an error message: short and free of control characters.
fn shown(s: &str) -> String {
    let t: String = s.chars().take(40).collect();
    t.escape_debug().to_string()
}

fn utf8(v: OsString, opt: &str) -> Result<String, UsageError> {
    v.into_string()
        .map_err(|_| usage(format!("{opt}: value is not valid UTF-8")))
}

/// Our own wording for lexopt's errors: they may quote values, and values are not echoed.
fn lexopt_error(e: lexopt::Error) -> UsageError {
    match e {
        lexopt::Error::MissingValue {
            option: Some(opt), ..
        } => usage(format!("{opt}: missing value")),
        lexopt::Error::UnexpectedValue { option, .. } => {
            usage(format!("{option} does not take a value"))
        }
        lexopt::Error::UnexpectedOption(opt) => usage(format!("unknown option '{opt}'")),
        lexopt::Error::NonUnicodeValue(_) => usage("an argument is not valid UTF-8"),
        _ => usage("cannot parse the command line"),
    }
}

/// `--version` output: name, version, cargo features built in.
pub fn version_text() -> String {
    let feat = |on: bool, name: &str| format!("{}{name}", if on { '+' } else { '-' });
    format!(
        "xmpp-extauth {}\nfeatures: {} {}\n",
        env!("CARGO_PKG_VERSION"),
        feat(cfg!(feature = "http"), "http"),
        feat(cfg!(feature = "tls"), "tls"),
    )
}

/// `--help` output. Kept in step with the option table and the config keys by tests.
pub const HELP: &str = "\
xmpp-extauth - external authentication helper for Prosody and ejabberd

USAGE
    xmpp-extauth [OPTIONS]                     serve the extauth protocol on stdin/stdout
    xmpp-extauth demo                          run a built-in example conversation
    xmpp-extauth hash [--scheme S] [--rounds N]
    xmpp-extauth user add|passwd|del USER@HOST
    xmpp-extauth user list
    xmpp-extauth check auth|isuser USER@HOST
    xmpp-extauth config check
    xmpp-extauth -h|--help|help
    xmpp-extauth -V|--version

With no command it serves: this is what the XMPP server runs. Options may be given
before or after the command. Passwords are never taken from the command line: commands
that need one read it from the terminal without echo, or one line from stdin.

COMMANDS
    demo              answer a few example requests against an embedded users file
    hash              read a password, print its hash (for the users file)
    user add          add USER@HOST to the users file (password read as for hash)
    user passwd       change the password of USER@HOST
    user del          remove USER@HOST
    user list         list the users in the users file
    check auth        read a password, check it through the configured backend
    check isuser      check that USER@HOST exists
                      check: exit 0 yes, 1 no, 2 error; the answer is printed in words
    config check      validate the config and print the effective settings

OPTIONS
    -c, --config PATH        config file (default /etc/xmpp-extauth.conf)
    -h, --help               print this help
    -V, --version            print version and built-in features
        --scheme S           hash: sha512-crypt or sha256-crypt (default: hash_scheme)
        --rounds N           hash: rounds, 1000 to 1000000 (default: hash_rounds)

  Every config key is also an option, '_' written '-'; it overrides the file:
        --protocol P               auto|generic|ejabberd (default auto)
        --backend B                file|http (default file)
        --users-file PATH          default /etc/xmpp-extauth/users
        --allow-writes[=BOOL]      allow setpass/tryregister/removeuser (default false)
        --hash-scheme S            sha512-crypt|sha256-crypt (default sha512-crypt)
        --hash-rounds N            1000 to 1000000 (default 5000)
        --read-timeout SECONDS     exit when idle this long; 0 = never (default 0)
        --deadline-ms MS           per-request deadline, 100 to 60000 (default 4000)
        --log TARGET               syslog|stderr|none|file:/path (default syslog)
        --log-level LEVEL          error|warn|info|debug (default info)
        --http-url URL             mod_auth_http base URL (required for backend http)
        --http-check-method M      get|post (default get)
        --http-auth-credentials-file PATH
                                   first line user:password; not world-readable
        --http-ca-file PATH        PEM CA bundle (default: system bundle)
        --http-client-cert PATH    PEM client certificate (needs --http-client-key)
        --http-client-key PATH     PEM client key
        --http-proxy URL           proxy (default: none; environment ignored)
        --http-connect-timeout-ms MS
                                   1 to deadline_ms (default 2000)
        --cache-ttl SECONDS        remember HTTP successes; 0 = off (default 0)
        --cache-grace SECONDS      use them while the API is down (default 0)
  http_auth_credentials exists only in the config file: secrets never go on argv.

CONFIGURATION
    /etc/xmpp-extauth.conf, or the file named by --config, or else by the
    XMPP_EXTAUTH_CONFIG environment variable. Lines are 'key = value'; lines starting
    with '#' are comments. A missing default file means all defaults; a missing named
    file is an error. Precedence: defaults < config file < command-line options.
    Unknown keys and bad values stop with 'FILE:LINE: problem' and exit status 2.
    Keep deadline_ms below the server's timeout (Prosody 5 s, ejabberd 30 s).
    See xmpp-extauth(8) and 'xmpp-extauth config check'.

SERVER SETUP
    Prosody:   authentication = \"external_insecure\"
               external_auth_protocol = \"generic\"
               external_auth_command = \"/usr/bin/xmpp-extauth\"
    ejabberd:  auth_method: external
               extauth_program: \"/usr/bin/xmpp-extauth\"
               auth_use_cache: false    (so password changes apply at once)

LOGS
    To syslog (facility authpriv, tag xmpp-extauth) by default, or as set by 'log'.
    Never to stdout, and never to stderr while serving on a terminal (Prosody).
    Passwords are never logged.

EXIT STATUS
    0  normal end (end of input, --help, --version, closed output)
    1  runtime failure
    2  usage or configuration error
    check: 0 yes, 1 no, 2 error
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn ok(s: &[&str]) -> Invocation {
        parse(args(s)).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &[&str]) -> String {
        match parse(args(s)) {
            Ok(i) => panic!("{s:?} parsed: {i:?}"),
            Err(e) => e.problem().to_string(),
        }
    }

    fn ov(k: &str, v: &str) -> Override {
        Override {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn every_subcommand() {
        let table: &[(&[&str], Command)] = &[
            (&[], Command::Serve),
            (&["demo"], Command::Demo),
            (
                &["hash"],
                Command::Hash {
                    scheme: None,
                    rounds: None,
                },
            ),
            (
                &["hash", "--scheme", "sha256-crypt", "--rounds=20000"],
                Command::Hash {
                    scheme: Some(Scheme::Sha256Crypt),
                    rounds: Some(20000),
                },
            ),
            (
                &["--rounds", "1000", "hash"],
                Command::Hash {
                    scheme: None,
                    rounds: Some(1000),
                },
            ),
            (
                &["user", "add", "alice@example.org"],
                Command::User(UserCommand::Add("alice@example.org".into())),
            ),
            (
                &["user", "passwd", "alice@example.org"],
                Command::User(UserCommand::Passwd("alice@example.org".into())),
            ),
            (
                &["user", "del", "alice@example.org"],
                Command::User(UserCommand::Del("alice@example.org".into())),
            ),
            (&["user", "list"], Command::User(UserCommand::List)),
            (
                &["check", "auth", "bob@h"],
                Command::Check {
                    kind: CheckKind::Auth,
                    jid: "bob@h".into(),
                },
            ),
            (
                &["check", "isuser", "bob@h"],
                Command::Check {
                    kind: CheckKind::IsUser,
                    jid: "bob@h".into(),
                },
            ),
            (&["config", "check"], Command::ConfigCheck),
            (&["help"], Command::Help),
            (&["-h"], Command::Help),
            (&["--help"], Command::Help),
            (&["user", "add", "--help"], Command::Help),
            (&["-V"], Command::Version),
            (&["--version"], Command::Version),
        ];
        for (a, want) in table {
            let i = ok(a);
            assert_eq!(&i.command, want, "{a:?}");
            assert!(i.overrides.is_empty() && i.config.is_none(), "{a:?}");
        }
    }

    #[test]
    fn options_before_and_after_the_subcommand() {
        let want = Invocation {
            command: Command::User(UserCommand::List),
            config: Some(PathBuf::from("/tmp/x.conf")),
            overrides: vec![ov("users_file", "/srv/u"), ov("log_level", "debug")],
        };
        let forms: &[&[&str]] = &[
            &[
                "-c",
                "/tmp/x.conf",
                "--users-file",
                "/srv/u",
                "--log-level=debug",
                "user",
                "list",
            ],
            &[
                "user",
                "list",
                "--config=/tmp/x.conf",
                "--users-file=/srv/u",
                "--log-level",
                "debug",
            ],
            &[
                "user",
                "-c/tmp/x.conf",
                "--users-file",
                "/srv/u",
                "list",
                "--log-level",
                "debug",
            ],
        ];
        for f in forms {
            assert_eq!(ok(f), want, "{f:?}");
        }
    }

    #[test]
    fn every_config_key_is_an_option() {
        for k in KEYS.iter().filter(|k| k.on_argv) {
            // `=` form: `--allow-writes` alone is a flag.
            let opt = format!("--{}=v", k.option());
            let i = ok(&[&opt]);
            assert_eq!(i.overrides, vec![ov(k.name, "v")], "{opt}");
            assert_eq!(i.command, Command::Serve);
        }
    }

    #[test]
    fn allow_writes_flag() {
        assert_eq!(
            ok(&["--allow-writes"]).overrides,
            vec![ov("allow_writes", "true")]
        );
        assert_eq!(
            ok(&["--allow-writes=false"]).overrides,
            vec![ov("allow_writes", "false")]
        );
        // A bare flag does not swallow the next word.
        let i = ok(&["--allow-writes", "user", "list"]);
        assert_eq!(i.command, Command::User(UserCommand::List));
    }

    #[test]
    fn credentials_never_on_argv() {
        for a in [
            &["--http-auth-credentials", "u:hunter2"][..],
            &["--http-auth-credentials=u:hunter2"],
            &["config", "check", "--http-auth-credentials", "u:hunter2"],
        ] {
            let e = err(a);
            assert!(
                e.starts_with("--http-auth-credentials is not accepted"),
                "{e}"
            );
            assert!(!e.contains("hunter2"));
        }
    }

    #[test]
    fn passwords_as_extra_arguments_are_refused_unechoed() {
        for a in [
            &["check", "auth", "bob@h", "hunter2"][..],
            &["user", "add", "bob@h", "hunter2"],
            &["user", "passwd", "bob@h", "hunter2"],
            &["hash", "hunter2"],
            &["user", "list", "hunter2"],
            &["config", "check", "hunter2"],
            &["demo", "hunter2"],
        ] {
            let e = err(a);
            assert!(e.contains("too many arguments"), "{a:?}: {e}");
            assert!(!e.contains("hunter2"), "{a:?}: {e}");
        }
        // Options with values never quote them back either.
        let e = err(&["--frobnicate=hunter2"]);
        assert!(!e.contains("hunter2"), "{e}");
        let e = err(&["--help=hunter2"]);
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn usage_errors() {
        let table: &[(&[&str], &str)] = &[
            (
                &["--users_file", "/x"],
                "unknown option '--users_file' (did you mean '--users-file'?)",
            ),
            (
                &["--hash-round", "9"],
                "unknown option '--hash-round' (did you mean '--hash-rounds'?)",
            ),
            (&["-x"], "unknown option '-x'"),
            (&["serve"], "unknown command 'serve'"),
            (
                &["chek", "auth", "a@b"],
                "unknown command 'chek' (did you mean 'check'?)",
            ),
            (&["user"], "user: expected add, passwd, del or list"),
            (&["user", "mod", "a@b"], "user: unknown subcommand 'mod'"),
            (&["user", "add"], "user add: expected USER@HOST"),
            (
                &["user", "add", "alice"],
                "user add: 'alice' is not USER@HOST",
            ),
            (
                &["check", "auth", "@h"],
                "check auth: '@h' is not USER@HOST",
            ),
            (
                &["check", "auth", "a@"],
                "check auth: 'a@' is not USER@HOST",
            ),
            (
                &["check", "auth", "a:b@h"],
                "check auth: 'a:b@h' is not USER@HOST",
            ),
            (
                &["check", "isuser", "a@b@c"],
                "check isuser: 'a@b@c' is not USER@HOST",
            ),
            (&["check"], "check: expected auth or isuser"),
            (
                &["check", "pass", "a@b"],
                "check: unknown subcommand 'pass'",
            ),
            (&["config"], "config: expected check"),
            (&["config", "show"], "config: unknown subcommand 'show'"),
            (&["--config"], "--config: missing value"),
            (&["--config="], "--config: empty path"),
            (&["--log"], "--log: missing value"),
            (&["--version=1"], "--version does not take a value"),
            (
                &["hash", "--scheme", "md5"],
                "--scheme: invalid value 'md5'",
            ),
            (&["hash", "--rounds", "10"], "--rounds: invalid value '10'"),
            (
                &["--scheme", "sha256-crypt"],
                "--scheme is only valid with the hash command",
            ),
            (
                &["user", "list", "--rounds", "5000"],
                "--rounds is only valid with the hash command",
            ),
        ];
        for (a, want) in table {
            let e = err(a);
            assert!(e.starts_with(want), "{a:?}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn usage_error_display_is_one_line_with_hint() {
        let e = parse(args(&["-x"])).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "xmpp-extauth: unknown option '-x'; try 'xmpp-extauth --help'"
        );
    }

    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'a', 0xff, b'@', b'h']);
        let e = parse(vec![
            OsString::from("check"),
            OsString::from("auth"),
            bad.clone(),
        ])
        .expect_err("bad");
        assert_eq!(e.problem(), "an argument is not valid UTF-8");
        let e = parse(vec![OsString::from("--log"), bad]).expect_err("bad");
        assert_eq!(e.problem(), "--log: value is not valid UTF-8");
        // A non-UTF-8 config path is fine: paths are bytes.
        let p = OsString::from_vec(vec![b'/', 0xff]);
        let i = parse(vec![OsString::from("-c"), p.clone()]).expect("path");
        assert_eq!(i.config, Some(PathBuf::from(p)));
    }

    #[test]
    fn help_mentions_every_option_and_key() {
        for o in long_options() {
            assert!(HELP.contains(&format!("--{o}")), "--{o} missing from HELP");
        }
        for k in KEYS {
            assert!(
                HELP.contains(&format!("--{}", k.option())) || HELP.contains(k.name),
                "{} missing from HELP",
                k.name
            );
        }
        assert!(HELP.contains("external_auth_command"));
        assert!(HELP.contains("extauth_program"));
        assert!(HELP.contains(crate::config::DEFAULT_CONFIG));
        assert!(HELP.contains(crate::config::CONFIG_ENV));
        for line in HELP.lines() {
            assert!(line.chars().count() <= 90, "long help line: {line}");
        }
    }

    #[test]
    fn version_names_features() {
        let v = version_text();
        assert!(v.starts_with(&format!("xmpp-extauth {}\n", env!("CARGO_PKG_VERSION"))));
        assert_eq!(v.contains("+http"), cfg!(feature = "http"));
        assert_eq!(v.contains("+tls"), cfg!(feature = "tls"));
    }
}
