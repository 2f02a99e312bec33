//! (method, status, body) -> outcome: the whole mod_auth_http answer table, as a pure
//! function so that it can be read in one screen, table-tested and fuzzed.
//!
//! PROTOCOLS.md §5 with the rules of issue 3: only a well-formed, positive answer is
//! `Yes`; a definite refusal is `No`; anything we cannot read as either (5xx, redirects,
//! unexpected statuses or bodies) is a backend fault, which must never look like a wrong
//! password in the logs and never like a success anywhere.

use std::fmt;

/// The five API methods of mod_auth_http (the last path segment of the request URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiMethod {
    CheckPassword,
    UserExists,
    SetPassword,
    RemoveUser,
    Register,
}

impl ApiMethod {
    pub const ALL: [ApiMethod; 5] = [
        ApiMethod::CheckPassword,
        ApiMethod::UserExists,
        ApiMethod::SetPassword,
        ApiMethod::RemoveUser,
        ApiMethod::Register,
    ];

    /// The path segment appended to the base URL, also the name used in logs.
    pub fn path(self) -> &'static str {
        match self {
            ApiMethod::CheckPassword => "check_password",
            ApiMethod::UserExists => "user_exists",
            ApiMethod::SetPassword => "set_password",
            ApiMethod::RemoveUser => "remove_user",
            ApiMethod::Register => "register",
        }
    }

    /// Dense index, for per-method state (the "501 logged once" flags).
    pub fn index(self) -> usize {
        self as usize
    }

    /// check_password and user_exists are queries (GET by default); the others always POST.
    pub fn is_query(self) -> bool {
        matches!(self, ApiMethod::CheckPassword | ApiMethod::UserExists)
    }
}

impl fmt::Display for ApiMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// What an HTTP answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Yes,
    No,
    /// `501 Not Implemented`: the API does not offer this method. Answered `0`, logged
    /// once per method; not an outage, so the cache grace never applies to it.
    Unsupported,
    /// The API answered something we cannot trust as yes or no: answered `0`, logged as a
    /// backend fault.
    Fault(Fault),
}

/// Why an answer is a backend fault. Never carries the body (it could echo a password).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 3xx: we never follow redirects (a redirect could move the password elsewhere).
    Redirect(u16),
    /// A status this method does not define (5xx, 1xx, an unexpected 2xx...).
    Status(u16),
    /// 200, but the body is neither `true` nor `false`.
    Body,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Redirect(s) => write!(f, "redirect (status {s}) refused"),
            Fault::Status(s) => write!(f, "unexpected status {s}"),
            Fault::Body => f.write_str("status 200 with a body other than true or false"),
        }
    }
}

/// The answer table. `body` is the (size-capped) response body; it only matters for the
/// two query methods, where surrounding ASCII whitespace is tolerated (Prosody's own
/// client is stricter: it wants exactly `true`).
pub fn verdict_from(method: ApiMethod, status: u16, body: &[u8]) -> Outcome {
    match status {
        501 => Outcome::Unsupported,
        300..=399 => Outcome::Fault(Fault::Redirect(status)),
        // 409 is register's "exists"; every other 4xx is a refusal for every method.
        400..=499 => Outcome::No,
        200 if method.is_query() => match body.trim_ascii() {
            b"true" => Outcome::Yes,
            b"false" => Outcome::No,
            _ => Outcome::Fault(Fault::Body),
        },
        200 | 201 | 204 if matches!(method, ApiMethod::SetPassword | ApiMethod::RemoveUser) => {
            Outcome::Yes
        }
        201 if method == ApiMethod::Register => Outcome::Yes,
        _ => Outcome::Fault(Fault::Status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::ApiMethod::*;
    use super::*;

    const Y: Outcome = Outcome::Yes;
    const N: Outcome = Outcome::No;
    const U: Outcome = Outcome::Unsupported;
    fn st(s: u16) -> Outcome {
        Outcome::Fault(Fault::Status(s))
    }
    fn rd(s: u16) -> Outcome {
        Outcome::Fault(Fault::Redirect(s))
    }
    const BODY: Outcome = Outcome::Fault(Fault::Body);

    #[test]
    fn table() {
        #[rustfmt::skip]
        let table: &[(ApiMethod, u16, &[u8], Outcome)] = &[
            // queries: 200 + true/false, whitespace around tolerated
            (CheckPassword, 200, b"true", Y),
            (CheckPassword, 200, b"true\n", Y),
            (CheckPassword, 200, b" \t\r\ntrue\r\n ", Y),
            (CheckPassword, 200, b"false", N),
            (CheckPassword, 200, b"false\n", N),
            (UserExists, 200, b"true", Y),
            (UserExists, 200, b"false", N),
            // anything else in a 200 is a fault, never yes
            (CheckPassword, 200, b"", BODY),
            (CheckPassword, 200, b"TRUE", BODY),
            (CheckPassword, 200, b"True", BODY),
            (CheckPassword, 200, b"1", BODY),
            (CheckPassword, 200, b"yes", BODY),
            (CheckPassword, 200, b"true false", BODY),
            (CheckPassword, 200, b"truex", BODY),
            (CheckPassword, 200, b"\"true\"", BODY),
            (CheckPassword, 200, b"true\0", BODY),
            (CheckPassword, 200, b"\xc2\xa0true", BODY), // NBSP is not ASCII whitespace
            (UserExists, 200, b"<html>true</html>", BODY),
            // other success codes mean nothing for queries
            (CheckPassword, 201, b"true", st(201)),
            (CheckPassword, 204, b"", st(204)),
            (UserExists, 202, b"true", st(202)),
            // 4xx: no (including 401/403 for a wrong API credential: fails closed)
            (CheckPassword, 400, b"true", N),
            (CheckPassword, 401, b"", N),
            (CheckPassword, 403, b"true", N),
            (CheckPassword, 404, b"", N),
            (UserExists, 404, b"", N),
            (UserExists, 499, b"", N),
            // 501 unsupported, every method
            (CheckPassword, 501, b"true", U),
            (UserExists, 501, b"", U),
            (SetPassword, 501, b"", U),
            (RemoveUser, 501, b"", U),
            (Register, 501, b"", U),
            // 5xx: fault
            (CheckPassword, 500, b"true", st(500)),
            (CheckPassword, 502, b"", st(502)),
            (CheckPassword, 503, b"", st(503)),
            (UserExists, 504, b"true", st(504)),
            (SetPassword, 500, b"", st(500)),
            (Register, 599, b"", st(599)),
            // redirects: fault, never followed
            (CheckPassword, 301, b"true", rd(301)),
            (CheckPassword, 302, b"", rd(302)),
            (UserExists, 307, b"", rd(307)),
            (SetPassword, 308, b"", rd(308)),
            (Register, 303, b"", rd(303)),
            // writes: 200/201/204 yes, body ignored
            (SetPassword, 200, b"", Y),
            (SetPassword, 201, b"false", Y),
            (SetPassword, 204, b"", Y),
            (RemoveUser, 200, b"", Y),
            (RemoveUser, 201, b"", Y),
            (RemoveUser, 204, b"", Y),
            (SetPassword, 202, b"", st(202)),
            (RemoveUser, 206, b"", st(206)),
            (SetPassword, 404, b"", N),
            (RemoveUser, 404, b"", N),
            // register: 201 only; 409 exists
            (Register, 201, b"", Y),
            (Register, 409, b"", N),
            (Register, 400, b"", N),
            (Register, 200, b"true", st(200)),
            (Register, 204, b"", st(204)),
            // nonsense statuses
            (CheckPassword, 100, b"true", st(100)),
            (CheckPassword, 0, b"true", st(0)),
            (CheckPassword, 600, b"true", st(600)),
            (CheckPassword, 999, b"true", st(999)),
        ];
        for &(m, status, body, want) in table {
            assert_eq!(
                verdict_from(m, status, body),
                want,
                "{m} {status} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Whatever the server says, only 2xx can ever be yes.
    #[test]
    fn yes_only_from_2xx() {
        for m in ApiMethod::ALL {
            for status in 0..1000u16 {
                for body in [&b"true"[..], b"false", b"", b"x"] {
                    if verdict_from(m, status, body) == Outcome::Yes {
                        assert!((200..300).contains(&status), "{m} {status}");
                    }
                }
            }
        }
    }

    #[test]
    fn paths() {
        let p: Vec<_> = ApiMethod::ALL.iter().map(|m| m.path()).collect();
        assert_eq!(
            p,
            [
                "check_password",
                "user_exists",
                "set_password",
                "remove_user",
                "register"
            ]
        );
        for (i, m) in ApiMethod::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
        }
    }
}
