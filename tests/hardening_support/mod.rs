//! Shared by the tests/hardening_*.rs files that drive the real binary: scratch
//! directories, config files, and a helper process spoken to over pipes (generic protocol)
//! with a timeout on every reply, so a hang fails the test instead of stalling it.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_xmpp-extauth");

/// How long any single reply may take before the test calls it a hang.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh directory (mode 0755, so a helper running as another user can enter it),
/// removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xmpp-extauth-hardening-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create scratch dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod scratch");
        Scratch(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a file with the given mode.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).expect("write scratch file");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    /// A config for the file backend with the log in `log` (debug level).
    pub fn config(&self, users: &Path, extra: &str) -> PathBuf {
        let text = format!(
            "backend = file\nusers_file = {}\nlog = file:{}\nlog_level = debug\nhash_rounds = 1000\n{extra}",
            users.display(),
            self.path("log").display()
        );
        self.write("extauth.conf", text, 0o644)
    }

    /// The log so far (empty if none yet).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.path("log")).unwrap_or_default()).into_owned()
    }

    /// Waits until the log contains `needle` (true) or `timeout` passes (false).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A serving helper on pipes. Replies are read by a thread into a channel, so every
/// wait has a timeout. Killed on drop.
pub struct Helper {
    pub child: Child,
    /// How long a reply may take before it counts as a hang (default [`REPLY_TIMEOUT`]).
    pub reply_timeout: Duration,
    stdin: Option<ChildStdin>,
    replies: Receiver<Vec<u8>>,
}

impl Helper {
    /// Starts `xmpp-extauth --config CONFIG` with an empty environment (PATH only).
    pub fn spawn(config: &Path) -> Helper {
        Helper::spawn_with(config, |_| {})
    }

    pub fn spawn_with(config: &Path, tweak: impl FnOnce(&mut Command)) -> Helper {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(config)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("spawn xmpp-extauth");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Helper {
            child,
            reply_timeout: REPLY_TIMEOUT,
            stdin,
            replies: rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request line; returns the reply (`Some(true)` for `1`), `None` if the
    /// helper ended. Panics on a reply that is not exactly `0\n` or `1\n`, or on a hang.
    pub fn ask(&mut self, request: &[u8]) -> Option<bool> {
        let mut line = request.to_vec();
        line.push(b'\n');
        let stdin = self.stdin.as_mut()?;
        if stdin.write_all(&line).and_then(|_| stdin.flush()).is_err() {
            return None;
        }
        match self.replies.recv_timeout(self.reply_timeout) {
            Ok(r) if r == b"1\n" => Some(true),
            Ok(r) if r == b"0\n" => Some(false),
            Ok(r) => panic!("not a valid reply: {r:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("no reply within {:?}: the helper hangs", self.reply_timeout)
            }
        }
    }

    /// Sends one request line without waiting for the reply.
    pub fn send_only(&mut self, request: &[u8]) {
        let mut line = request.to_vec();
        line.push(b'\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&line).expect("write request");
        stdin.flush().expect("flush request");
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // std sends SIGKILL
        let _ = self.child.wait();
    }

    /// `auth:user:host:password`, which must be answered.
    pub fn auth(&mut self, user: &str, host: &str, password: &str) -> bool {
        self.ask(format!("auth:{user}:{host}:{password}").as_bytes())
            .expect("helper ended")
    }

    pub fn isuser(&mut self, user: &str, host: &str) -> bool {
        self.ask(format!("isuser:{user}:{host}").as_bytes())
            .expect("helper ended")
    }

    /// Closes stdin and waits for the exit status (with a timeout).
    pub fn finish(mut self) -> Option<i32> {
        self.stdin = None;
        let end = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > end {
                panic!("helper did not exit on EOF");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A field of /proc/PID/status, e.g. `VmHWM` -> `"51234 kB"`.
    pub fn status_field(&self, field: &str) -> Option<String> {
        proc_status_field(self.pid(), field)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_field(pid: u32, field: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// `"51234 kB"` -> bytes.
pub fn kb(v: &str) -> u64 {
    v.split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// A SHA-512-crypt hash at the cheapest cost, for test users files.
pub fn hash(password: &str) -> String {
    xmpp_extauth::hash::make(
        xmpp_extauth::hash::Scheme::Sha512Crypt,
        xmpp_extauth::hash::MIN_ROUNDS,
        password.as_bytes(),
    )
    .expect("make hash")
}

/// Replaces `path` atomically with `bytes` (temp file + rename), as an admin tool would.
pub fn replace_atomically(path: &Path, bytes: impl AsRef<[u8]>, mode: u32) {
    let tmp = path.with_extension("new-by-test");
    fs::write(&tmp, bytes).expect("write replacement");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).expect("chmod");
    fs::rename(&tmp, path).expect("rename over");
}

/// Waits out the timestamp granularity so a rewrite of the same size is seen as a change
/// (the backend compares inode, size, mtime and ctime; the rename changes the inode anyway).
pub fn settle() {
    std::thread::sleep(Duration::from_millis(20));
}

/// xorshift64*: reproducible cases from a printed seed, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}
