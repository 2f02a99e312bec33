//! Logging to syslog, stderr, a file, or nowhere.
//!
//! Never to stdout (that is the protocol channel) and never to stderr when stderr is a
//! terminal while serving: under Prosody stdin, stdout and stderr are one pty, and a log
//! line there is read as a reply (PROTOCOLS.md §4). Callers never pass passwords here;
//! user names are escaped so a control character cannot forge a log line.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    pub fn from_name(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    /// syslog severity.
    fn severity(self) -> u8 {
        match self {
            Level::Error => 3,
            Level::Warn => 4,
            Level::Info => 6,
            Level::Debug => 7,
        }
    }
}

/// Where log lines go (config key `log`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// RFC 3164 datagrams to `/dev/log`, facility authpriv, tag `xmpp-extauth`.
    Syslog,
    Stderr,
    File(PathBuf),
    None,
}

impl LogTarget {
    /// Parses the config syntax: `syslog`, `stderr`, `file:/path`, `none`.
    pub fn parse(s: &str) -> Option<LogTarget> {
        match s {
            "syslog" => Some(LogTarget::Syslog),
            "stderr" => Some(LogTarget::Stderr),
            "none" => Some(LogTarget::None),
            _ => match s.strip_prefix("file:") {
                Some(p) if p.starts_with('/') => Some(LogTarget::File(PathBuf::from(p))),
                _ => None,
            },
        }
    }
}

impl fmt::Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::Syslog => f.write_str("syslog"),
            LogTarget::Stderr => f.write_str("stderr"),
            LogTarget::File(p) => write!(f, "file:{}", p.display()),
            LogTarget::None => f.write_str("none"),
        }
    }
}

enum Sink {
    Syslog(UnixDatagram),
    Stderr,
    File(File),
    None,
}

/// Until `init`, nothing is logged except errors to a non-terminal stderr.
static LEVEL: AtomicU8 = AtomicU8::new(Level::Error as u8);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

const TAG: &str = "xmpp-extauth";
/// LOG_AUTHPRIV: auth messages that may name users.
const FACILITY: u8 = 10;

fn stderr_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(2) == 1 }
}

/// Sets up the logger. `stderr_allowed` is false while serving on a terminal: then a
/// `stderr` target, and the fallback of an unreachable syslog, log nowhere instead.
/// Returns a warning to log once the sink is up, if the wanted target was not available.
pub fn init(target: &LogTarget, level: Level, stderr_allowed: bool) -> Option<String> {
    let stderr_ok = stderr_allowed && !stderr_is_tty();
    let mut note = None;
    let sink = match target {
        LogTarget::Syslog => {
            match UnixDatagram::unbound().and_then(|s| s.connect("/dev/log").map(|_| s)) {
                Ok(s) => Sink::Syslog(s),
                Err(e) if stderr_ok => {
                    note = Some(format!(
                        "syslog unavailable (/dev/log: {e}); logging to stderr"
                    ));
                    Sink::Stderr
                }
                Err(_) => Sink::None,
            }
        }
        LogTarget::Stderr if stderr_allowed => Sink::Stderr,
        LogTarget::Stderr => Sink::None,
        LogTarget::File(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Sink::File(f),
            Err(e) if stderr_ok => {
                note = Some(format!(
                    "cannot open log file {}: {e}; logging to stderr",
                    path.display()
                ));
                Sink::Stderr
            }
            Err(_) => Sink::None,
        },
        LogTarget::None => Sink::None,
    };
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    LEVEL.store(level as u8, Ordering::Relaxed);
    note
}

/// Cheap check, so per-request debug lines cost nothing when off.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// One `write(2)` per line: stderr is unbuffered, and `writeln!` straight to it would issue
/// one write per piece, letting lines of helpers that share a stderr (one per CPU core
/// under ejabberd) interleave mid-line.
fn stderr_line(level: Level, msg: &str) {
    let line = format!("{TAG}: {}: {msg}\n", level.name());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes one log line. Use the `error!`..`debug!` macros.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut msg = String::with_capacity(128);
    let _ = msg.write_fmt(args);
    // One line per event: a newline in a message must not start a forged line.
    let msg = msg.replace(['\n', '\r'], " ");
    let mut guard = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(Sink::Syslog(sock)) => {
            let pri = FACILITY * 8 + level.severity();
            let line = format!(
                "<{pri}>{} {TAG}[{}]: {msg}",
                syslog_time(),
                std::process::id()
            );
            let _ = sock.send(line.as_bytes());
        }
        Some(Sink::Stderr) => stderr_line(level, &msg),
        Some(Sink::File(f)) => {
            let line = format!(
                "{} {TAG}[{}]: {}: {msg}\n",
                iso_time(),
                std::process::id(),
                level.name()
            );
            let _ = f.write_all(line.as_bytes());
        }
        Some(Sink::None) => {}
        None => {
            if !stderr_is_tty() {
                stderr_line(level, &msg);
            }
        }
    }
}

fn local_tm() -> libc::tm {
    // SAFETY: time(NULL) and localtime_r with valid pointers; tm is plain data.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    }
}

/// `Mmm dd hh:mm:ss`, as RFC 3164 wants.
fn syslog_time() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = local_tm();
    let mon = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
    format!(
        "{mon} {:2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

fn iso_time() -> String {
    let tm = local_tm();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Shows bytes from the wire (user names, hosts) safely in a log line: lossy UTF-8 with
/// control characters escaped. Never call it on a password.
pub struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in String::from_utf8_lossy(self.0).chars() {
            if c.is_control() || c == '\u{fffd}' {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::log($crate::log::Level::Debug, format_args!($($t)*))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(LogTarget::parse("syslog"), Some(LogTarget::Syslog));
        assert_eq!(
            LogTarget::parse("file:/var/log/x"),
            Some(LogTarget::File("/var/log/x".into()))
        );
        assert_eq!(LogTarget::parse("file:relative"), None);
        assert_eq!(LogTarget::parse("journal"), None);
    }

    #[test]
    fn shown_escapes_controls() {
        assert_eq!(Shown(b"al\nice\xff").to_string(), "al\\u{a}ice\\u{fffd}");
        assert_eq!(Shown("jürgen".as_bytes()).to_string(), "jürgen");
    }
}
