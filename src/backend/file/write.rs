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

/// Takes the exclusive lock, polling with `LOCK_NB` so a held lock cannot keep us past
/// `deadline`. The lock lasts as long as the returned file is open.
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
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(f);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) && e.kind() != io::ErrorKind::Interrupted {
            return Err(err(&lp, "cannot lock", e));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WriteError(format!(
                "{}: lock held by another process past the deadline",
                lp.display()
            )));
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
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
