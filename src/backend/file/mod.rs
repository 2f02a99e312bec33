//! Users-file backend: `localpart@domain:HASH` lines, indexed in memory, re-read when
//! the file changes, rewritten under a lock when writes are allowed.
//!
//! - [`parse`]: one line -> entry / comment / bad line (pure).
//! - [`index`]: the file bytes plus an open-addressing table (fast load, small memory).
//! - [`edit`]: pure edits of the file bytes that keep everything else byte for byte.
//! - [`write`]: lock file, re-read under the lock, temp file, fsync, rename.
//! - [`watch`]: inotify + SIGIO, so an unchanged file costs no `stat` per request.
//!
//! Precedence: an exact `user@domain` entry wins over a domain-less `user` entry; the
//! first of duplicate entries wins. An entry whose hash was refused at load still takes
//! its place in that order but never authenticates and does not count as an existing
//! user (fail closed: a broken exact line must not silently fall back to another one).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Verdict};
use crate::config::Settings;
use crate::hash::{self, Cost, Scheme};
use crate::log::Shown;
use crate::request::Request;

pub(crate) mod edit;
pub(crate) mod index;
pub(crate) mod keyhash;
pub(crate) mod parse;
pub(crate) mod watch;
pub(crate) mod write;

use index::{Found, Report, Table};
use write::{Edit, WriteError};

/// Largest users file we load: far above any real one (100,000 users is ~12 MB), low
/// enough that a runaway file cannot exhaust a router's memory.
pub const MAX_FILE_SIZE: u64 = 256 << 20;

/// Why the backend cannot start. The text is complete (`path: detail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

/// What `stat` says about the file; a change in any field means "re-read it". ctime is
/// included so even a `touch -r` that restores mtime is noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(m: &fs::Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

pub struct FileBackend {
    path: PathBuf,
    table: Table,
    /// Identity of the loaded copy (`None`: started without a file).
    loaded: Option<Identity>,
    /// Identity of a version that failed to load, so its error is logged once.
    failed: Option<Identity>,
    /// The file is gone and that has been logged.
    missing_logged: bool,
    allow_writes: bool,
    /// False for an in-memory users file (`demo`): no reload, no writes.
    live: bool,
    scheme: Scheme,
    rounds: u32,
    /// While serving: tells when the file may have changed, so requests need no `stat`.
    /// `None`: a `stat` per request.
    watch: Option<watch::Watch>,
}

/// Lock wait for admin commands, which have no server deadline.
pub(crate) const ADMIN_LOCK_WAIT: Duration = Duration::from_secs(10);

impl FileBackend {
    /// Loads the users file named in the settings.
    ///
    /// Refuses a world-writable file (or one in a world-writable directory without the
    /// sticky bit): anyone could then add themselves. A missing file is an error unless
    /// `allow_writes` is on, in which case we start empty and the first write creates it.
    pub fn open(settings: &Settings) -> Result<FileBackend, FileError> {
        let path = settings.users_file.clone();
        let mut b = FileBackend {
            path,
            table: Table::empty(),
            loaded: None,
            failed: None,
            missing_logged: false,
            allow_writes: settings.allow_writes,
            live: true,
            scheme: settings.hash_scheme,
            rounds: settings.hash_rounds,
            watch: None,
        };
        match fs::metadata(&b.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && b.allow_writes => {
                check_dir(&b.path).map_err(FileError)?;
                warn!(
                    "users file {}: does not exist; starting with no users (allow_writes is on: the first write creates it, mode 0640)",
                    b.path.display()
                );
                b.missing_logged = true;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(FileError(format!(
                    "users file {}: does not exist (create it with `xmpp-extauth user add USER@HOST`, or set users_file)",
                    b.path.display()
                )));
            }
            Err(e) => {
                return Err(FileError(format!("users file {}: {e}", b.path.display())));
            }
            Ok(_) => {
                let (table, report, id) = load(&b.path).map_err(FileError)?;
                log_report(&b.path, &report);
                b.table = table;
                b.loaded = Some(id);
            }
        }
        if b.allow_writes {
            warn_if_not_writable(&b.path);
        }
        Ok(b)
    }

    /// A read-only backend over users-file bytes held in memory (the `demo` command's
    /// embedded file). `label` stands for the path in logs and `describe()`. Never
    /// reloads; write requests are refused. Bad lines are logged like a real file's.
    pub fn from_bytes(label: &str, bytes: Vec<u8>, settings: &Settings) -> FileBackend {
        let (table, report) = Table::build(bytes);
        let path = PathBuf::from(label);
        log_report(&path, &report);
        FileBackend {
            path,
            table,
            loaded: None,
            failed: None,
            missing_logged: false,
            allow_writes: false,
            live: false,
            scheme: settings.hash_scheme,
            rounds: settings.hash_rounds,
            watch: None,
        }
    }

    /// Number of indexed entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Re-reads the file if its identity changed. Keeps the last good copy otherwise.
    /// `deadline` stands for the time (see [`watch::Watch::should_look`]).
    fn refresh(&mut self, deadline: Instant) {
        if !self.live {
            return;
        }
        if let Some(w) = &mut self.watch {
            if !w.should_look(deadline) {
                return;
            }
        }
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => {
                if !self.missing_logged {
                    error!(
                        "users file {}: {e}; keeping the last good copy ({})",
                        self.path.display(),
                        entries(self.table.len())
                    );
                    self.missing_logged = true;
                }
                return;
            }
        };
        self.missing_logged = false;
        let id = Identity::of(&meta);
        if Some(id) == self.loaded || Some(id) == self.failed {
            return;
        }
        match load(&self.path) {
            Ok((table, report, id)) => {
                log_report(&self.path, &report);
                info!(
                    "users file {}: reloaded ({})",
                    self.path.display(),
                    entries(table.len())
                );
                self.table = table;
                self.loaded = Some(id);
                self.failed = None;
            }
            Err(msg) => {
                error!(
                    "{msg}; keeping the last good copy ({})",
                    entries(self.table.len())
                );
                self.failed = Some(id);
            }
        }
    }

    fn auth(&self, user: &[u8], host: &[u8], password: &[u8]) -> Verdict {
        match self.table.lookup(user, host) {
            Some(Found::Hash(stored)) => match hash::parse(stored) {
                Ok(h) => {
                    if h.verify(password) {
                        Verdict::Yes
                    } else {
                        Verdict::No
                    }
                }
                Err(_) => {
                    self.dummy_verify(password);
                    Verdict::No
                }
            },
            Some(Found::Blocked) | None => {
                // Unknown users cost one verification too: timing must not tell who exists.
                self.dummy_verify(password);
                Verdict::No
            }
        }
    }

    /// One verification's worth of work at the cost of the file's own hashes (most common
    /// scheme and rounds, or `{PLAIN}`, found at load), not the configured `hash_rounds`: a
    /// file written with another cost would otherwise answer unknown users faster or
    /// slower than known ones. The configured cost only when the file has no valid entry.
    fn dummy_verify(&self, password: &[u8]) {
        let cost = self
            .table
            .dummy_cost()
            .unwrap_or(Cost::Crypt(self.scheme, self.rounds));
        hash::dummy_verify(cost, password);
    }

    fn exists(&self, user: &[u8], host: &[u8]) -> bool {
        self.table.exists(user, host)
    }

    fn write(&mut self, req: &Request<'_>, deadline: Instant) -> Verdict {
        let (user, host) = (req.user(), req.host());
        if !normalised_request_name(user, host) {
            warn!(
                "{} {}: refused: not a valid normalised user@host for the users file",
                req.command(),
                index::show_name(user, Some(host))
            );
            return Verdict::No;
        }
        let new_hash = |password: &[u8]| match hash::make(self.scheme, self.rounds, password) {
            Ok(h) => Some(h),
            Err(e) => {
                error!("{}: cannot make a new hash: {e}", req.command());
                None
            }
        };
        let result = match *req {
            Request::SetPass { password, .. } => {
                let Some(h) = new_hash(password) else {
                    return Verdict::Unavailable;
                };
                write::modify(&self.path, deadline, true, |data| {
                    if let Some(r) = edit::find(data, user, Some(host)).into_iter().next() {
                        Edit::Write(edit::replace_hash(data, r, h.as_bytes()), Verdict::Yes)
                    } else if !edit::find(data, user, None).is_empty() {
                        // Only a domain-less entry: changing it would change the password
                        // on every domain, while the server asked for this JID only. An
                        // exact entry now takes precedence for this domain.
                        Edit::Write(
                            edit::append(data, user, Some(host), h.as_bytes()),
                            Verdict::Yes,
                        )
                    } else {
                        Edit::Keep(Verdict::No)
                    }
                })
            }
            Request::TryRegister { password, .. } => {
                if self.table.lookup(user, host).is_some() {
                    return Verdict::No;
                }
                let Some(h) = new_hash(password) else {
                    return Verdict::Unavailable;
                };
                write::modify(&self.path, deadline, true, |data| {
                    if edit::find(data, user, Some(host)).is_empty()
                        && edit::find(data, user, None).is_empty()
                    {
                        Edit::Write(
                            edit::append(data, user, Some(host), h.as_bytes()),
                            Verdict::Yes,
                        )
                    } else {
                        Edit::Keep(Verdict::No)
                    }
                })
            }
            Request::RemoveUser { .. } | Request::RemoveUser3 { .. } => {
                if let Request::RemoveUser3 { password, .. } = *req {
                    if self.auth(user, host, password) != Verdict::Yes {
                        return Verdict::No;
                    }
                }
                write::modify(&self.path, deadline, true, |data| {
                    // Every exact line: a later duplicate must not resurrect the user.
                    let lines = edit::find(data, user, Some(host));
                    if !lines.is_empty() {
                        if !edit::find(data, user, None).is_empty() {
                            warn!(
                                "{} {}: removed the exact entry; a domain-less entry {} still lets this user in",
                                req.command(),
                                index::show_name(user, Some(host)),
                                Shown(user)
                            );
                        }
                        Edit::Write(edit::remove(data, &lines), Verdict::Yes)
                    } else if !edit::find(data, user, None).is_empty() {
                        warn!(
                            "{} {}: refused: only a domain-less entry matches; removing it would delete {} on every domain",
                            req.command(),
                            index::show_name(user, Some(host)),
                            Shown(user)
                        );
                        Edit::Keep(Verdict::No)
                    } else {
                        Edit::Keep(Verdict::No)
                    }
                })
            }
            Request::Auth { .. } | Request::IsUser { .. } => return Verdict::No,
        };
        match result {
            Ok((v, written)) => {
                if let Some(w) = written {
                    info!(
                        "{} {}: users file {} updated",
                        req.command(),
                        index::show_name(user, Some(host)),
                        self.path.display()
                    );
                    self.adopt(w);
                }
                v
            }
            Err(WriteError(msg)) => {
                error!("{}: users file not changed: {msg}", req.command());
                Verdict::Unavailable
            }
        }
    }

    /// Takes what we just wrote as the current copy, with its identity, so the next
    /// request does not re-read it.
    fn adopt(&mut self, w: write::Written) {
        let (table, _) = Table::build(w.bytes);
        self.table = table;
        self.loaded = Some(Identity::of(&w.meta));
        self.failed = None;
        self.missing_logged = false;
    }
}

impl Backend for FileBackend {
    fn prepare_to_serve(&mut self) {
        if !self.live {
            return;
        }
        match watch::Watch::start(&self.path) {
            Ok(w) => {
                debug!(
                    "users file {}: watching its directory for changes",
                    self.path.display()
                );
                self.watch = Some(w);
            }
            Err(e) => info!(
                "users file {}: cannot watch for changes ({e}); checking it before every request instead",
                self.path.display()
            ),
        }
    }

    fn handle(&mut self, request: &Request<'_>, deadline: Instant) -> Verdict {
        self.refresh(deadline);
        match *request {
            Request::Auth {
                user,
                host,
                password,
            } => self.auth(user, host, password),
            Request::IsUser { user, host } => {
                if self.exists(user, host) {
                    Verdict::Yes
                } else {
                    Verdict::No
                }
            }
            _ if !self.allow_writes => {
                let note = if matches!(request, Request::SetPass { .. }) {
                    "; ejabberd >= 18.06 tells the user the password changed anyway"
                } else {
                    ""
                };
                warn!(
                    "{} {}: refused: allow_writes is off, the account was NOT changed{note}",
                    request.command(),
                    index::show_name(request.user(), Some(request.host()))
                );
                Verdict::Unavailable
            }
            _ => self.write(request, deadline),
        }
    }

    fn describe(&self) -> String {
        format!(
            "file {} ({})",
            self.path.display(),
            entries(self.table.len())
        )
    }
}

/// Request names we are willing to write: valid and already in normalised form, as the
/// servers send them (a name we would lower-case at load must not be written as is).
fn normalised_request_name(user: &[u8], host: &[u8]) -> bool {
    if !parse::request_name_ok(user, host) {
        return false;
    }
    let mut name = user.to_vec();
    name.push(b'@');
    name.extend_from_slice(host);
    matches!(parse::parse_name(&name), Ok((_, _, true)))
}

/// With `allow_writes`, every write needs the directory (temporary file, rename, lock
/// file) to be writable by the server's user; say so at start rather than at the first
/// `setpass`.
fn warn_if_not_writable(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
    else {
        return;
    };
    // SAFETY: access() with a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        warn!(
            "users file {}: allow_writes is on but directory {} is not writable by this user; writes will fail",
            path.display(),
            dir.display()
        );
    }
}

/// Refuses a world-writable file, or a world-writable directory without the sticky
/// bit (anyone could replace the file); warns when the file is world-readable.
fn check_perms(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        return Err(format!(
            "users file {}: is world-writable (mode {:04o}); refusing it (chmod 0640)",
            path.display(),
            mode & 0o7777
        ));
    }
    check_dir(path)?;
    if mode & 0o004 != 0 {
        warn!(
            "users file {}: is world-readable (mode {:04o}); anyone on this machine can copy the hashes (chmod 0640)",
            path.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

fn check_dir(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = fs::metadata(dir) {
        let m = d.permissions().mode();
        if m & 0o002 != 0 && m & 0o1000 == 0 {
            return Err(format!(
                "users file {}: its directory {} is world-writable without the sticky bit; anyone could replace the file",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Reads and indexes the file. Errors (the whole file is refused) are complete messages.
fn load(path: &Path) -> Result<(Table, Report, Identity), String> {
    let ctx = |e: io::Error| format!("users file {}: {e}", path.display());
    // O_NONBLOCK: opening a FIFO planted at the path must not hang us.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(ctx)?;
    let meta = f.metadata().map_err(ctx)?;
    if !meta.file_type().is_file() {
        return Err(format!("users file {}: not a regular file", path.display()));
    }
    check_perms(path, &meta)?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!(
            "users file {}: {} bytes is above the limit of {MAX_FILE_SIZE}",
            path.display(),
            meta.len()
        ));
    }
    let data = read_capped(f, meta.len())?;
    if data.len() as u64 > MAX_FILE_SIZE {
        return Err(format!(
            "users file {}: grew above the size limit",
            path.display()
        ));
    }
    if data.contains(&0) {
        return Err(format!(
            "users file {}: contains NUL bytes (binary data, not a users file)",
            path.display()
        ));
    }
    let (table, report) = Table::build(data);
    if report.entries == 0 && report.bad_lines > 0 {
        log_report(path, &report);
        return Err(format!(
            "users file {}: no valid entry among {} bad lines",
            path.display(),
            report.bad_lines
        ));
    }
    Ok((table, report, Identity::of(&meta)))
}

fn read_capped(f: File, size_hint: u64) -> Result<Vec<u8>, String> {
    let mut data = Vec::with_capacity(size_hint.min(MAX_FILE_SIZE) as usize);
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("users file: read error: {e}"))?;
    Ok(data)
}

/// Logs load problems as `PATH:LINE: reason`, and the plaintext count.
fn log_report(path: &Path, r: &Report) {
    for n in &r.notes {
        if n.error {
            error!("{}:{}: {}", path.display(), n.line, n.text);
        } else {
            warn!("{}:{}: {}", path.display(), n.line, n.text);
        }
    }
    if r.notes_dropped > 0 {
        warn!(
            "{}: {} more problems not shown",
            path.display(),
            r.notes_dropped
        );
    }
    if r.plain > 0 {
        warn!(
            "{}: {} entries store the password in plain text ({{PLAIN}}); replace them with `xmpp-extauth user passwd`",
            path.display(),
            r.plain
        );
    }
}

/// Lock wait deadline for admin commands.
pub(crate) fn admin_deadline() -> Instant {
    Instant::now() + ADMIN_LOCK_WAIT
}

/// Loads a file for listing (admin `user list`): its bytes, no checks beyond the size.
pub(crate) fn read_for_admin(path: &Path) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let mut data = Vec::new();
    f.take(MAX_FILE_SIZE + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_FILE_SIZE {
        return Err(io::Error::other("file too large"));
    }
    Ok(data)
}

/// `1 entry`, `2 entries`.
fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dummy cost follows the file through a reload and through our own write.
    #[test]
    fn dummy_cost_follows_reloads_and_writes() {
        let dir =
            std::env::temp_dir().join(format!("xmpp-extauth-dummycost-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        let h = |rounds| hash::make(Scheme::Sha512Crypt, rounds, b"pw").unwrap();
        fs::write(&path, format!("a@x:{}\n", h(2000))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let settings = Settings {
            users_file: path.clone(),
            hash_scheme: Scheme::Sha256Crypt,
            hash_rounds: 1000,
            allow_writes: true,
            ..Settings::default()
        };
        let mut b = FileBackend::open(&settings).unwrap();
        assert_eq!(
            b.table.dummy_cost(),
            Some(Cost::Crypt(Scheme::Sha512Crypt, 2000))
        );
        // Replaced by another process (a new inode, so the reload is certain).
        let tmp = dir.join("users.new");
        fs::write(&tmp, format!("a@x:{}\nb@x:{{PLAIN}}p\n", h(3000))).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).unwrap();
        fs::rename(&tmp, &path).unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let isuser = Request::IsUser {
            user: b"a",
            host: b"x",
        };
        assert_eq!(b.handle(&isuser, far), Verdict::Yes);
        assert_eq!(
            b.table.dummy_cost(),
            Some(Cost::Crypt(Scheme::Sha512Crypt, 3000))
        );
        // Our own write re-hashes `a` with the configured cost: the file's cost changes.
        let setpass = Request::SetPass {
            user: b"a",
            host: b"x",
            password: b"new",
        };
        assert_eq!(b.handle(&setpass, far), Verdict::Yes);
        assert_eq!(
            b.table.dummy_cost(),
            Some(Cost::Crypt(Scheme::Sha256Crypt, 1000))
        );
        // Only the {PLAIN} entry left: unknown users cost a plain check.
        let remove = Request::RemoveUser {
            user: b"a",
            host: b"x",
        };
        assert_eq!(b.handle(&remove, far), Verdict::Yes);
        assert_eq!(b.table.dummy_cost(), Some(Cost::Plain));
        let _ = fs::remove_dir_all(&dir);
    }
}
