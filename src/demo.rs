//! `xmpp-extauth demo`: the main job on an embedded example. Builds a small users file in
//! memory (fresh `$6$` hashes), runs the real serving loop and the real users-file backend
//! over an in-memory conversation (the requests a server would send), and prints each
//! request (passwords masked) with its reply. Nothing to set up, nothing written.

use std::time::Duration;

use crate::backend::file::FileBackend;
use crate::config::{ProtocolChoice, Settings};
use crate::hash::{self, Scheme};
use crate::serve::{self, ChunkInput};

/// (user entry, password) of the embedded users file. `bob` has no domain: any host.
const USERS: &[(&str, &str)] = &[
    ("alice@example.org", "wonder:land"),
    ("bob", "can we fix it?"),
];

/// (request, what it shows). Passwords are masked when printed.
const SCRIPT: &[(&str, &str)] = &[
    (
        "auth:alice:example.org:wonder:land",
        "right password (it contains a colon)",
    ),
    ("auth:alice:example.org:wonder", "a prefix of it"),
    (
        "auth:alice:example.org:can we fix it?",
        "another user's password",
    ),
    (
        "auth:alice:example.net:wonder:land",
        "right password, other domain",
    ),
    (
        "auth:bob:example.net:can we fix it?",
        "domain-less entry matches every domain",
    ),
    ("auth:mallory:example.org:wonder:land", "unknown user"),
    ("isuser:alice:example.org", "alice exists"),
    ("isuser:mallory:example.org", "mallory does not"),
    ("setpass:alice:example.org:new", "writes are off by default"),
    ("certauth:alice:example.org:x", "unsupported command"),
];

pub fn run() -> u8 {
    match conversation() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("xmpp-extauth: demo: {e}");
            1
        }
    }
}

fn conversation() -> Result<(), String> {
    let mut text = String::from("# embedded demo users file\n");
    for (entry, pw) in USERS {
        let h = hash::make(Scheme::Sha512Crypt, hash::DEFAULT_ROUNDS, pw.as_bytes())
            .map_err(|e| format!("hash: {e}"))?;
        text.push_str(&format!("{entry}:{h}\n"));
    }
    let mut backend = FileBackend::from_bytes(
        "(embedded)",
        text.clone().into_bytes(),
        &Settings::default(),
    );
    let lines: Vec<String> = SCRIPT.iter().map(|(r, _)| format!("{r}\n")).collect();
    let mut input = ChunkInput::new(lines.iter().map(|l| l.as_bytes()));
    let mut output = Vec::new();
    let opts = serve::Options {
        protocol: ProtocolChoice::Auto,
        read_timeout: None,
        deadline: Duration::from_millis(4000),
        tty: false,
        drop_first: false,
    };
    serve::serve(&mut input, &mut output, &mut backend, &opts);

    let mut report = format!(
        "xmpp-extauth demo: serving the generic protocol from an embedded users file\n\n{}\n",
        text.lines()
            .map(|l| match l.split_once(":$") {
                Some((name, _)) => format!("  {name}:$6$... (sha512-crypt)\n"),
                None => format!("  {l}\n"),
            })
            .collect::<String>()
    );
    let replies: Vec<&[u8]> = output.chunks(2).collect();
    for (i, (req, what)) in SCRIPT.iter().enumerate() {
        let reply = replies
            .get(i)
            .map(|r| String::from_utf8_lossy(&r[..1]).into_owned())
            .unwrap_or("-".into());
        report.push_str(&format!("  {:<44} -> {reply}   {what}\n", mask(req)));
    }
    report.push_str("\nEvery request got exactly one reply, in order. Try it yourself:\n  printf 'isuser:alice:example.org\\n' | xmpp-extauth --users-file FILE\n");
    crate::printer::out(&report);
    if replies.len() != SCRIPT.len() {
        return Err(format!(
            "expected {} replies, got {}",
            SCRIPT.len(),
            replies.len()
        ));
    }
    Ok(())
}

/// `auth:alice:example.org:secret` -> `auth:alice:example.org:******`.
fn mask(req: &str) -> String {
    let parts: Vec<&str> = req.splitn(4, ':').collect();
    match parts.as_slice() {
        [cmd, user, host, pw] => format!(
            "{cmd}:{user}:{host}:{}",
            "*".repeat(pw.chars().count().min(12))
        ),
        _ => req.to_string(),
    }
}
