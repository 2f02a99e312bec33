//! Drives the real executable over pipes and a real pseudo-terminal: byte-exact stdout,
//! nothing secret on stderr, exit codes, config errors, timeouts, terminal hygiene.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xmpp-extauth");

/// A private temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("xe-bin-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The command with an isolated config (never the machine's /etc/xmpp-extauth.conf).
fn cmd(config: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("XMPP_EXTAUTH_CONFIG", config).env_remove("CI");
    c
}

fn run_with_input(mut c: Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The helper may exit before reading (config errors): a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn hash_of(config: &Path, password: &str, scheme: &str) -> String {
    let mut c = cmd(config);
    c.args(["hash", "--scheme", scheme, "--rounds", "1000"]);
    let out = run_with_input(c, format!("{password}\n").as_bytes());
    assert!(
        out.status.success(),
        "hash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = String::from_utf8(out.stdout).unwrap();
    assert!(!h.contains(password));
    h.trim_end().to_string()
}

/// A users file and a config pointing at it, logging at debug to stderr.
fn setup(dir: &Dir) -> PathBuf {
    let config = dir.path("xmpp-extauth.conf");
    fs::write(&config, "log = stderr\nlog_level = debug\n").unwrap();
    let users = dir.path("users");
    let alice = hash_of(&config, "s3cret: with colon", "sha512-crypt");
    let bob = hash_of(&config, "pässwörd", "sha256-crypt");
    fs::write(
        &users,
        format!(
            "# test users\nalice@example.org:{alice}\nbob:{bob}\ncarol@example.org:{{PLAIN}}plain\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&users, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(
        &config,
        format!(
            "log = stderr\nlog_level = debug\nusers_file = {}\n",
            users.display()
        ),
    )
    .unwrap();
    config
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn generic_over_pipes_is_byte_exact() {
    let dir = Dir::new("generic");
    let config = setup(&dir);
    let input = "auth:alice:example.org:s3cret: with colon\n\
                 auth:alice:example.org:s3cret\n\
                 auth:alice:example.org:pässwörd\n\
                 auth:bob:anywhere.example:pässwörd\n\
                 auth:nobody:example.org:s3cret: with colon\n\
                 isuser:alice:example.org\n\
                 isuser:alice:example.net\n\
                 isuser:bob:example.net\n\
                 auth:carol:example.org:plain\r\n\
                 setpass:alice:example.org:new\n\
                 certauth:alice:example.org:x\n\
                 \n";
    let out = run_with_input(cmd(&config), input.as_bytes());
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n0\n0\n1\n0\n1\n0\n1\n1\n0\n0\n0\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for secret in ["s3cret", "pässwörd", "plain\n", "with colon"] {
        assert!(!err.contains(secret), "stderr shows a password: {err}");
    }
    assert!(
        err.contains("auth alice@example.org"),
        "debug log should name requests: {err}"
    );
}

/// Prosody passes a line feed in a `setpass` password through, so the tail of the new
/// password arrives as a line of its own, parsed as an unknown command. Its "command word"
/// (the whole tail, up to a colon) must not reach the log; a known unserved command still
/// is named. (Seen on real Prosody by tests/e2e/run_prosody.py.)
#[test]
fn unknown_command_words_are_not_logged() {
    let dir = Dir::new("unknown-word");
    let config = setup(&dir);
    let input = "setpass:alice:example.org:head-of-a-password\n\
                 tail-of-a-password\n\
                 tail2-of-a-password:with colon\n\
                 certauth:alice:example.org:x\n";
    let out = run_with_input(cmd(&config), input.as_bytes());
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n0\n0\n0\n");
    let err = String::from_utf8_lossy(&out.stderr);
    for secret in ["head-of-a-password", "tail-of-a-password", "tail2"] {
        assert!(!err.contains(secret), "the log shows a password: {err}");
    }
    assert!(
        err.contains("not shown"),
        "unknown commands are logged: {err}"
    );
    assert!(
        err.contains("'certauth'"),
        "certauth should be named: {err}"
    );
}

#[test]
fn ejabberd_over_pipes_is_byte_exact() {
    let dir = Dir::new("ejabberd");
    let config = setup(&dir);
    let mut input = Vec::new();
    input.extend(frame(
        "auth:alice:example.org:s3cret: with colon".as_bytes(),
    ));
    input.extend(frame(b"auth:alice:example.org:wrong"));
    input.extend(frame(b"isuser:alice:example.org"));
    input.extend(frame(b""));
    input.extend(frame(b"auth:alice\x00:example.org:s3cret: with colon"));
    input.extend(frame("isuser:bob:xn--example.org".as_bytes()));
    let out = run_with_input(cmd(&config), &input);
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        [
            0, 2, 0, 1, 0, 2, 0, 0, 0, 2, 0, 1, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1
        ]
    );
}

#[test]
fn split_and_pipelined_input() {
    let dir = Dir::new("split");
    let config = setup(&dir);
    let mut child = cmd(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // one request over many writes
    for piece in ["isu", "ser:ali", "ce:exam", "ple.org", "\n"] {
        stdin.write_all(piece.as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut two = [0u8; 2];
    stdout.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"1\n");
    // many requests in one write
    let many = "isuser:alice:example.org\nisuser:x:example.org\n".repeat(500);
    stdin.write_all(many.as_bytes()).unwrap();
    drop(stdin);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, "1\n0\n".repeat(500).as_bytes());
    assert!(child.wait().unwrap().success());
}

#[test]
fn exits_promptly_on_eof() {
    let dir = Dir::new("eof");
    let config = setup(&dir);
    let mut child = cmd(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(child.stdin.take());
    let status = wait_timeout(&mut child, Duration::from_secs(5)).expect("did not exit on EOF");
    assert!(status.success());
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn read_timeout_exits_zero() {
    let dir = Dir::new("rto");
    let config = setup(&dir);
    let mut c = cmd(&config);
    c.args(["--read-timeout", "0.3"]);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"isuser:alice:exa").unwrap(); // partial request, then silence
    let t = Instant::now();
    let status =
        wait_timeout(&mut child, Duration::from_secs(5)).expect("no exit after read timeout");
    assert!(status.success());
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "exited too early: {:?}",
        t.elapsed()
    );
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "partial request must not be answered");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("partial request"), "{err}");
}

#[test]
fn config_errors_name_file_and_line_and_exit_2() {
    let dir = Dir::new("cfg");
    let config = dir.path("bad.conf");
    fs::write(&config, "# comment\n\nusers_file = /x\nuser_file = /y\n").unwrap();
    let out = run_with_input(cmd(&config), b"isuser:a:b\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:", config.display())), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");

    let missing = dir.path("missing.conf");
    let out = run_with_input(cmd(&missing), b"");
    assert_eq!(out.status.code(), Some(2));

    let mut c = cmd(&config);
    c.arg("--no-such-option");
    assert_eq!(run_with_input(c, b"").status.code(), Some(2));
}

#[test]
fn world_writable_users_file_refused() {
    let dir = Dir::new("ww");
    let config = setup(&dir);
    fs::set_permissions(dir.path("users"), fs::Permissions::from_mode(0o666)).unwrap();
    let out = run_with_input(cmd(&config), b"isuser:alice:example.org\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "no reply may be given: {:?}",
        out.stdout
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("world-writable"));
}

#[test]
fn help_version_demo_go_to_stdout() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--users-file") && help.contains("external_auth_command"));
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("xmpp-extauth "));
    let out = Command::new(BIN).arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo = String::from_utf8_lossy(&out.stdout);
    assert!(demo.contains("-> 1") && demo.contains("-> 0"));
    assert!(!demo.contains("wonder:land"), "demo must mask passwords");
}

#[test]
fn check_command_exit_codes() {
    let dir = Dir::new("check");
    let config = setup(&dir);
    let check = |args: &[&str], input: &str| {
        let mut c = cmd(&config);
        c.args(args);
        run_with_input(c, input.as_bytes())
    };
    let yes = check(
        &["check", "auth", "alice@example.org"],
        "s3cret: with colon\n",
    );
    assert_eq!(yes.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&yes.stdout).contains("yes"));
    let no = check(&["check", "auth", "alice@example.org"], "nope\n");
    assert_eq!(no.status.code(), Some(1));
    assert_eq!(
        check(&["check", "isuser", "bob@any.example"], "")
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        check(&["check", "isuser", "zed@example.org"], "")
            .status
            .code(),
        Some(1)
    );
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    None
}

// ---------------------------------------------------------------- pseudo-terminal

struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

fn openpty() -> Pty {
    let (mut m, mut s) = (-1, -1);
    // SAFETY: openpty fills two descriptors; null name/termios/winsize are allowed.
    let r = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty failed");
    // SAFETY: fresh descriptors we own.
    unsafe {
        Pty {
            master: OwnedFd::from_raw_fd(m),
            slave: OwnedFd::from_raw_fd(s),
        }
    }
}

/// The helper with the pty's slave as stdin, stdout and stderr, as lpty starts it.
fn spawn_on(pty: &Pty, config: &Path) -> Child {
    let mut c = cmd(config);
    c.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    c.spawn().unwrap()
}

fn termios(fd: &OwnedFd) -> libc::termios {
    // SAFETY: plain data filled by tcgetattr.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0);
        t
    }
}

/// Reads what is available on the master within `wait`.
fn read_master(master: &OwnedFd, wait: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let t = Instant::now();
    while t.elapsed() < wait {
        let mut p = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 20) };
        if r > 0 && p.revents & libc::POLLIN != 0 {
            let mut buf = [0u8; 256];
            // SAFETY: valid buffer.
            let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            got.extend_from_slice(&buf[..n as usize]);
        }
    }
    got
}

fn write_master(master: &OwnedFd, data: &[u8]) {
    // SAFETY: valid buffer.
    let n = unsafe { libc::write(master.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    assert_eq!(n, data.len() as isize);
}

#[test]
fn pseudo_terminal_like_prosody() {
    let dir = Dir::new("pty");
    let config = setup(&dir); // logs to stderr at debug: must be suppressed on a terminal
    let pty = openpty();
    let mut child = spawn_on(&pty, &config);

    // The helper switches the terminal to raw mode at start.
    let t = Instant::now();
    loop {
        let tio = termios(&pty.slave);
        let raw = tio.c_lflag & (libc::ECHO | libc::ICANON | libc::ISIG) == 0
            && tio.c_oflag & libc::OPOST == 0;
        if raw {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "terminal never switched to raw mode"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(pty.slave);

    // First request: left unanswered (Prosody may have read its own echo as the reply).
    write_master(&pty.master, b"auth:alice:example.org:s3cret: with colon\n");
    let first = read_master(&pty.master, Duration::from_millis(400));
    assert!(
        first.is_empty(),
        "first request must get no reply and nothing on stderr: {first:?}"
    );

    // Then every request gets exactly its reply: `1\n`, not `1\r\n`, and no log lines.
    write_master(&pty.master, b"auth:alice:example.org:s3cret: with colon\n");
    assert_eq!(read_master(&pty.master, Duration::from_millis(400)), b"1\n");
    write_master(&pty.master, b"auth:alice:example.org:wrong\n");
    assert_eq!(read_master(&pty.master, Duration::from_millis(400)), b"0\n");
    write_master(&pty.master, b"isuser:alice:example.org\x03\n");
    assert_eq!(
        read_master(&pty.master, Duration::from_millis(400)),
        b"0\n",
        "0x03 must not signal"
    );
    // A line feed inside a new password (Prosody passes it through in setpass): the tail
    // must not run as a request whose verdict would answer the setpass (a password oracle).
    write_master(
        &pty.master,
        b"setpass:alice:example.org:x\nauth:alice:example.org:s3cret: with colon\n",
    );
    assert_eq!(
        read_master(&pty.master, Duration::from_millis(400)),
        b"0\n",
        "one reply, 0, for a line with a line feed inside"
    );
    write_master(&pty.master, b"auth:alice:example.org:s3cret: with colon\n");
    assert_eq!(read_master(&pty.master, Duration::from_millis(400)), b"1\n");
    assert!(child.try_wait().unwrap().is_none(), "helper died");

    // Closing the master (Prosody gone) ends the helper with status 0.
    let t = Instant::now();
    drop(pty.master);
    let status =
        wait_timeout(&mut child, Duration::from_secs(5)).expect("helper outlived its terminal");
    assert!(status.success(), "{status:?}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// lpty reuses one terminal for every helper it starts: requests written while no helper
/// was reading (an earlier helper exited) are still queued when the next one starts, with
/// passwords in them. None may be answered (the server waits for one reply at most, to its
/// latest request; an extra reply would answer the next login), so they are discarded
/// unread, and the request that comes next is answered.
#[test]
fn input_queued_before_start_is_discarded_unread() {
    let dir = Dir::new("pty-queued");
    let config = setup(&dir);
    let pty = openpty();
    // Two stale requests, written while nobody reads (the terminal echoes them: drain).
    write_master(&pty.master, b"auth:alice:example.org:s3cret: with colon\n");
    write_master(&pty.master, b"auth:alice:example.org:stale-wrong\n");
    let _echo = read_master(&pty.master, Duration::from_millis(100));
    let mut child = spawn_on(&pty, &config);
    let t = Instant::now();
    while termios(&pty.slave).c_lflag & libc::ECHO != 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "never went raw");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(pty.slave);
    let early = read_master(&pty.master, Duration::from_millis(400));
    assert!(
        early.is_empty(),
        "a queued request was answered: {:?}",
        String::from_utf8_lossy(&early)
    );
    // The next request is the one the server waits for: answered, and in step after.
    write_master(&pty.master, b"auth:alice:example.org:s3cret: with colon\n");
    assert_eq!(read_master(&pty.master, Duration::from_millis(400)), b"1\n");
    write_master(&pty.master, b"auth:alice:example.org:wrong\n");
    assert_eq!(read_master(&pty.master, Duration::from_millis(400)), b"0\n");
    drop(pty.master);
    let status = wait_timeout(&mut child, Duration::from_secs(5)).expect("helper outlived pty");
    assert!(status.success());
}

/// Under Prosody a helper that exits non-zero is never restarted: one that cannot start
/// (here: its users file is missing) must exit 0, silently on the terminal, so that logins
/// work again once the admin fixes the file. Over pipes the status stays non-zero.
#[test]
fn start_failure_under_a_terminal_exits_zero_silently() {
    let dir = Dir::new("pty-startfail");
    let config = dir.path("xmpp-extauth.conf");
    fs::write(
        &config,
        format!(
            "log = stderr\nusers_file = {}\n",
            dir.path("missing").display()
        ),
    )
    .unwrap();
    let pty = openpty();
    let mut child = spawn_on(&pty, &config);
    drop(pty.slave);
    write_master(&pty.master, b"auth:alice:example.org:pw\n");
    let status = wait_timeout(&mut child, Duration::from_secs(5)).expect("helper did not exit");
    assert_eq!(status.code(), Some(0));
    let seen = read_master(&pty.master, Duration::from_millis(200));
    // The terminal never went raw, so it may echo the request (with ONLCR's \r).
    assert!(
        seen.is_empty() || seen == b"auth:alice:example.org:pw\r\n",
        "nothing but the echo may reach the terminal: {:?}",
        String::from_utf8_lossy(&seen)
    );
    // The same start over pipes: a non-zero status and the reason on stderr.
    let out = run_with_input(cmd(&config), b"auth:alice:example.org:pw\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn inherited_descriptors_are_closed() {
    let dir = Dir::new("fds");
    let config = setup(&dir);
    let (r, w) = {
        let mut fds = [0; 2];
        // SAFETY: pipe fills two descriptors (without CLOEXEC, so the child inherits them).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fresh descriptors we own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    };
    let mut child = cmd(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(w);
    std::thread::sleep(Duration::from_millis(300));
    let fds: Vec<String> = fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let above_2: Vec<&String> = fds
        .iter()
        .filter(|f| f.parse::<i32>().unwrap() > 2)
        .collect();
    // Only descriptors the helper opened itself (syslog socket, ...) may remain: the
    // inherited write end must be gone, so the read end sees EOF.
    let mut p = libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 1000) };
    assert!(
        n == 1 && p.revents & libc::POLLHUP != 0,
        "helper kept the inherited pipe open (fds {above_2:?})"
    );
    drop(child.stdin.take());
    child.wait().unwrap();
}

#[test]
fn config_check_prints_settings_and_opens_the_backend() {
    let dir = Dir::new("cfgcheck");
    let config = setup(&dir);
    let mut c = cmd(&config);
    c.args(["config", "check"]);
    let out = run_with_input(c, b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("users_file = {}", dir.path("users").display())),
        "{text}"
    );
    assert!(text.contains("# backend ok: file"), "{text}");

    let mut c = cmd(&config);
    c.args(["config", "check", "--users-file", "/nonexistent/users"]);
    let out = run_with_input(c, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/users"));
}

#[test]
fn closed_stdout_is_a_normal_end() {
    // `xmpp-extauth --help | head -1`: the reader goes away first; exit 0, no panic.
    let mut child = Command::new(BIN)
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
