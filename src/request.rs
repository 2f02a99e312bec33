//! Frame payload -> [`Request`]: the six commands of the extauth protocol.
//!
//! Pure and allocation-free: fields borrow from the frame. Fields are bytes, never
//! `str`: invalid UTF-8 and NUL bytes must not truncate or crash anything, they simply
//! cannot match. The password is everything after the third colon (it may itself
//! contain colons); it is never trimmed.

use std::fmt;

use crate::wire::bytes::{find_byte, find3, word};

/// One decoded request. Borrowed from the frame payload it came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Auth {
        user: &'a [u8],
        host: &'a [u8],
        password: &'a [u8],
    },
    IsUser {
        user: &'a [u8],
        host: &'a [u8],
    },
    SetPass {
        user: &'a [u8],
        host: &'a [u8],
        password: &'a [u8],
    },
    TryRegister {
        user: &'a [u8],
        host: &'a [u8],
        password: &'a [u8],
    },
    RemoveUser {
        user: &'a [u8],
        host: &'a [u8],
    },
    RemoveUser3 {
        user: &'a [u8],
        host: &'a [u8],
        password: &'a [u8],
    },
}

/// Why a payload is not a request we serve. Every variant is answered `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// A command we do not know (including `certauth`), or an empty payload.
    UnknownCommand,
    /// Too few fields for the command.
    MissingField,
    /// Empty user or host.
    EmptyName,
    /// A password field that is present but empty (servers never send one for `auth`).
    EmptyPassword,
    /// A `:` inside the host of a two-field command: extra fields, which we refuse.
    ExtraField,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::UnknownCommand => "unknown command",
            Invalid::MissingField => "missing field",
            Invalid::EmptyName => "empty user or host",
            Invalid::EmptyPassword => "empty password",
            Invalid::ExtraField => "extra field",
        })
    }
}

impl<'a> Request<'a> {
    /// The command word as sent on the wire (for logs).
    pub fn command(&self) -> &'static str {
        match self {
            Request::Auth { .. } => "auth",
            Request::IsUser { .. } => "isuser",
            Request::SetPass { .. } => "setpass",
            Request::TryRegister { .. } => "tryregister",
            Request::RemoveUser { .. } => "removeuser",
            Request::RemoveUser3 { .. } => "removeuser3",
        }
    }

    /// The user localpart of the request.
    pub fn user(&self) -> &'a [u8] {
        match *self {
            Request::Auth { user, .. }
            | Request::IsUser { user, .. }
            | Request::SetPass { user, .. }
            | Request::TryRegister { user, .. }
            | Request::RemoveUser { user, .. }
            | Request::RemoveUser3 { user, .. } => user,
        }
    }

    /// The host (domain) of the request.
    pub fn host(&self) -> &'a [u8] {
        match *self {
            Request::Auth { host, .. }
            | Request::IsUser { host, .. }
            | Request::SetPass { host, .. }
            | Request::TryRegister { host, .. }
            | Request::RemoveUser { host, .. }
            | Request::RemoveUser3 { host, .. } => host,
        }
    }

    /// Whether the request changes the account database.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::SetPass { .. }
                | Request::TryRegister { .. }
                | Request::RemoveUser { .. }
                | Request::RemoveUser3 { .. }
        )
    }
}

/// Never prints the password: `Debug` is what ends up in logs and panic messages.
impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}@{}",
            self.command(),
            String::from_utf8_lossy(self.user()).escape_debug(),
            String::from_utf8_lossy(self.host()).escape_debug()
        )
    }
}

/// Parses one frame payload (without its line ending or length prefix).
pub fn parse(payload: &[u8]) -> Result<Request<'_>, Invalid> {
    match parse_common(payload) {
        Some(r) => r,
        None => parse_general(payload),
    }
}

/// `isuser` and `auth`, what servers send on every lookup and login, recognised by their
/// first eight bytes: the command needs no search for its colon and no comparison
/// against six words, and only the colons that bound a field are looked for. `None` for
/// anything else, which `parse_general` decides; for these two commands the answer is the
/// same as `parse_general`'s (tests check it), only cheaper (about 60 of the ~680
/// instructions a pipelined `isuser` costs, callgrind).
#[inline]
fn parse_common(payload: &[u8]) -> Option<Result<Request<'_>, Invalid>> {
    const ISUSER: u64 = u64::from_le_bytes(*b"isuser:\0");
    const AUTH: u64 = u64::from_le_bytes(*b"auth:\0\0\0");
    if payload.len() < 8 {
        return None;
    }
    let w = word(payload, 0);
    let (is_auth, c1) = if w & 0x00ff_ffff_ffff_ffff == ISUSER {
        (false, 6)
    } else if w & 0xff_ffff_ffff == AUTH {
        (true, 4)
    } else {
        return None;
    };
    let rest = &payload[c1 + 1..];
    let Some(c2) = find_byte(b':', rest) else {
        return Some(Err(Invalid::MissingField));
    };
    let (user, rest) = (&rest[..c2], &rest[c2 + 1..]);
    if !is_auth {
        let host = rest;
        if user.is_empty() || host.is_empty() {
            return Some(Err(Invalid::EmptyName));
        }
        if find_byte(b':', host).is_some() {
            return Some(Err(Invalid::ExtraField));
        }
        return Some(Ok(Request::IsUser { user, host }));
    }
    let Some(c3) = find_byte(b':', rest) else {
        return Some(Err(Invalid::MissingField));
    };
    let (host, password) = (&rest[..c3], &rest[c3 + 1..]);
    if user.is_empty() || host.is_empty() {
        return Some(Err(Invalid::EmptyName));
    }
    if password.is_empty() {
        return Some(Err(Invalid::EmptyPassword));
    }
    Some(Ok(Request::Auth {
        user,
        host,
        password,
    }))
}

/// Any payload: the general parser, and the reference `parse` is held to (by a unit test
/// and by the `request_parse` fuzz target) wherever its fast path answers.
pub fn parse_general(payload: &[u8]) -> Result<Request<'_>, Invalid> {
    // The first three colons, in one pass: command, user, host and password boundaries.
    let [c1, c2, c3] = find3(b':', payload);
    let command = &payload[..c1.unwrap_or(payload.len())];
    let kind = match command {
        b"auth" => Kind::Auth,
        b"isuser" => Kind::IsUser,
        b"setpass" => Kind::SetPass,
        b"tryregister" => Kind::TryRegister,
        b"removeuser" => Kind::RemoveUser,
        b"removeuser3" => Kind::RemoveUser3,
        _ => return Err(Invalid::UnknownCommand),
    };
    let (c1, c2) = c1.zip(c2).ok_or(Invalid::MissingField)?;
    let user = &payload[c1 + 1..c2];
    if kind.has_password() {
        let c3 = c3.ok_or(Invalid::MissingField)?;
        let (host, password) = (&payload[c2 + 1..c3], &payload[c3 + 1..]);
        if user.is_empty() || host.is_empty() {
            return Err(Invalid::EmptyName);
        }
        if password.is_empty() {
            return Err(Invalid::EmptyPassword);
        }
        Ok(match kind {
            Kind::Auth => Request::Auth {
                user,
                host,
                password,
            },
            Kind::SetPass => Request::SetPass {
                user,
                host,
                password,
            },
            Kind::TryRegister => Request::TryRegister {
                user,
                host,
                password,
            },
            _ => Request::RemoveUser3 {
                user,
                host,
                password,
            },
        })
    } else {
        let host = &payload[c2 + 1..];
        if user.is_empty() || host.is_empty() {
            return Err(Invalid::EmptyName);
        }
        if c3.is_some() {
            return Err(Invalid::ExtraField);
        }
        Ok(match kind {
            Kind::IsUser => Request::IsUser { user, host },
            _ => Request::RemoveUser { user, host },
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Auth,
    IsUser,
    SetPass,
    TryRegister,
    RemoveUser,
    RemoveUser3,
}

impl Kind {
    fn has_password(self) -> bool {
        !matches!(self, Kind::IsUser | Kind::RemoveUser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_keeps_colons_and_spaces() {
        assert_eq!(
            parse(b"auth:alice:example.org: pa:ss:w ").unwrap(),
            Request::Auth {
                user: b"alice",
                host: b"example.org",
                password: b" pa:ss:w "
            }
        );
    }

    /// The fast path answers exactly as the general parser for every payload it takes,
    /// and takes the common shapes (so the comparison is not vacuous).
    #[test]
    fn common_path_agrees_with_the_general_parser() {
        let mut taken = 0;
        let pieces: &[&[u8]] = &[b"", b"u", b"alice", b"a:b", b"user008172", b"x\0y", b"\xff"];
        for cmd in [
            &b"isuser"[..],
            b"auth",
            b"isuse",
            b"authx",
            b"isuserx",
            b"setpass",
            b"Auth",
        ] {
            for user in pieces {
                for host in pieces {
                    for tail in [
                        None,
                        Some(&b""[..]),
                        Some(b"pw"),
                        Some(b"p:w:"),
                        Some(b"x:"),
                    ] {
                        let mut v = [cmd, b":", user, b":", host].concat();
                        if let Some(t) = tail {
                            v.push(b':');
                            v.extend_from_slice(t);
                        }
                        for len in 0..=v.len() {
                            let p = &v[..len];
                            if let Some(fast) = parse_common(p) {
                                taken += 1;
                                assert_eq!(
                                    fast,
                                    parse_general(p),
                                    "{:?}",
                                    String::from_utf8_lossy(p)
                                );
                            }
                            assert_eq!(parse(p), parse_general(p));
                        }
                    }
                }
            }
        }
        assert!(taken > 1000, "{taken}");
        assert!(parse_common(b"isuser:user008172:example.test").is_some());
        assert!(parse_common(b"auth:alice:example.org:secret").is_some());
    }

    #[test]
    fn all_commands() {
        let p = |s: &[u8]| parse(s).map(|r| r.command());
        assert_eq!(p(b"auth:u:h:p"), Ok("auth"));
        assert_eq!(p(b"isuser:u:h"), Ok("isuser"));
        assert_eq!(p(b"setpass:u:h:p"), Ok("setpass"));
        assert_eq!(p(b"tryregister:u:h:p"), Ok("tryregister"));
        assert_eq!(p(b"removeuser:u:h"), Ok("removeuser"));
        assert_eq!(p(b"removeuser3:u:h:p"), Ok("removeuser3"));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(Invalid::UnknownCommand));
        assert_eq!(parse(b"certauth:u:h:x"), Err(Invalid::UnknownCommand));
        assert_eq!(parse(b"AUTH:u:h:p"), Err(Invalid::UnknownCommand));
        assert_eq!(parse(b"auth"), Err(Invalid::MissingField));
        assert_eq!(parse(b"auth:u:h"), Err(Invalid::MissingField));
        assert_eq!(parse(b"auth:u"), Err(Invalid::MissingField));
        assert_eq!(parse(b"auth:u:h:"), Err(Invalid::EmptyPassword));
        assert_eq!(parse(b"auth::h:p"), Err(Invalid::EmptyName));
        assert_eq!(parse(b"auth:u::p"), Err(Invalid::EmptyName));
        assert_eq!(parse(b"isuser:u"), Err(Invalid::MissingField));
        assert_eq!(parse(b"isuser:u:"), Err(Invalid::EmptyName));
        assert_eq!(parse(b"isuser:u:h:extra"), Err(Invalid::ExtraField));
        assert_eq!(parse(b"removeuser:u:h:p"), Err(Invalid::ExtraField));
    }

    #[test]
    fn fields_are_bytes() {
        let r = parse(b"auth:\xff\x00:h\x00:p\x00w\xfe").unwrap();
        assert_eq!(r.user(), b"\xff\x00");
        assert_eq!(r.host(), b"h\x00");
        assert!(matches!(
            r,
            Request::Auth {
                password: b"p\x00w\xfe",
                ..
            }
        ));
    }

    #[test]
    fn debug_never_shows_password() {
        let r = parse(b"auth:alice:example.org:hunter2").unwrap();
        let s = format!("{r:?}");
        assert_eq!(s, "auth alice@example.org");
        assert!(!s.contains("hunter2"));
    }
}
