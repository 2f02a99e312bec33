//! Thin safe wrappers over the few syscalls the helper needs (libc), so `unsafe` lives in
//! one place.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Closes every descriptor above 2. Prosody's lpty leaks the pty master into the helper;
/// holding it open means never seeing a hang-up and living on as an orphan.
pub fn close_inherited_fds() {
    // close_range(3, ~0, 0) on Linux >= 5.9; fall back to a loop over the fd limit.
    // SAFETY: closing descriptors we do not use; nothing in this process owns them yet.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if r == 0 {
        return;
    }
    // SAFETY: as above; sysconf has no preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    let max = if max <= 0 {
        1024
    } else {
        max.min(65536) as RawFd
    };
    for fd in 3..max {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
}

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Puts the terminal on `fd` in raw mode: no echo, no line editing, no signals from
/// 0x03, no output processing (so `1\n` goes out as exactly those two bytes).
pub fn make_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Bytes that can be read from `fd` right now without blocking (`FIONREAD`); 0 on error.
pub fn queued_input(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return 0;
    }
    usize::try_from(n).unwrap_or(0)
}

/// Throws away the input queued on the terminal `fd`, unread (`tcflush(TCIFLUSH)`).
pub fn discard_terminal_input(fd: RawFd) -> io::Result<()> {
    // SAFETY: tcflush on a descriptor with an integer argument.
    if unsafe { libc::tcflush(fd, libc::TCIFLUSH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What `poll` saw on a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Readable,
    /// Hang-up or error with nothing left to read.
    HangUp,
    TimedOut,
}

/// Waits until `fd` is readable, hung up, or `timeout` passes (`None` = forever).
/// Retries on EINTR with the remaining time.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<Readiness> {
    let start = std::time::Instant::now();
    loop {
        let ms: libc::c_int = match timeout {
            None => -1,
            Some(t) => {
                let left = t.saturating_sub(start.elapsed());
                // round up so a sub-millisecond remainder does not spin
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(Readiness::TimedOut);
        }
        if p.revents & libc::POLLIN != 0 {
            return Ok(Readiness::Readable);
        }
        if p.revents & libc::POLLNVAL != 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        return Ok(Readiness::HangUp);
    }
}

/// True if a read on `fd` would not block right now (data waiting or hang-up).
pub fn input_pending(fd: RawFd) -> bool {
    matches!(
        wait_readable(fd, Some(Duration::ZERO)),
        Ok(Readiness::Readable) | Ok(Readiness::HangUp)
    )
}

/// No core dumps and no ptrace by other users while passwords pass through memory.
pub fn forbid_core_dumps() {
    // SAFETY: prctl/setrlimit with valid arguments; failure is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
    }
}

/// One `read(2)` into `buf`, retried on EINTR.
pub fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes all of `buf` to `fd`: one `write(2)` in the normal case (replies are a few
/// bytes; a pipe or pty takes them whole), looping only on a short write or EINTR.
pub fn write_all_fd(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}
