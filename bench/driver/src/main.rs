//! `xbench`: the benchmark driver of xmpp-extauth's own suite (see bench/README.md).
//!
//! ```text
//! xbench gen   --out DIR --hashes FILE [--sizes 10,100000]     workloads and users files
//! xbench rt    [options] -w WORKLOAD -- HELPER [ARGS...]        round trips (1 run, 1 line)
//!     -p generic|ejabberd   -n N (20000)   --warmup N (200)   -W WINDOW (1 = ping-pong)
//!     --startup K           spawn K times, time spawn -> first answer (median)
//!     --any                 accept any well-formed answer (the floor helper always says 1)
//!     --label TEXT          first field of the result line
//!     --timeout S (120)     the whole run; the driver dies by SIGALRM after it
//! xbench table FILE...                                         result lines -> Markdown
//! ```
//!
//! A result is one line, `LABEL<TAB>key=value<TAB>...`; `table` groups labels of the form
//! `SECTION|CASE` into one Markdown table per section with median (min–max) over all lines
//! with the same label, and the ratio of each case to the section's first case.
//!
//! The helper is executed directly (no shell), stdin and stdout on pipes, stderr
//! inherited. Every answer is checked against the workload; a wrong or malformed answer,
//! a helper that dies or does not exit within 5 s of end of input is an error (exit 1).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("gen") => generate(&args[1..]),
        Some("rt") => rt(&args[1..]),
        Some("table") => table(&args[1..]),
        _ => Err("usage: xbench gen|rt|table ... (see bench/README.md)".to_string()),
    };
    if let Err(e) = r {
        eprintln!("xbench: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, String>;

fn num<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Res<T> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{flag}: missing or bad value"))
}

// ---------------------------------------------------------------------------------------
// Workload generation
// ---------------------------------------------------------------------------------------

/// xorshift64*: deterministic, so every run uses the same users and requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A `{PLAIN}` password: 10–16 bytes; ~10 % contain a colon, ~5 % a non-ASCII character
/// (the cases naive helpers get wrong). `simple` = alphanumeric only (usable in URLs as is).
fn password(rng: &mut Rng) -> (String, bool) {
    let len = 10 + rng.below(7) as usize;
    let mut p: String = (0..len)
        .map(|_| ALNUM[rng.below(ALNUM.len() as u64) as usize] as char)
        .collect();
    let roll = rng.below(100);
    if roll < 10 {
        p.insert(1 + rng.below(len as u64 - 2) as usize, ':');
    } else if roll < 15 {
        p.insert(1 + rng.below(len as u64 - 2) as usize, 'é');
    }
    (p, roll >= 15)
}

fn size_label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// Writes for each size L: `users-L-{plain,sha512,sha256}.txt`, `isuser-L.tsv` (½ known,
/// ½ unknown name or other domain), `auth-L.tsv` (known users, 60 % right password),
/// `auth-mix-L.tsv` (50 % right, 30 % wrong password, 20 % unknown user: each unknown
/// user costs the helper a dummy hash verification by design),
/// `auth-ok-L.tsv` (right passwords of the hashed files), and for the HTTP backend
/// `http-auth-L.tsv`, `http-paths-L.txt` (for wrk) and `http-map-L.conf` (nginx map).
fn generate(args: &[String]) -> Res<()> {
    let mut out = None;
    let mut hashes = None;
    let mut sizes = vec![10usize, 100_000];
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--out" => out = args.get(i + 1).cloned(),
            "--hashes" => hashes = args.get(i + 1).cloned(),
            "--sizes" => {
                sizes = args
                    .get(i + 1)
                    .ok_or("--sizes: missing")?
                    .split(',')
                    .map(|s| s.parse().map_err(|_| format!("--sizes: bad {s:?}")))
                    .collect::<Res<_>>()?
            }
            a => return Err(format!("gen: unknown argument {a:?}")),
        }
        i += 2;
    }
    let out = out.ok_or("gen: --out DIR required")?;
    let hashes =
        hashes.ok_or("gen: --hashes FILE required (lines PASSWORD<TAB>$6$..<TAB>$5$..)")?;
    // (password, $6$ hash, $5$ hash)
    let hashes: Vec<(String, String, String)> = fs::read_to_string(&hashes)
        .map_err(|e| format!("{hashes}: {e}"))?
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.into(), f.next()?.into(), f.next()?.into()))
        })
        .collect();
    if hashes.is_empty() {
        return Err("gen: the hashes file is empty".into());
    }
    fs::create_dir_all(&out).map_err(|e| format!("{out}: {e}"))?;
    let write = |name: &str, s: &str| -> Res<()> {
        fs::write(format!("{out}/{name}"), s).map_err(|e| format!("{out}/{name}: {e}"))
    };
    const LINES: usize = 2000;
    for &n in &sizes {
        let l = size_label(n);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let users: Vec<(String, bool)> = (0..n).map(|_| password(&mut rng)).collect();
        let name = |u: usize| format!("user{:06}", u + 1);

        let mut plain = String::with_capacity(n * 48);
        let mut s512 = String::with_capacity(n * 130);
        let mut s256 = String::with_capacity(n * 90);
        for (u, (pw, _)) in users.iter().enumerate() {
            let h = &hashes[u % hashes.len()];
            plain += &format!("{}@example.test:{{PLAIN}}{pw}\n", name(u));
            s512 += &format!("{}@example.test:{}\n", name(u), h.1);
            s256 += &format!("{}@example.test:{}\n", name(u), h.2);
        }
        write(&format!("users-{l}-plain.txt"), &plain)?;
        write(&format!("users-{l}-sha512.txt"), &s512)?;
        write(&format!("users-{l}-sha256.txt"), &s256)?;

        let (mut isuser, mut auth, mut ok) = (String::new(), String::new(), String::new());
        let mut mix = String::new();
        let (mut http, mut paths, mut map) = (String::new(), String::new(), String::new());
        let mut mapped = std::collections::HashSet::new();
        for _ in 0..LINES {
            let u = rng.below(n as u64) as usize;
            isuser += &match rng.below(4) {
                0 | 1 => format!("1\tisuser:{}:example.test\n", name(u)),
                2 => format!("0\tisuser:nouser{:06}:example.test\n", u),
                _ => format!("0\tisuser:{}:other.test\n", name(u)),
            };
            let pw = &users[u].0;
            auth += &match rng.below(10) {
                0..=5 => format!("1\tauth:{}:example.test:{pw}\n", name(u)),
                _ => format!("0\tauth:{}:example.test:{pw}x\n", name(u)),
            };
            mix += &match rng.below(10) {
                0..=4 => format!("1\tauth:{}:example.test:{pw}\n", name(u)),
                5..=7 => format!("0\tauth:{}:example.test:{pw}x\n", name(u)),
                _ => format!("0\tauth:nouser{:06}:example.test:{pw}\n", u),
            };
            ok += &format!(
                "1\tauth:{}:example.test:{}\n",
                name(u),
                hashes[u % hashes.len()].0
            );
        }
        // HTTP: only users whose password needs no URL encoding, so the nginx map can
        // compare the raw query arguments.
        let simple: Vec<usize> = (0..n).filter(|&u| users[u].1).collect();
        for _ in 0..LINES {
            let u = simple[rng.below(simple.len() as u64) as usize];
            let pw = &users[u].0;
            if mapped.insert(u) {
                map += &format!("    \"{}:example.test:{pw}\" \"true\";\n", name(u));
            }
            let (exp, user, pass) = match rng.below(10) {
                0..=5 => ("1", name(u), pw.clone()),
                6..=8 => ("0", name(u), format!("{pw}x")),
                _ => ("0", format!("nouser{u:06}"), pw.clone()),
            };
            http += &format!("{exp}\tauth:{user}:example.test:{pass}\n");
            let body = if exp == "1" { "true" } else { "false" };
            paths += &format!(
                "{body}\t/auth/check_password?user={user}&server=example.test&pass={pass}\n"
            );
        }
        write(&format!("isuser-{l}.tsv"), &isuser)?;
        write(&format!("auth-{l}.tsv"), &auth)?;
        write(&format!("auth-mix-{l}.tsv"), &mix)?;
        write(&format!("auth-ok-{l}.tsv"), &ok)?;
        write(&format!("http-auth-{l}.tsv"), &http)?;
        write(&format!("http-paths-{l}.txt"), &paths)?;
        write(&format!("http-map-{l}.conf"), &map)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Generic,
    Ejabberd,
}

impl Proto {
    fn reply_len(self) -> usize {
        match self {
            Proto::Generic => 2,
            Proto::Ejabberd => 4,
        }
    }
    /// The answer in `r` (exactly reply_len bytes), or None if malformed.
    fn decode(self, r: &[u8]) -> Option<bool> {
        match (self, r) {
            (Proto::Generic, b"1\n") | (Proto::Ejabberd, [0, 2, 0, 1]) => Some(true),
            (Proto::Generic, b"0\n") | (Proto::Ejabberd, [0, 2, 0, 0]) => Some(false),
            _ => None,
        }
    }
    fn encode(self, req: &[u8]) -> Res<Vec<u8>> {
        Ok(match self {
            Proto::Generic => [req, b"\n"].concat(),
            Proto::Ejabberd => {
                let n = u16::try_from(req.len()).map_err(|_| "request over 65535 bytes")?;
                [&n.to_be_bytes()[..], req].concat()
            }
        })
    }
}

struct Req {
    wire: Vec<u8>,
    /// None: any well-formed answer.
    expect: Option<bool>,
}

fn load_workload(path: &str, proto: Proto, any: bool) -> Res<Vec<Req>> {
    let text = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut reqs = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let tab = line
            .iter()
            .position(|&b| b == b'\t')
            .ok_or_else(|| format!("{path}:{}: no tab", i + 1))?;
        let expect = match &line[..tab] {
            _ if any => None,
            b"1" => Some(true),
            b"0" => Some(false),
            b"*" => None,
            _ => return Err(format!("{path}:{}: expected 1, 0 or *", i + 1)),
        };
        reqs.push(Req {
            wire: proto.encode(&line[tab + 1..])?,
            expect,
        });
    }
    if reqs.is_empty() {
        return Err(format!("{path}: no requests"));
    }
    Ok(reqs)
}

struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
}

impl Helper {
    fn spawn(cmd: &[String]) -> Res<Helper> {
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", cmd[0]))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        Ok(Helper {
            child,
            stdin,
            stdout,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Res<()> {
        self.stdin
            .as_mut()
            .ok_or("stdin closed")?
            .write_all(bytes)
            .map_err(|e| format!("write to helper: {e}"))
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Res<usize> {
        match self.stdout.read(buf) {
            Ok(0) => Err("helper closed its stdout (died?)".into()),
            Ok(n) => Ok(n),
            Err(e) => Err(format!("read from helper: {e}")),
        }
    }

    fn proc_field(&self, file: &str, key: &str) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).ok()?;
        if key.is_empty() {
            // schedstat: first field, nanoseconds on CPU.
            return s.split_whitespace().next()?.parse().ok();
        }
        let line = s.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    }

    /// Peak RSS in KiB (VmHWM), read while the helper is still serving.
    fn hwm_kib(&self) -> Option<u64> {
        self.proc_field("status", "VmHWM:")
    }

    /// Resident anonymous (heap, stacks) and file-backed (binary, libraries) KiB now.
    fn rss_split(&self) -> (u64, u64) {
        (
            self.proc_field("status", "RssAnon:").unwrap_or(0),
            self.proc_field("status", "RssFile:").unwrap_or(0),
        )
    }

    fn cpu_ns(&self) -> Option<u64> {
        self.proc_field("schedstat", "")
    }

    /// Closes stdin, expects an exit within 5 s with status 0. Returns user+sys CPU seconds.
    fn finish(mut self) -> Res<f64> {
        drop(self.stdin.take());
        let pid = self.child.id() as libc::pid_t;
        let start = Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: plain syscall on our own child; rusage is a valid out pointer.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
            if r == pid {
                let cpu = ru.ru_utime.tv_sec as f64
                    + ru.ru_utime.tv_usec as f64 / 1e6
                    + ru.ru_stime.tv_sec as f64
                    + ru.ru_stime.tv_usec as f64 / 1e6;
                if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                    return Ok(cpu);
                }
                return Err(format!("helper ended with wait status {status:#x}"));
            }
            if r < 0 {
                return Err(format!("wait4: {}", io::Error::last_os_error()));
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("helper did not exit within 5 s of end of input: killed".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn check(reqs: &[Req], i: usize, proto: Proto, reply: &[u8]) -> Res<()> {
    let got = proto
        .decode(reply)
        .ok_or_else(|| format!("request #{i}: malformed answer {reply:?}"))?;
    match reqs[i % reqs.len()].expect {
        Some(want) if want != got => Err(format!(
            "request #{i} (workload line {}): answered {} instead of {}",
            i % reqs.len() + 1,
            got as u8,
            want as u8
        )),
        _ => Ok(()),
    }
}

fn pct(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64 / 1000.0
}

fn rt(args: &[String]) -> Res<()> {
    let mut proto = Proto::Generic;
    let (mut n, mut warmup, mut window, mut startup) = (20_000usize, 200usize, 1usize, 0usize);
    let (mut workload, mut label, mut any, mut timeout) = (None, None, false, 120u32);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1);
        match args[i].as_str() {
            "-p" | "--protocol" => {
                proto = match v.map(String::as_str) {
                    Some("generic") => Proto::Generic,
                    Some("ejabberd") => Proto::Ejabberd,
                    _ => return Err("-p: generic or ejabberd".into()),
                }
            }
            "-n" => n = num("-n", v)?,
            "--warmup" => warmup = num("--warmup", v)?,
            "-W" | "--window" => window = num("-W", v)?,
            "--startup" => startup = num("--startup", v)?,
            "--timeout" => timeout = num("--timeout", v)?,
            "-w" | "--workload" => workload = v.cloned(),
            "--label" => label = v.cloned(),
            "--any" => {
                any = true;
                i += 1;
                continue;
            }
            "--" => break,
            a => return Err(format!("rt: unknown argument {a:?}")),
        }
        i += 2;
    }
    let cmd = args
        .get(i + 1..)
        .filter(|c| !c.is_empty())
        .ok_or("rt: -- HELPER missing")?;
    let workload = workload.ok_or("rt: -w WORKLOAD required")?;
    let reqs = load_workload(&workload, proto, any)?;
    let label = label.unwrap_or_else(|| cmd.join(" "));
    if window == 0 || window > 4096 {
        return Err("-W: 1..=4096".into());
    }
    // A stalled helper must not hang the suite: the default SIGALRM action ends us, the
    // helper then reads EOF.
    // SAFETY: alarm has no memory effects.
    unsafe { libc::alarm(timeout) };

    let line = if startup > 0 {
        run_startup(cmd, &reqs, proto, startup)?
    } else {
        run_load(cmd, &reqs, proto, n, warmup, window)?
    };
    println!("{label}\t{line}");
    Ok(())
}

/// Spawn -> first answer, `k` times; reports the median and the helper's peak RSS then.
fn run_startup(cmd: &[String], reqs: &[Req], proto: Proto, k: usize) -> Res<String> {
    let mut times = Vec::with_capacity(k);
    let mut hwm = Vec::with_capacity(k);
    let mut reply = [0u8; 4];
    for _ in 0..k {
        let t0 = Instant::now();
        let mut h = Helper::spawn(cmd)?;
        h.send(&reqs[0].wire)?;
        let rl = proto.reply_len();
        let mut got = 0;
        while got < rl {
            got += h.read_some(&mut reply[got..rl])?;
        }
        times.push(t0.elapsed().as_nanos() as u64);
        check(reqs, 0, proto, &reply[..rl])?;
        hwm.push(h.hwm_kib().unwrap_or(0));
        h.finish()?;
    }
    times.sort_unstable();
    hwm.sort_unstable();
    Ok(format!(
        "startup_ms={:.3}\thwm_kib={}",
        times[k / 2] as f64 / 1e6,
        hwm[k / 2]
    ))
}

fn run_load(
    cmd: &[String],
    reqs: &[Req],
    proto: Proto,
    n: usize,
    warmup: usize,
    window: usize,
) -> Res<String> {
    let total = warmup + n;
    let rl = proto.reply_len();
    let mut h = Helper::spawn(cmd)?;
    let mut lat: Vec<u64> = Vec::with_capacity(n);
    let mut buf = vec![0u8; 1 << 16];
    let (mut t_start, mut cpu0) = (Instant::now(), 0u64);
    if window == 1 {
        for i in 0..total {
            if i == warmup {
                cpu0 = h.cpu_ns().unwrap_or(0);
                t_start = Instant::now();
            }
            let t0 = Instant::now();
            h.send(&reqs[i % reqs.len()].wire)?;
            let mut got = 0;
            while got < rl {
                got += h.read_some(&mut buf[got..rl])?;
            }
            let dt = t0.elapsed().as_nanos() as u64;
            if got != rl {
                return Err(format!("request #{i}: answer longer than {rl} bytes"));
            }
            check(reqs, i, proto, &buf[..rl])?;
            if i >= warmup {
                lat.push(dt);
            }
        }
    } else {
        // Keep `window` requests in flight: every batch of answers read is replaced by as
        // many new requests, sent in one write.
        let mut sent_at = vec![Instant::now(); window];
        let mut out = Vec::with_capacity(window * 64);
        let (mut sent, mut done, mut partial) = (0usize, 0usize, 0usize);
        let refill = |h: &mut Helper,
                      out: &mut Vec<u8>,
                      sent: &mut usize,
                      upto: usize,
                      sent_at: &mut [Instant]|
         -> Res<()> {
            out.clear();
            let first = *sent;
            while *sent < upto {
                out.extend_from_slice(&reqs[*sent % reqs.len()].wire);
                *sent += 1;
            }
            let now = Instant::now();
            for j in first..*sent {
                sent_at[j % sent_at.len()] = now;
            }
            h.send(out)
        };
        refill(&mut h, &mut out, &mut sent, window.min(total), &mut sent_at)?;
        while done < total {
            let k = h.read_some(&mut buf[partial..])? + partial;
            let now = Instant::now();
            let whole = k / rl;
            for j in 0..whole {
                let idx = done + j;
                check(reqs, idx, proto, &buf[j * rl..(j + 1) * rl])?;
                if idx == warmup {
                    cpu0 = h.cpu_ns().unwrap_or(0);
                    t_start = now;
                }
                if idx >= warmup {
                    lat.push((now - sent_at[idx % window]).as_nanos() as u64);
                }
            }
            done += whole;
            partial = k - whole * rl;
            buf.copy_within(whole * rl..k, 0);
            if done > sent {
                return Err("more answers than requests".into());
            }
            let upto = (done + window).min(total);
            if upto > sent {
                refill(&mut h, &mut out, &mut sent, upto, &mut sent_at)?;
            }
        }
        if partial != 0 {
            return Err("trailing bytes after the last answer".into());
        }
        // The measured phase starts at the answer to request #warmup: count from there.
        lat.remove(0);
    }
    let elapsed = t_start.elapsed().as_secs_f64();
    let measured = lat.len().max(1);
    let cpu1 = h.cpu_ns().unwrap_or(0);
    let hwm = h.hwm_kib().unwrap_or(0);
    let (anon, file) = h.rss_split();
    let cpu_total = h.finish()?;
    lat.sort_unstable();
    Ok(format!(
        "req_s={:.0}\tp50_us={:.2}\tp99_us={:.2}\thwm_kib={hwm}\tanon_kib={anon}\tfile_kib={file}\tcpu_us={:.3}\tcpu_total_s={cpu_total:.4}",
        measured as f64 / elapsed,
        pct(&lat, 50),
        pct(&lat, 99),
        cpu1.saturating_sub(cpu0) as f64 / 1e3 / measured as f64,
    ))
}

// ---------------------------------------------------------------------------------------
// Markdown tables
// ---------------------------------------------------------------------------------------

/// Columns in display order: (key, header). Keys not listed are shown after these.
const COLUMNS: &[(&str, &str)] = &[
    ("req_s", "req/s"),
    ("verif_s", "verif/s"),
    ("startup_ms", "start-up ms"),
    ("p50_us", "p50 µs"),
    ("p99_us", "p99 µs"),
    ("hwm_kib", "peak RSS KiB"),
    ("anon_kib", "of which anon KiB"),
    ("file_kib", "of which file-backed KiB"),
    ("cpu_us", "on-CPU µs per request (helper) or verification"),
    ("conns_per_req", "new conns/req"),
    ("bytes", "bytes"),
];
/// The metric a section's ratio column compares, first present wins.
const RATIO_KEYS: &[&str] = &["req_s", "verif_s", "startup_ms", "bytes", "hwm_kib"];
/// Keys recorded but not shown.
const HIDDEN: &[&str] = &["cpu_total_s", "anon_kib", "file_kib"];

/// A case: its name, values per key, and how many runs failed.
type Case = (String, BTreeMap<String, Vec<f64>>, usize);
/// A section: its name and its cases in order of first appearance.
type Section = (String, Vec<Case>);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.5}")
    } else {
        format!("{x:.2}")
    }
}

fn table(files: &[String]) -> Res<()> {
    let mut sections: Vec<Section> = Vec::new();
    let mut targets: Vec<BTreeMap<String, String>> = Vec::new();
    for f in files {
        let file = fs::File::open(f).map_err(|e| format!("{f}: {e}"))?;
        for line in io::BufReader::new(file).lines() {
            let line = line.map_err(|e| format!("{f}: {e}"))?;
            let mut fields = line.split('\t');
            let Some(label) = fields
                .next()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            else {
                continue;
            };
            if label == "@target" {
                targets.push(
                    fields
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                );
                continue;
            }
            let (sec, case) = label.split_once('|').unwrap_or(("results", label));
            let si = match sections.iter().position(|s| s.0 == sec) {
                Some(i) => i,
                None => {
                    sections.push((sec.to_string(), Vec::new()));
                    sections.len() - 1
                }
            };
            let cases = &mut sections[si].1;
            let ci = match cases.iter().position(|c| c.0 == case) {
                Some(i) => i,
                None => {
                    cases.push((case.to_string(), BTreeMap::new(), 0));
                    cases.len() - 1
                }
            };
            for kv in fields {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                if k == "failed" {
                    cases[ci].2 += 1;
                } else if let Ok(x) = v.parse::<f64>() {
                    cases[ci].1.entry(k.to_string()).or_default().push(x);
                }
            }
        }
    }
    let stdout = io::stdout();
    let mut o = stdout.lock();
    for (sec, cases) in &sections {
        let present = |k: &str| cases.iter().any(|c| c.1.contains_key(k));
        // The RSS split is shown only in footprint tables (no speed column).
        let footprint = !["req_s", "verif_s", "startup_ms"]
            .iter()
            .any(|k| present(k));
        let mut keys: Vec<&str> = COLUMNS
            .iter()
            .map(|c| c.0)
            .filter(|k| present(k) && (footprint || !HIDDEN.contains(k)))
            .collect();
        for c in cases {
            for k in c.1.keys() {
                if !keys.contains(&k.as_str()) && !HIDDEN.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
        let ratio_key = cases
            .first()
            .and_then(|c| RATIO_KEYS.iter().find(|k| c.1.contains_key(**k)));
        let header = |k: &str| {
            COLUMNS
                .iter()
                .find(|c| c.0 == k)
                .map_or(k.to_string(), |c| c.1.to_string())
        };
        let mut row = vec!["case".to_string()];
        row.extend(keys.iter().map(|k| header(k)));
        if let Some(rk) = ratio_key {
            row.push(format!("{} vs first", header(rk)));
        }
        row.push("runs".into());
        let _ = writeln!(o, "#### {sec}\n\n| {} |", row.join(" | "));
        let _ = writeln!(o, "|{}", "---|".repeat(row.len()));
        let ref_median = ratio_key
            .and_then(|rk| cases.first()?.1.get(*rk).cloned())
            .map(|mut v| median(&mut v));
        for (name, vals, fails) in cases {
            let mut row = vec![name.clone()];
            let mut runs = 0;
            for k in &keys {
                row.push(match vals.get(*k) {
                    None => "–".into(),
                    Some(v) => {
                        runs = runs.max(v.len());
                        let mut v = v.clone();
                        let m = median(&mut v);
                        let (lo, hi) = (v[0], v[v.len() - 1]);
                        if lo == hi {
                            fmt_num(m)
                        } else {
                            format!("{} ({}–{})", fmt_num(m), fmt_num(lo), fmt_num(hi))
                        }
                    }
                });
            }
            if let Some(rk) = ratio_key {
                let r = vals.get(*rk).cloned().map(|mut v| median(&mut v));
                row.push(match (r, ref_median) {
                    (Some(x), Some(base)) if base != 0.0 => format!("{:.2}×", x / base),
                    _ => "–".into(),
                });
            }
            row.push(if *fails > 0 {
                format!("{runs} (**{fails} FAILED**)")
            } else {
                runs.to_string()
            });
            let _ = writeln!(o, "| {} |", row.join(" | "));
        }
        let _ = writeln!(o);
    }
    if !targets.is_empty() {
        write_targets(&mut o, &sections, &targets);
    }
    Ok(())
}

/// `@target<TAB>name=..<TAB>num=SECTION|CASE<TAB>[den=SECTION|CASE]<TAB>key=..<TAB>op=>=|<=
/// <TAB>bound=..`: the median of `key` for `num` (divided by that of `den` if given)
/// against the bound.
fn write_targets(o: &mut impl Write, sections: &[Section], targets: &[BTreeMap<String, String>]) {
    let lookup = |label: &str, key: &str| -> Option<f64> {
        let (sec, case) = label.split_once('|')?;
        let cases = &sections.iter().find(|s| s.0 == sec)?.1;
        let mut v = cases.iter().find(|c| c.0 == case)?.1.get(key)?.clone();
        Some(median(&mut v))
    };
    let _ = writeln!(
        o,
        "#### Targets (issue 6)\n\n| target | measured | bound | verdict |\n|---|---|---|---|"
    );
    for t in targets {
        let get = |k: &str| t.get(k).map(String::as_str).unwrap_or("");
        let key = get("key");
        let num = lookup(get("num"), key);
        let ratio = t.contains_key("den");
        let value = match (num, ratio) {
            (Some(n), true) => lookup(get("den"), key).filter(|d| *d != 0.0).map(|d| n / d),
            (n, false) => n,
            _ => None,
        };
        let bound: Option<f64> = get("bound").parse().ok();
        let (shown, verdict) = match (value, bound) {
            (Some(v), Some(b)) => {
                let ok = if get("op") == "<=" { v <= b } else { v >= b };
                let shown = if ratio {
                    format!("{v:.3}×")
                } else {
                    fmt_num(v)
                };
                (shown, if ok { "met" } else { "**MISSED**" })
            }
            _ => ("–".to_string(), "not measured"),
        };
        let unit = if ratio { "×" } else { "" };
        let _ = writeln!(
            o,
            "| {} | {shown} | {} {}{unit} | {verdict} |",
            get("name"),
            get("op"),
            bound.map_or("?".into(), fmt_num)
        );
    }
    let _ = writeln!(o);
}
