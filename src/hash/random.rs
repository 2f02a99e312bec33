//! Salt randomness from the kernel: getrandom(2), or /dev/urandom where the syscall is
//! missing or forbidden (old kernels, seccomp). Never a weaker source: if both fail, the
//! caller gets an error and no hash is written.

use std::fs::File;
use std::io::{self, Read};

/// Fills `buf` entirely from the OS random source.
pub(crate) fn fill(buf: &mut [u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if getrandom_syscall(buf).is_ok() {
        return Ok(());
    }
    urandom(buf)
}

/// getrandom(2) in a loop: retries EINTR, continues after short reads.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn getrandom_syscall(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // The raw syscall, not libc's wrapper: in the static musl builds the weak
        // `getrandom` symbol resolved to address 0 and `user add` crashed (found by the
        // package tests). ENOSYS on an old kernel falls back to /dev/urandom.
        // SAFETY: `rest` is a valid writable region of `rest.len()` bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getrandom,
                rest.as_mut_ptr(),
                rest.len(),
                0 as libc::c_uint,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // n >= 0 here and at most rest.len().
        done += n as usize;
    }
    Ok(())
}

fn urandom(buf: &mut [u8]) -> io::Result<()> {
    let mut f = File::open("/dev/urandom")
        .map_err(|e| io::Error::new(e.kind(), format!("random source: /dev/urandom: {e}")))?;
    // read_exact retries EINTR and short reads.
    f.read_exact(buf)
        .map_err(|e| io::Error::new(e.kind(), format!("random source: /dev/urandom: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_large_buffers_and_differs_between_calls() {
        let mut a = [0u8; 4096];
        let mut b = [0u8; 4096];
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        assert_ne!(a, b);
        // All-zero 4 KiB from a working source has probability 2^-32768.
        assert!(a.iter().any(|&x| x != 0));
    }

    #[test]
    fn urandom_fallback_works() {
        let mut a = [0u8; 64];
        urandom(&mut a).unwrap();
        assert!(a.iter().any(|&x| x != 0));
    }
}
