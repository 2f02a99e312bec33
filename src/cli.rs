//! argv -> [`Invocation`] with lexopt. (Types fixed here; parsing on the config/cli branch.)
//!
//! Every config key is also a long option (`users_file` <-> `--users-file`); such options
//! are collected as [`Override`]s and validated by `config` exactly like file lines, so
//! the two can never disagree.

use std::path::PathBuf;

use crate::hash::Scheme;

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
