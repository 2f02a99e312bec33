//! The one place allowed to write to stdout outside the protocol: admin subcommands
//! (`hash`, `user list`, `check`, `config check`, `--help`, `--version`). Never used while
//! serving. A closed stdout (`| head`) is a normal end, not a panic.
#![allow(clippy::print_stdout)]

use std::io::{self, Write};

/// Writes `text` to stdout. Returns false if stdout is gone (broken pipe) or failed, so
/// the caller can stop and exit 0 like any well-behaved filter.
pub fn out(text: &str) -> bool {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes()).and_then(|_| o.flush()).is_ok()
}

/// `out` plus a newline.
pub fn line(text: &str) -> bool {
    out(&format!("{text}\n"))
}
