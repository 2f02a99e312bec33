//! Reading a password for the admin subcommands: never from argv, never echoed.
//!
//! On a terminal: prompt on stderr, echo off (termios, restored on every path by a
//! guard), one line, and a second time to confirm when asked. Otherwise (a pipe or a
//! file, for scripts): exactly one line from stdin, without its `\n` and one `\r`.
//! Buffers holding the password are wiped when dropped.

use std::io::{self, Read, Write};
use std::ops::Deref;

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
        let first = read_tty(prompt)?;
        if first.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty password",
            ));
        }
        if confirm {
            let again = read_tty("Retype password: ")?;
            if *again != *first {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the two passwords differ",
                ));
            }
        }
        Ok(first)
    } else {
        read_line(&mut Fd0)
    }
}

/// Reads fd 0 without buffering ahead, so nothing after the line is consumed.
struct Fd0;

impl Read for Fd0 {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read_fd(0, buf)
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

/// Restores the terminal settings when dropped, whatever happened in between.
struct EchoGuard {
    saved: libc::termios,
}

impl Drop for EchoGuard {
    fn drop(&mut self) {
        // SAFETY: restoring settings read from the same descriptor.
        unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &self.saved) };
    }
}

fn read_tty(prompt: &str) -> io::Result<Password> {
    let mut err = io::stderr().lock();
    let _ = err.write_all(prompt.as_bytes());
    let _ = err.flush();
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        t
    };
    let guard = EchoGuard { saved };
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: valid termios for fd 0.
    if unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &quiet) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let r = read_line(&mut Fd0);
    drop(guard);
    r
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
