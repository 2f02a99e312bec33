//! Reading a password for the admin subcommands: never from argv, never echoed.
//!
//! On a terminal: prompt on stderr, echo off (termios, restored on every path by a
//! guard), one line, and a second time to confirm when asked. Otherwise (a pipe or a
//! file, for scripts): exactly one line from stdin, without its `\n` and one `\r`.
//! Buffers holding the password are wiped when dropped.

use std::io::{self, Read, Write};
use std::ops::Deref;
use std::os::fd::RawFd;

use crate::sys;

/// Longest password accepted from a prompt or stdin. ejabberd frames stop at 65535
/// bytes; a longer line is a mistake (a whole file piped in), not a password.
pub const MAX_PASSWORD: usize = 4096;

/// A password; zeroed when dropped. Never `Debug`/`Display`.
pub struct Password(Vec<u8>);

impl Password {
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Password {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites the whole allocation with zeros in a way the optimiser keeps.
fn wipe(v: &mut Vec<u8>) {
    let cap = v.capacity();
    v.clear();
    let p = v.as_mut_ptr();
    for i in 0..cap {
        // SAFETY: i < capacity of the allocation; u8 needs no initialisation.
        unsafe { std::ptr::write_volatile(p.add(i), 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Reads a password from the terminal (no echo) or one line from stdin.
/// Errors never contain the password.
pub fn read_password(prompt: &str, confirm: bool) -> io::Result<Password> {
    if sys::is_tty(0) {
        read_password_tty(0, &mut io::stderr(), prompt, confirm)
    } else {
        read_line(&mut FdReader(0))
    }
}

/// The terminal path of [`read_password`] on `fd`, prompting on `out`: echo off (with
/// ECHONL, so the newline still shows) for both the password and its confirmation,
/// restored when done, whatever happened.
pub fn read_password_tty(
    fd: RawFd,
    out: &mut dyn Write,
    prompt: &str,
    confirm: bool,
) -> io::Result<Password> {
    let _guard = EchoGuard::quiet(fd)?;
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    let first = read_line(&mut FdReader(fd))?;
    if confirm {
        let _ = out.write_all(b"Retype password: ");
        let _ = out.flush();
        let again = read_line(&mut FdReader(fd))?;
        if *again != *first {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the two passwords differ",
            ));
        }
    }
    Ok(first)
}

/// Reads a descriptor without buffering ahead, so nothing after the line is consumed.
struct FdReader(RawFd);

impl Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read_fd(self.0, buf)
    }
}

/// One line from `r`: up to `\n` or end of input, minus one `\n` and then one `\r`.
/// Refuses an empty password, a missing one, and one over [`MAX_PASSWORD`].
pub fn read_line(r: &mut dyn Read) -> io::Result<Password> {
    let mut line = Password(Vec::with_capacity(128));
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                if byte[0] == b'\n' {
                    break;
                }
                if line.0.len() >= MAX_PASSWORD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("password longer than {MAX_PASSWORD} bytes"),
                    ));
                }
                if line.0.len() == line.0.capacity() {
                    // Grow by hand so no copy of the password is left in a freed buffer.
                    let mut bigger = Vec::with_capacity(line.0.capacity() * 2);
                    bigger.extend_from_slice(&line.0);
                    line = Password(bigger);
                }
                line.0.push(byte[0]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if line.0.last() == Some(&b'\r') {
        line.0.pop();
    }
    if line.0.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty password (expected one line on stdin)",
        ));
    }
    Ok(line)
}

/// Turns echo off and restores the saved settings when dropped, on every path.
struct EchoGuard {
    fd: RawFd,
    saved: libc::termios,
}

impl EchoGuard {
    fn quiet(fd: RawFd) -> io::Result<EchoGuard> {
        // SAFETY: termios is plain data, filled by tcgetattr before use.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            t
        };
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: a valid termios for fd.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoGuard { fd, saved })
    }
}

impl Drop for EchoGuard {
    fn drop(&mut self) {
        // SAFETY: restoring settings read from the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_its_ending() {
        let mut r: &[u8] = b"pa:ss word\r\nnext\n";
        assert_eq!(read_line(&mut r).unwrap().as_bytes(), b"pa:ss word");
        assert_eq!(r, b"next\n", "nothing after the line is consumed");
        let mut r: &[u8] = b"no newline";
        assert_eq!(read_line(&mut r).unwrap().as_bytes(), b"no newline");
        let mut r: &[u8] = b"keeps\rinner\r\r\n";
        assert_eq!(read_line(&mut r).unwrap().as_bytes(), b"keeps\rinner\r");
        let mut r: &[u8] = b" spaces kept \n";
        assert_eq!(read_line(&mut r).unwrap().as_bytes(), b" spaces kept ");
    }

    #[test]
    fn refuses_empty_and_huge() {
        for input in [&b""[..], b"\n", b"\r\n"] {
            let mut r = input;
            assert!(read_line(&mut r).is_err());
        }
        let big = vec![b'x'; MAX_PASSWORD + 1];
        let mut r = &big[..];
        let e = read_line(&mut r).err().unwrap();
        assert!(!e.to_string().contains("xxxx"));
    }

    #[test]
    fn long_password_grows_without_loss() {
        let pw = vec![b'y'; 1000];
        let mut r = &pw[..];
        assert_eq!(read_line(&mut r).unwrap().as_bytes(), &pw[..]);
    }
}
