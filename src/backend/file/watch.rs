//! Knowing whether the users file may have changed without a system call per request.
//!
//! Before this, every request began with a `stat` of the users file: one syscall (and a
//! path walk) on top of the `read` and `write` a round trip needs, ~25 % of the round trip.
//! Instead we watch the file's directory with inotify and let the kernel tell us, by
//! signal, that something there happened; between events a request costs no syscall here.
//!
//! Why a signal rather than polling the inotify descriptor: looking at the descriptor is a
//! syscall too. With `O_ASYNC` the kernel sends `SIGIO` from inside the writer's own
//! `rename`/`write`/`close`, so the signal is pending on us before the writer's syscall
//! returns. Whatever the writer does next (answer its server, which tells the client,
//! which logs in again through us) comes after, and our `read` of that request returns to
//! user space only after the pending signal's handler ran. So a change made *before* a
//! request was sent is always seen by that request: the same guarantee a `stat` per
//! request gave, for every change inotify reports.
//!
//! What inotify does not report (a file on NFS changed by another machine, a parent
//! directory renamed, the target of a symlinked parent directory edited) is still caught by
//! a `stat` at least every [`RECHECK`]. A change event never carries a verdict: it only
//! makes the backend `stat` and, if the identity changed, re-read; false alarms (other
//! files in the same directory, our own writes) cost one `stat`.
//!
//! The handler only bumps a counter. Several watches in one process (the test harness)
//! share it: an event for one makes all of them look, which is correct, only slower.
//! Events coalesce in the kernel queue (a repeat of the last queued event sends no
//! signal), which is why the queue is drained *before* the `stat`: anything merged into a
//! queued event happened before the drain, so before the `stat`; anything after the drain
//! meets an empty queue and signals again.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A `stat` at least this often even with no event: the backstop for changes inotify
/// cannot see. One syscall a second costs nothing measurable.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// Events in any watched directory since the process started (wrapping); bumped by the
/// handler. 32 bits, not 64: 32-bit MIPS (OpenWrt's mips_24kc and mipsel_24kc) has no
/// 64-bit atomics, and a signal handler needs a lock-free one. Only "changed since the
/// last look" is read from it: a miss would take exactly a multiple of 2^32 signals
/// between two requests, and even then the [`RECHECK`] look comes within a second.
static EVENTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_sigio(_: libc::c_int) {
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// On the directories: names appearing, vanishing or moving (a file replaced by
/// `rename`, deleted, created), and the directory itself going away.
const DIR_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// On the file itself (the inode the path names now): content and metadata changes. Not
/// on the directory, so a log file or anything else written in the same directory raises
/// no alarm.
const FILE_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// An inotify watch on the users file and the directories that hold it.
pub(crate) struct Watch {
    fd: OwnedFd,
    path: PathBuf,
    /// The value of [`EVENTS`] at the last look.
    seen: u32,
    /// When the next look is due without an event ([`RECHECK`] after the last one).
    /// Kept as a time to compare with, not the last look's time: an `Instant` comparison
    /// costs a few instructions where a subtraction cost some 40 on every request.
    next_look: Instant,
    /// Directories watched so far (never removed: a stale one only costs false alarms).
    dirs: Vec<PathBuf>,
}

impl Watch {
    /// Watches the directory of `path` (and, if `path` is or goes through a symlink, the
    /// directory of what it points to). An error means: keep a `stat` per request.
    pub(crate) fn start(path: &Path) -> io::Result<Watch> {
        install_handler()?;
        // SAFETY: inotify_init1 has no memory arguments; a non-negative result is a new
        // descriptor we own from here on.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: fcntl on our own descriptor with integer arguments.
        unsafe {
            if libc::fcntl(raw, libc::F_SETOWN, libc::getpid()) < 0
                || libc::fcntl(raw, libc::F_SETFL, libc::O_ASYNC | libc::O_NONBLOCK) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        let mut w = Watch {
            fd,
            path: path.to_path_buf(),
            seen: 0,
            next_look: Instant::now() + RECHECK,
            dirs: Vec::new(),
        };
        w.add_dir(&parent(path))?;
        w.rearm();
        // Look at the first request: the file may have changed between its load and now.
        w.seen = EVENTS.load(Ordering::SeqCst).wrapping_sub(1);
        Ok(w)
    }

    /// True if the file must be looked at (`stat`) now: an event came since the last
    /// look, or the last look is [`RECHECK`] old.
    ///
    /// `now` may be any clock reading that advances with time, offset by a constant: the
    /// request's deadline (its arrival plus the configured deadline) serves, and saves a
    /// clock read per request (a tenth of a pipelined request's cost).
    ///
    /// Before saying so it re-arms the watch on whatever the path names now (a file
    /// renamed into place is a new inode; a symlink may point elsewhere), then drains the
    /// queue: a change after this point raises a new alarm, a change before it is seen by
    /// the caller's `stat`.
    pub(crate) fn should_look(&mut self, now: Instant) -> bool {
        let events = EVENTS.load(Ordering::SeqCst);
        if events == self.seen && now < self.next_look {
            return false;
        }
        self.seen = events;
        self.next_look = now.checked_add(RECHECK).unwrap_or(now);
        self.rearm();
        self.drain();
        true
    }

    /// Watches the inode the path names now and the directory it really lives in.
    /// Failures are not errors: a missing file is noticed through its directory when it
    /// comes back, and everything else within [`RECHECK`].
    fn rearm(&mut self) {
        let _ = add_watch(&self.fd, &self.path, FILE_MASK);
        if let Ok(real) = std::fs::canonicalize(&self.path) {
            let dir = parent(&real);
            if let Err(e) = self.add_dir(&dir) {
                debug!(
                    "users file {}: cannot watch {}: {e}; changes there are seen within {} s",
                    self.path.display(),
                    dir.display(),
                    RECHECK.as_secs()
                );
            }
        }
    }

    fn add_dir(&mut self, dir: &Path) -> io::Result<()> {
        if self.dirs.iter().any(|d| d == dir) {
            return Ok(());
        }
        add_watch(&self.fd, dir, DIR_MASK)?;
        self.dirs.push(dir.to_path_buf());
        Ok(())
    }

    /// Empties the event queue; the events themselves do not matter, only that some came.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: buf is valid for its length; the descriptor is ours and non-blocking.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r > 0 {
                continue;
            }
            if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return; // EAGAIN: empty
        }
    }
}

/// Adds (or updates) the watch on what `path` names now, following symlinks.
fn add_watch(fd: &OwnedFd, path: &Path, mask: u32) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path and our own descriptor.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) };
    if wd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The directory a path's last component lives in (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Installs the `SIGIO` handler once per process, with `SA_RESTART` so reads and writes
/// of the serving loop are not interrupted, and unblocks `SIGIO` in case the server
/// started us with it blocked (a blocked signal would leave every change unseen until
/// the next [`RECHECK`]).
fn install_handler() -> io::Result<()> {
    static ONCE: Once = Once::new();
    /// 0, or the errno of a failed installation.
    static RESULT: AtomicI32 = AtomicI32::new(0);
    ONCE.call_once(|| {
        // SAFETY: plain-data structs filled in before use; the handler is
        // async-signal-safe (one atomic add).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigio as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(libc::SIGIO, &sa, std::ptr::null_mut()) != 0 {
                let e = io::Error::last_os_error().raw_os_error();
                RESULT.store(e.unwrap_or(libc::EINVAL), Ordering::SeqCst);
                return;
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGIO);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    });
    match RESULT.load(Ordering::SeqCst) {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}
