//! Locked, atomic rewrites of the users file (invariant 6: never half-written).
//!
//! 1. exclusive `flock` on `<users>.lock` beside the file (created 0600): a lock file,
//!    not the users file itself, because the users file is replaced by rename and a lock
//!    on a replaced inode protects nothing;
//! 2. re-read the file under the lock: another process (a second helper, `user add`)
//!    may have changed it since we last looked;
//! 3. apply the edit to the bytes (pure functions in `edit`);
//! 4. write a temporary file in the same directory (`O_EXCL`, random name, owner and mode
//!    of the original), fsync it, rename it over the original, fsync the directory.
//!
//! Any error removes the temporary file and leaves the original untouched.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::MAX_FILE_SIZE;

/// Mode of a users file we create: the server's group may read it, nobody else.
pub(crate) const NEW_FILE_MODE: u32 = 0o640;

/// The result of an edit of the current bytes.
pub(crate) enum Edit<T> {
    /// Write these bytes, then return `T`.
    Write(Vec<u8>, T),
    /// Nothing to write (e.g. the user already exists); return `T`.
    Keep(T),
}

/// What a completed write left behind, so the backend can adopt it without a reload.
pub(crate) struct Written {
    pub bytes: Vec<u8>,
    pub meta: fs::Metadata,
}

/// Why a write failed. The text names the path and never holds a password.
#[derive(Debug)]
pub(crate) struct WriteError(pub String);

fn err(path: &Path, what: &str, e: io::Error) -> WriteError {
    WriteError(format!("{}: {what}: {e}", path.display()))
}

/// `<users>.lock`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".lock");
    PathBuf::from(s)
}

/// Takes the exclusive lock, waiting no later than `deadline`. The lock lasts as long as
/// the returned file is open.
///
/// The wait is a blocking `flock(LOCK_EX)`, which queues us in the kernel: polling with
/// `LOCK_NB` let a writer that had just released the lock take it again before sleepers
/// woke, so under contention some writers lost repeatedly and were refused at the
/// deadline (ejabberd then reports a `setpass` as done). The deadline is kept by a timer
/// that interrupts the wait (see [`alarm`]); where no timer can be had, we poll.
pub(crate) fn lock(path: &Path, deadline: Instant) -> Result<File, WriteError> {
    let lp = lock_path(path);
    // flock needs only a readable descriptor, so the lock file never has to be writable by
    // the server's user: an admin's `xmpp-extauth user add` run as root may create it.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&lp);
    let f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&lp)
            .map_err(|e| err(&lp, "cannot create lock file", e))?,
        Err(e) => return Err(err(&lp, "cannot open lock file", e)),
    };
    share_lock_with_owner(&f, path);
    // Uncontended (the usual case): no timer, no signal handler.
    match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => return Ok(f),
        Err(e) if is_busy(&e) => {}
        Err(e) => return Err(err(&lp, "cannot lock", e)),
    }
    let timed_out = || {
        WriteError(format!(
            "{}: lock held by another process past the deadline",
            lp.display()
        ))
    };
    #[cfg(target_os = "linux")]
    if let Ok(alarm) = alarm::Alarm::new() {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(timed_out());
            }
            if let Err(e) = alarm.arm(deadline - now) {
                return Err(err(&lp, "cannot set the lock timer", e));
            }
            match flock(&f, libc::LOCK_EX) {
                Ok(()) => return Ok(f),
                // The timer, or another signal: the loop checks the time and re-arms.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(&lp, "cannot lock", e)),
            }
        }
    }
    match lock_by_polling(&f, deadline) {
        Ok(true) => Ok(f),
        Ok(false) => Err(timed_out()),
        Err(e) => Err(err(&lp, "cannot lock", e)),
    }
}

/// The fallback where no timer can be had: try every 5 ms until `deadline`. `Ok(false)`:
/// still held by someone else at the deadline.
fn lock_by_polling(f: &File, deadline: Instant) -> io::Result<bool> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
        match flock(f, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => return Ok(true),
            Err(e) if is_busy(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

fn flock(f: &File, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn is_busy(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EWOULDBLOCK) || e.kind() == io::ErrorKind::Interrupted
}

/// A one-thread alarm clock that interrupts a blocking system call (here `flock`) with
/// `EINTR`, so a blocking wait can still honour a deadline without a helper thread.
///
/// - `SIGALRM` gets a no-op handler installed without `SA_RESTART` (so the call is not
///   restarted); the previous disposition is restored when the last alarm is dropped.
/// - The timer is a POSIX timer aimed at the calling thread (`SIGEV_THREAD_ID`), not
///   `setitimer`: that one is process-wide and its signal may be taken by any thread, which
///   in a multi-threaded process (the test harness, with several backends) would leave our
///   wait uninterrupted; per-call timers also cannot clobber each other.
/// - After the first expiry it repeats every 10 ms, so a signal that lands just before the
///   thread enters the wait (a lost wake-up) is followed by another.
/// - `SIGALRM` is unblocked in this thread for the alarm's life, in case a caller blocked it.
#[cfg(target_os = "linux")]
mod alarm {
    use std::io;
    use std::sync::Mutex;
    use std::time::Duration;

    extern "C" fn wake(_: libc::c_int) {}

    /// Alarms alive in this process and the `SIGALRM` disposition they replaced: the
    /// handler is process-wide, so it is installed by the first and restored by the last.
    static HANDLER: Mutex<(usize, Option<libc::sigaction>)> = Mutex::new((0, None));

    pub(super) struct Alarm {
        timer: libc::timer_t,
        old_mask: libc::sigset_t,
    }

    fn check(r: libc::c_int) -> io::Result<()> {
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn install() -> io::Result<()> {
        let mut h = HANDLER.lock().unwrap_or_else(|p| p.into_inner());
        if h.0 == 0 {
            // SAFETY: plain-data structs filled in before use; `wake` is async-signal-safe
            // (it does nothing).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = wake as extern "C" fn(libc::c_int) as libc::sighandler_t;
                sa.sa_flags = 0; // no SA_RESTART: the blocked flock must return EINTR
                libc::sigemptyset(&mut sa.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                check(libc::sigaction(libc::SIGALRM, &sa, &mut old))?;
                h.1 = Some(old);
            }
        }
        h.0 += 1;
        Ok(())
    }

    fn uninstall() {
        let mut h = HANDLER.lock().unwrap_or_else(|p| p.into_inner());
        h.0 = h.0.saturating_sub(1);
        if h.0 == 0 {
            if let Some(old) = h.1.take() {
                // SAFETY: restoring a disposition sigaction gave us.
                unsafe { libc::sigaction(libc::SIGALRM, &old, std::ptr::null_mut()) };
            }
        }
    }

    impl Alarm {
        /// Installs the handler and creates a disarmed timer for this thread.
        pub(super) fn new() -> io::Result<Alarm> {
            install()?;
            // SAFETY: zeroed plain-data structs, filled in before use; the thread id is
            // this thread's, which outlives the alarm (dropped before we return).
            unsafe {
                let mut sev: libc::sigevent = std::mem::zeroed();
                sev.sigev_notify = libc::SIGEV_THREAD_ID;
                sev.sigev_signo = libc::SIGALRM;
                sev.sigev_notify_thread_id = libc::syscall(libc::SYS_gettid) as libc::c_int;
                let mut timer: libc::timer_t = std::mem::zeroed();
                if let Err(e) = check(libc::timer_create(
                    libc::CLOCK_MONOTONIC,
                    &mut sev,
                    &mut timer,
                )) {
                    uninstall();
                    return Err(e);
                }
                let mut unblock: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut unblock);
                libc::sigaddset(&mut unblock, libc::SIGALRM);
                let mut old_mask: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, &mut old_mask);
                Ok(Alarm { timer, old_mask })
            }
        }

        /// First signal after `after` (at least 1 µs: zero would disarm), then every 10 ms.
        pub(super) fn arm(&self, after: Duration) -> io::Result<()> {
            let ts = |d: Duration| libc::timespec {
                tv_sec: d.as_secs().min(i32::MAX as u64) as _, // time_t: 32 or 64 bits depending on the libc
                tv_nsec: d.subsec_nanos() as _,
            };
            let spec = libc::itimerspec {
                it_interval: ts(Duration::from_millis(10)),
                it_value: ts(after.max(Duration::from_micros(1))),
            };
            // SAFETY: a timer we created; a valid itimerspec.
            check(unsafe { libc::timer_settime(self.timer, 0, &spec, std::ptr::null_mut()) })
        }
    }

    impl Drop for Alarm {
        fn drop(&mut self) {
            // SAFETY: deleting the timer we created (a signal it already raised at this
            // thread is delivered, to the no-op handler, on this syscall's return, before
            // the handler can be restored); restoring our own signal mask.
            unsafe {
                libc::timer_delete(self.timer);
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.old_mask, std::ptr::null_mut());
            }
            uninstall();
        }
    }
}

/// When root (an admin's `user add`) holds a lock file, hand it to the users file's owner
/// and group (or its directory's, before the file exists), mode 0640, so the server's user can still take the lock afterwards. Best
/// effort: a failure only matters if the server's user later cannot open it, and that
/// error names the lock file.
fn share_lock_with_owner(lock: &File, users: &Path) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    // A users file not written yet will take its directory's group: so does the lock.
    let owner = fs::metadata(users).or_else(|_| {
        fs::metadata(
            users
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
    });
    let (Ok(lm), Ok(um)) = (lock.metadata(), owner) else {
        return;
    };
    if lm.uid() == um.uid() && lm.gid() == um.gid() && lm.mode() & 0o777 == 0o640 {
        return;
    }
    // SAFETY: fchown/fchmod on a descriptor we own.
    unsafe {
        libc::fchown(lock.as_raw_fd(), um.uid(), um.gid());
        libc::fchmod(lock.as_raw_fd(), 0o640);
    }
}

/// Reads the current file under the lock. `Ok(None)` if it does not exist.
fn read_current(path: &Path) -> Result<Option<(Vec<u8>, fs::Metadata)>, WriteError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, "cannot stat", e)),
    };
    if !meta.file_type().is_file() {
        // Renaming over a symlink would replace the link, not its target.
        return Err(WriteError(format!(
            "{}: not a regular file (a symlink?); refusing to rewrite it",
            path.display()
        )));
    }
    let f = File::open(path).map_err(|e| err(path, "cannot open", e))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(path, "cannot read", e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(WriteError(format!("{}: file too large", path.display())));
    }
    Ok(Some((bytes, meta)))
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Locks, re-reads, edits and atomically replaces the users file.
///
/// `create`: whether a missing file may be created (mode 0640); otherwise a missing
/// file is an error. `deadline`: checked before starting and while waiting for the lock.
pub(crate) fn modify<T>(
    path: &Path,
    deadline: Instant,
    create: bool,
    edit: impl FnOnce(&[u8]) -> Edit<T>,
) -> Result<(T, Option<Written>), WriteError> {
    if Instant::now() >= deadline {
        return Err(WriteError(format!(
            "{}: no time left before the deadline to write",
            path.display()
        )));
    }
    let _lock = lock(path, deadline)?;
    remove_stale_temps(path);
    let current = read_current(path)?;
    if current.is_none() && !create {
        return Err(WriteError(format!("{}: no such file", path.display())));
    }
    let old = current.as_ref().map_or(&[][..], |(b, _)| b.as_slice());
    let (bytes, value) = match edit(old) {
        Edit::Keep(v) => return Ok((v, None)),
        Edit::Write(b, v) => (b, v),
    };
    let meta = replace(path, &bytes, current.as_ref().map(|(_, m)| m))?;
    Ok((value, Some(Written { bytes, meta })))
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
fn replace(
    path: &Path,
    bytes: &[u8],
    orig: Option<&fs::Metadata>,
) -> Result<fs::Metadata, WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (mut f, tmp) = create_temp(&dir, &temp_prefix(path))?;
    let mut guard = TempGuard(Some(tmp.clone()));
    let mode = orig.map_or(NEW_FILE_MODE, |m| m.mode() & 0o7777);
    // SAFETY: fchmod/fchown on a descriptor we own.
    if unsafe { libc::fchmod(f.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(err(&tmp, "cannot set mode", io::Error::last_os_error()));
    }
    if orig.is_none() {
        // A new file takes its directory's group (e.g. /etc/xmpp-extauth root:prosody
        // 0750), so the server can read what `user add` created as root. Best effort.
        if let Ok(d) = fs::metadata(&dir) {
            // SAFETY: fchown on a descriptor we own; uid -1 means unchanged.
            unsafe { libc::fchown(f.as_raw_fd(), u32::MAX, d.gid()) };
        }
    }
    if let Some(m) = orig {
        // SAFETY: as above.
        if unsafe { libc::fchown(f.as_raw_fd(), m.uid(), m.gid()) } != 0 {
            // Unprivileged and already the right owner is fine; anything else would
            // hand the file to someone else (or lock the server out of it).
            let e = io::Error::last_os_error();
            let now = f.metadata().map_err(|e| err(&tmp, "cannot stat", e))?;
            if now.uid() != m.uid() || now.gid() != m.gid() {
                return Err(err(&tmp, "cannot give it the original's owner", e));
            }
        }
    }
    f.write_all(bytes)
        .map_err(|e| err(&tmp, "cannot write", e))?;
    f.sync_all().map_err(|e| err(&tmp, "cannot fsync", e))?;
    fs::rename(&tmp, path).map_err(|e| err(path, "cannot rename the new file into place", e))?;
    guard.0 = None;
    // The rename is durable only once the directory is on disk.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    // fstat after the rename: the identity of exactly what we wrote, even if another
    // process replaces the path right after.
    f.metadata()
        .map_err(|e| err(path, "cannot stat the new file", e))
}

/// `.<base>.tmp.` — the prefix of our temporary files.
fn temp_prefix(path: &Path) -> Vec<u8> {
    let mut p = b".".to_vec();
    p.extend_from_slice(path.file_name().map_or(&[][..], |n| n.as_bytes()));
    p.extend_from_slice(b".tmp.");
    p
}

/// Removes temporary files a writer killed mid-write (`kill -9`, power cut) left behind.
/// Safe only under the lock: no live writer can own one then.
fn remove_stale_temps(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let n = name.as_bytes();
        if n.len() == prefix.len() + 16
            && n.starts_with(&prefix)
            && n[prefix.len()..].iter().all(u8::is_ascii_hexdigit)
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `O_CREAT|O_EXCL` with a random name: `.<base>.tmp.<hex>`.
fn create_temp(dir: &Path, prefix: &[u8]) -> Result<(File, PathBuf), WriteError> {
    for _ in 0..16 {
        let mut rnd = [0u8; 8];
        if crate::hash::random_bytes(&mut rnd).is_err() {
            // Uniqueness, not secrecy, is what O_EXCL needs here.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            rnd = (t ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
        }
        let mut name = prefix.to_vec();
        for b in rnd {
            name.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        let p = dir.join(std::ffi::OsStr::from_bytes(&name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&p)
        {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(&p, "cannot create temporary file", e)),
        }
    }
    Err(WriteError(format!(
        "{}: cannot find a free temporary file name",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIGALRM disposition is process-wide: tests that read it run one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("xmpp-extauth-lock-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d.join("users")
    }

    /// Another open file description holding the lock, as another process would.
    fn hold(users: &Path) -> File {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path(users))
            .unwrap();
        flock(&f, libc::LOCK_EX).unwrap();
        f
    }

    fn sigalrm_handler() -> libc::sighandler_t {
        // SAFETY: querying the disposition only.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut old);
            old.sa_sigaction
        }
    }

    /// The mechanism itself (not the polling fallback): the timer ends a blocking flock.
    #[cfg(target_os = "linux")]
    #[test]
    fn alarm_interrupts_a_blocking_flock() {
        let _serial = serial();
        let users = scratch("alarm");
        let _held = hold(&users);
        let f = File::open(lock_path(&users)).unwrap();
        let a = alarm::Alarm::new().unwrap();
        a.arm(Duration::from_millis(50)).unwrap();
        let t = Instant::now();
        let r = flock(&f, libc::LOCK_EX);
        let took = t.elapsed();
        drop(a);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::Interrupted);
        assert!(took >= Duration::from_millis(45), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let _ = fs::remove_dir_all(users.parent().unwrap());
    }

    /// The polling fallback (used where timer_create fails): honours the deadline while
    /// the lock is held, and takes the lock soon after it is released.
    #[test]
    fn polling_fallback_keeps_the_deadline_and_gets_a_released_lock() {
        let _serial = serial();
        let users = scratch("poll");
        let held = hold(&users);
        let f = File::open(lock_path(&users)).unwrap();
        let t = Instant::now();
        assert!(!lock_by_polling(&f, t + Duration::from_millis(80)).unwrap());
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(80), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        let t = Instant::now();
        assert!(lock_by_polling(&f, t + Duration::from_secs(20)).unwrap());
        let took = t.elapsed();
        releaser.join().unwrap();
        assert!(took >= Duration::from_millis(45), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        drop(f);
        let _ = fs::remove_dir_all(users.parent().unwrap());
    }

    #[test]
    fn waiter_gets_the_lock_as_soon_as_it_is_released() {
        let _serial = serial();
        let users = scratch("release");
        let held = hold(&users);
        let t = Instant::now();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let got = lock(&users, Instant::now() + Duration::from_secs(20));
        let took = t.elapsed();
        releaser.join().unwrap();
        assert!(got.is_ok());
        assert!(took >= Duration::from_millis(90), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        let _ = fs::remove_dir_all(users.parent().unwrap());
    }

    /// Several threads waiting at once (the test harness; the binary has one): each gives
    /// up at its own deadline, and the SIGALRM disposition is restored afterwards.
    #[test]
    fn each_waiting_thread_keeps_its_own_deadline() {
        let _serial = serial();
        let users = scratch("deadlines");
        let before = sigalrm_handler();
        let _held = hold(&users);
        let waiters: Vec<_> = (1..=4u64)
            .map(|i| {
                let users = users.clone();
                std::thread::spawn(move || {
                    let wait = Duration::from_millis(100 * i);
                    let t = Instant::now();
                    let r = lock(&users, t + wait);
                    (wait, t.elapsed(), r.is_err())
                })
            })
            .collect();
        for w in waiters {
            let (wait, took, refused) = w.join().unwrap();
            assert!(refused);
            assert!(took >= wait, "{took:?} < {wait:?}");
            assert!(
                took < wait + Duration::from_secs(2),
                "{took:?} for {wait:?}"
            );
        }
        assert_eq!(sigalrm_handler(), before);
        let _ = fs::remove_dir_all(users.parent().unwrap());
    }
}
