//! `hashbench`: in-process verification speed of `xmpp_extauth::hash`, on the same
//! (password, hash) pairs that `crypt_probe` feeds to libxcrypt, so the two compare
//! like for like. Built with the product's release profile (bench/Cargo.toml).
//!
//! usage: hashbench --hashes FILE --scheme 6|5 [--seconds S] [--label TEXT]
//! FILE: lines `PASSWORD<TAB>$6$...<TAB>$5$...` (bench/run.sh makes it with openssl).
//! Prints one result line `LABEL<TAB>verif_s=...<TAB>cpu_us=...` (wall-clock rate, and
//! on-CPU µs per verification, which other processes on the CPU do not inflate).

use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("hashbench: {e}");
        std::process::exit(1);
    }
}

/// On-CPU seconds of this thread: robust against other processes sharing the CPU.
fn thread_cpu() -> f64 {
    let mut ts = std::mem::MaybeUninit::<[i64; 2]>::zeroed();
    // SAFETY: clock_gettime writes one struct timespec (two 64-bit fields on x86_64/aarch64
    // Linux) into a buffer of that size.
    unsafe { clock_gettime(3, ts.as_mut_ptr().cast()) }; // CLOCK_THREAD_CPUTIME_ID
    // SAFETY: zero-initialised above.
    let [sec, nsec] = unsafe { ts.assume_init() };
    sec as f64 + nsec as f64 / 1e9
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut core::ffi::c_void) -> i32;
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut file, mut scheme, mut seconds, mut label) = (None, 6u8, 2.0f64, None);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned();
        match args[i].as_str() {
            "--hashes" => file = v,
            "--scheme" => scheme = v.and_then(|s| s.parse().ok()).ok_or("--scheme: 6 or 5")?,
            "--seconds" => seconds = v.and_then(|s| s.parse().ok()).ok_or("--seconds: number")?,
            "--label" => label = v,
            a => return Err(format!("unknown argument {a:?}")),
        }
        i += 2;
    }
    let file = file.ok_or("--hashes FILE required")?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let stored = match (scheme, f.as_slice()) {
            (6, [_, h6, _]) => h6,
            (5, [_, _, h5]) => h5,
            _ => return Err(format!("{file}: bad line or scheme")),
        };
        let parsed =
            xmpp_extauth::hash::parse(stored.as_bytes()).map_err(|e| format!("{file}: {e}"))?;
        pairs.push((f[0].as_bytes().to_vec(), parsed));
    }
    if pairs.is_empty() {
        return Err(format!("{file}: empty"));
    }
    // Correctness first: every right password verifies, a wrong one does not.
    for (pw, h) in &pairs {
        if !h.verify(pw) || h.verify(b"wrong password") {
            return Err("verification gave a wrong answer".into());
        }
    }
    let limit = Duration::from_secs_f64(seconds);
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < limit {
        let (pw, h) = &pairs[n as usize % pairs.len()];
        if !std::hint::black_box(h.verify(std::hint::black_box(pw))) {
            return Err("verification failed".into());
        }
        n += 1;
    }
    let s = start.elapsed().as_secs_f64();
    let cpu = thread_cpu() - cpu0;
    let label = label.unwrap_or_else(|| format!("hashbench ${scheme}$"));
    println!(
        "{label}\tverif_s={:.1}\tcpu_us={:.1}",
        n as f64 / s,
        cpu * 1e6 / n as f64
    );
    Ok(())
}
