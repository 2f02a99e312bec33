//! `floor`: the pipe floor. A helper that answers every request with a fixed `1`, as fast as
//! the pipe allows: one `read()` of whatever is waiting, one `write()` with the replies owed
//! for the complete requests in it, nothing else (no poll, no parsing beyond the framing).
//! Under ping-pong load this is the round-trip floor; pipelined, the framing floor.
//!
//! usage: floor [generic|ejabberd] [USERS-FILE]
//!
//! With a USERS-FILE (`user@domain:...` lines) it is the *lookup floor*: `isuser` requests
//! are answered from a `HashSet` of the names (std's SipHash, as a real helper would key
//! it), everything else `1`; no validation, no normalisation, no deadline, no reload. It
//! shows what the table lookup alone costs on top of the pipe.

use std::collections::HashSet;
use std::io;

const YES_GENERIC: &[u8] = b"1\n";
const YES_EJABBERD: &[u8] = &[0, 2, 0, 1];

fn read(buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid writable slice of buf.len() bytes.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn write_all(mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

const NO_GENERIC: &[u8] = b"0\n";
const NO_EJABBERD: &[u8] = &[0, 2, 0, 0];

/// `isuser:USER:HOST` -> is `USER@HOST` in the set; anything else is yes.
fn answer(users: &Option<HashSet<Vec<u8>>>, req: &[u8], key: &mut Vec<u8>) -> bool {
    let (Some(set), Some(rest)) = (users, req.strip_prefix(b"isuser:")) else {
        return true;
    };
    let Some(colon) = rest.iter().position(|&b| b == b':') else {
        return false;
    };
    key.clear();
    key.extend_from_slice(&rest[..colon]);
    key.push(b'@');
    key.extend_from_slice(&rest[colon + 1..]);
    set.contains(key.as_slice())
}

fn main() {
    let users: Option<HashSet<Vec<u8>>> = std::env::args().nth(2).map(|path| {
        let data = std::fs::read(&path).unwrap_or_else(|e| {
            eprintln!("floor: {path}: {e}");
            std::process::exit(2);
        });
        data.split(|&b| b == b'\n')
            .filter_map(|l| l.iter().position(|&b| b == b':').map(|c| l[..c].to_vec()))
            .collect()
    });
    let mut key = Vec::with_capacity(256);
    let ejabberd = match std::env::args().nth(1).as_deref() {
        None | Some("generic") => false,
        Some("ejabberd") => true,
        Some(other) => {
            eprintln!("floor: unknown protocol {other:?} (generic|ejabberd)");
            std::process::exit(2);
        }
    };
    let (yes, no) = if ejabberd {
        (YES_EJABBERD, NO_EJABBERD)
    } else {
        (YES_GENERIC, NO_GENERIC)
    };
    let mut buf = vec![0u8; 1 << 17];
    let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut len = 0usize;
    loop {
        let n = match read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut start = 0usize;
        if ejabberd {
            while len - start >= 2 {
                let flen = u16::from_be_bytes([buf[start], buf[start + 1]]) as usize;
                if len - start < 2 + flen {
                    break;
                }
                let req = &buf[start + 2..start + 2 + flen];
                out.extend_from_slice(if answer(&users, req, &mut key) {
                    yes
                } else {
                    no
                });
                start += 2 + flen;
            }
        } else {
            while let Some(i) = buf[start..len].iter().position(|&b| b == b'\n') {
                let req = &buf[start..start + i];
                out.extend_from_slice(if answer(&users, req, &mut key) {
                    yes
                } else {
                    no
                });
                start += i + 1;
            }
        }
        if !out.is_empty() {
            if write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            // A request longer than the buffer: not a benchmark workload.
            return;
        }
    }
}
