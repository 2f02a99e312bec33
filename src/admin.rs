//! Admin subcommands: `hash`, `user add|passwd|del|list`, `check auth|isuser`.
//!
//! Each returns the process exit code: 0 ok, 1 runtime failure, 2 usage. Results go to
//! stdout through [`crate::printer`]; errors to stderr as `xmpp-extauth: context: detail`.
//! Passwords are read by [`crate::prompt`] (terminal without echo, or one line of
//! stdin), never taken from argv, and never printed.
//!
//! User writes go through the same locked atomic writer as the server's requests,
//! whatever `allow_writes` says: that flag governs only what the XMPP server may ask.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::backend::file::{self, edit, parse, write};
use crate::cli::{CheckKind, UserCommand};
use crate::config::Settings;
use crate::hash::{self, Scheme};
use crate::log::Shown;
use crate::prompt;
use crate::request::Request;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

fn fail(context: &str, detail: impl std::fmt::Display) {
    eprintln!("xmpp-extauth: {context}: {detail}");
}

/// `xmpp-extauth hash [--scheme S] [--rounds N]`: prints a new hash line for the
/// password read from the terminal (asked twice) or from one line of stdin.
pub fn hash_cmd(settings: &Settings, scheme: Option<Scheme>, rounds: Option<u32>) -> i32 {
    let scheme = scheme.unwrap_or(settings.hash_scheme);
    let rounds = rounds.unwrap_or(settings.hash_rounds);
    if !(hash::MIN_ROUNDS..=hash::MAX_ROUNDS).contains(&rounds) {
        fail(
            "hash",
            format!(
                "rounds {rounds} is outside {}..={}",
                hash::MIN_ROUNDS,
                hash::MAX_ROUNDS
            ),
        );
        return EXIT_USAGE;
    }
    let pw = match prompt::read_password("Password: ", true) {
        Ok(p) => p,
        Err(e) => {
            fail("hash: reading the password", e);
            return EXIT_FAIL;
        }
    };
    match hash::make(scheme, rounds, &pw) {
        Ok(h) => {
            crate::printer::line(&h);
            EXIT_OK
        }
        Err(e) => {
            fail("hash", e);
            EXIT_FAIL
        }
    }
}

/// A name given on the command line: `user@host` (or `user`, a domain-less entry that
/// matches every domain), validated like the loader does and lower-cased.
pub(crate) struct AdminName {
    pub user: Vec<u8>,
    pub domain: Option<Vec<u8>>,
}

impl AdminName {
    pub(crate) fn parse(s: &str) -> Result<AdminName, String> {
        match parse::parse_name(s.as_bytes()) {
            Ok((u, d, _)) => Ok(AdminName {
                user: u.into_owned(),
                domain: d.map(|d| d.into_owned()),
            }),
            Err(why) => Err(format!(
                "invalid name {:?}: {why}",
                Shown(s.as_bytes()).to_string()
            )),
        }
    }

    fn show(&self) -> String {
        let u = String::from_utf8_lossy(&self.user);
        match &self.domain {
            Some(d) => format!("{u}@{}", String::from_utf8_lossy(d)),
            None => u.into_owned(),
        }
    }
}

/// How the commands obtain a password: `(prompt, confirm)`; [`prompt::read_password`]
/// in the binary, a canned answer in tests.
pub type PasswordSource<'a> = &'a mut dyn FnMut(&str, bool) -> std::io::Result<prompt::Password>;

/// `xmpp-extauth user add|passwd|del NAME` and `user list`.
pub fn user_cmd(settings: &Settings, cmd: &UserCommand) -> i32 {
    user_cmd_with(settings, cmd, &mut prompt::read_password)
}

/// [`user_cmd`] with the password taken from `read`.
pub fn user_cmd_with(settings: &Settings, cmd: &UserCommand, read: PasswordSource<'_>) -> i32 {
    let path = settings.users_file.as_path();
    let (verb, name) = match cmd {
        UserCommand::List => return list(path),
        UserCommand::Add(n) => ("user add", n),
        UserCommand::Passwd(n) => ("user passwd", n),
        UserCommand::Del(n) => ("user del", n),
    };
    let name = match AdminName::parse(name) {
        Ok(n) => n,
        Err(e) => {
            fail(verb, e);
            return EXIT_USAGE;
        }
    };
    let dom = name.domain.as_deref();
    let shown = name.show();
    // Say "exists" / "no such user" before asking for a password; re-checked under the lock.
    let current = file::read_for_admin(path).unwrap_or_default();
    let exists = !edit::find(&current, &name.user, dom).is_empty();
    match cmd {
        UserCommand::Add(_) if exists => {
            fail(
                verb,
                format!("{shown} already exists in {}", path.display()),
            );
            return EXIT_FAIL;
        }
        UserCommand::Passwd(_) | UserCommand::Del(_) if !exists => {
            fail(verb, format!("no entry {shown} in {}", path.display()));
            return EXIT_FAIL;
        }
        _ => {}
    }
    let new_hash = match cmd {
        UserCommand::Add(_) | UserCommand::Passwd(_) => {
            let pw = match read("New password: ", true) {
                Ok(p) => p,
                Err(e) => {
                    fail(&format!("{verb}: reading the password"), e);
                    return EXIT_FAIL;
                }
            };
            match hash::make(settings.hash_scheme, settings.hash_rounds, &pw) {
                Ok(h) => Some(h),
                Err(e) => {
                    fail(verb, e);
                    return EXIT_FAIL;
                }
            }
        }
        _ => None,
    };
    let h = new_hash.as_deref().unwrap_or("").as_bytes();
    let add = matches!(cmd, UserCommand::Add(_));
    let result = write::modify(path, file::admin_deadline(), add, |data| {
        let lines = edit::find(data, &name.user, dom);
        match cmd {
            UserCommand::Add(_) if lines.is_empty() => {
                write::Edit::Write(edit::append(data, &name.user, dom, h), Ok(()))
            }
            UserCommand::Add(_) => write::Edit::Keep(Err("already exists")),
            UserCommand::Passwd(_) => match lines.into_iter().next() {
                Some(r) => write::Edit::Write(edit::replace_hash(data, r, h), Ok(())),
                None => write::Edit::Keep(Err("no such entry")),
            },
            _ if lines.is_empty() => write::Edit::Keep(Err("no such entry")),
            _ => write::Edit::Write(edit::remove(data, &lines), Ok(())),
        }
    });
    match result {
        Ok((Ok(()), _)) => {
            eprintln!("xmpp-extauth: {verb}: {shown}: done ({})", path.display());
            EXIT_OK
        }
        Ok((Err(why), _)) => {
            fail(verb, format!("{shown}: {why} in {}", path.display()));
            EXIT_FAIL
        }
        Err(write::WriteError(msg)) => {
            fail(verb, msg);
            EXIT_FAIL
        }
    }
}

/// The scheme of a stored hash, by prefix, for `user list` (display only: whether the
/// hash is usable is decided by `hash::parse`).
pub(crate) fn scheme_label(stored: &[u8]) -> &'static str {
    const PREFIXES: &[(&[u8], &str)] = &[
        (b"$6$", "sha512-crypt"),
        (b"{SHA512-CRYPT}", "sha512-crypt"),
        (b"$5$", "sha256-crypt"),
        (b"{SHA256-CRYPT}", "sha256-crypt"),
        (b"$2a$", "bcrypt"),
        (b"$2b$", "bcrypt"),
        (b"$2y$", "bcrypt"),
        (b"{BLF-CRYPT}", "bcrypt"),
        (b"$argon2", "argon2"),
        (b"$pbkdf2", "pbkdf2"),
        (b"{PBKDF2", "pbkdf2"),
        (b"{PLAIN}", "plain"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| stored.starts_with(p))
        .map_or("unknown", |&(_, n)| n)
}

/// `user list`: one `name scheme` line per entry, never the hash. Problems with lines go
/// to stderr as `PATH:LINE: reason`; entries with a refused hash are listed as `invalid`.
fn list(path: &Path) -> i32 {
    let data = match file::read_for_admin(path) {
        Ok(d) => d,
        Err(e) => {
            fail("user list", format!("{}: {e}", path.display()));
            return EXIT_FAIL;
        }
    };
    for (no, _, line) in parse::lines(&data) {
        match parse::parse_line(line) {
            parse::Line::Blank => {}
            parse::Line::Bad(why) => eprintln!("xmpp-extauth: {}:{no}: {why}", path.display()),
            parse::Line::Entry(e) => {
                let name = AdminName {
                    user: e.user.into_owned(),
                    domain: e.domain.map(|d| d.into_owned()),
                };
                let label = match hash::parse(e.hash) {
                    Ok(_) => scheme_label(e.hash),
                    Err(err) => {
                        eprintln!("xmpp-extauth: {}:{no}: {err}", path.display());
                        "invalid"
                    }
                };
                if !crate::printer::line(&format!("{} {label}", name.show())) {
                    return EXIT_OK;
                }
            }
        }
    }
    EXIT_OK
}

/// `check auth|isuser USER@HOST`: asks the configured backend once, prints
/// `yes`/`no`/`unavailable`; exit 0 yes, 1 no, 2 unavailable or error.
pub fn check_cmd(backend: &mut dyn Backend, kind: CheckKind, jid: &str, deadline: Duration) -> i32 {
    check_cmd_with(backend, kind, jid, deadline, &mut prompt::read_password)
}

/// [`check_cmd`] with the password taken from `read`.
pub fn check_cmd_with(
    backend: &mut dyn Backend,
    kind: CheckKind,
    jid: &str,
    deadline: Duration,
    read: PasswordSource<'_>,
) -> i32 {
    let name = match AdminName::parse(jid) {
        Ok(n) if n.domain.is_some() => n,
        Ok(_) => {
            fail("check", format!("{jid:?} has no @host"));
            return EXIT_USAGE;
        }
        Err(e) => {
            fail("check", e);
            return EXIT_USAGE;
        }
    };
    let host = name.domain.as_deref().unwrap_or_default();
    let pw;
    let req = match kind {
        CheckKind::IsUser => Request::IsUser {
            user: &name.user,
            host,
        },
        CheckKind::Auth => {
            pw = match read("Password: ", false) {
                Ok(p) => p,
                Err(e) => {
                    fail("check auth: reading the password", e);
                    return EXIT_USAGE;
                }
            };
            Request::Auth {
                user: &name.user,
                host,
                password: &pw,
            }
        }
    };
    let now = Instant::now();
    // A configured deadline too large for the clock means "no practical limit".
    let until = now
        .checked_add(deadline)
        .unwrap_or(now + Duration::from_secs(86_400));
    let verdict = backend.handle(&req, until);
    crate::printer::line(verdict.word());
    match verdict {
        crate::backend::Verdict::Yes => EXIT_OK,
        crate::backend::Verdict::No => EXIT_FAIL,
        crate::backend::Verdict::Unavailable => EXIT_USAGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_names() {
        let n = AdminName::parse("Alice@Example.ORG").unwrap();
        assert_eq!(n.user, b"alice");
        assert_eq!(n.domain.as_deref(), Some(&b"example.org"[..]));
        let n = AdminName::parse("bob").unwrap();
        assert_eq!(n.domain, None);
        for bad in ["", "@x", "a@", "a b@x", "a:b@x", "a@b@c", "a\u{7}@x"] {
            assert!(AdminName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(scheme_label(b"$6$rounds=5000$x$y"), "sha512-crypt");
        assert_eq!(scheme_label(b"{SHA256-CRYPT}$5$x$y"), "sha256-crypt");
        assert_eq!(scheme_label(b"{PLAIN}x"), "plain");
        assert_eq!(scheme_label(b"md5"), "unknown");
    }
}
