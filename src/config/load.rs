//! Reading the config file and applying it, then the command-line overrides, to
//! [`Settings`]; cross-key checks last. Every error is one line naming where the bad
//! setting came from (`PATH:LINE` or `--option`) and never echoes a secret.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::value;
use super::{
    BackendKind, DEFAULT_CONFIG, HttpMethod, KEYS, ProtocolChoice, Secret, Settings, find_key,
};
use crate::cli::Invocation;
use crate::hash::{MAX_ROUNDS, MIN_ROUNDS, Scheme};
use crate::log::{Level, LogTarget};

/// A config problem: one line, `PATH:LINE: what is wrong`, `--option: what is wrong` or
/// `PATH: what is wrong`. The caller prints it (prefixed with `xmpp-extauth: `) and exits 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Config files larger than this are refused (a config is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// `read_timeout`: one week; beyond that `0` (forever) is what is meant.
const MAX_READ_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// `cache_ttl`, `cache_grace`: one week.
const MAX_CACHE_SECS: u64 = 7 * 24 * 3600;
/// Prosody's default `external_auth_timeout`.
const PROSODY_TIMEOUT_MS: u128 = 5000;

/// Where the config path came from, for error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathSource {
    Option,
    Env,
    Default,
}

/// Which location last set each key, for cross-key errors.
#[derive(Default)]
struct Origins(Vec<(&'static str, String)>);

impl Origins {
    fn set(&mut self, key: &'static str, at: String) {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, at));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, at)| at.as_str())
    }

    /// The location to blame for a problem with `key`: where it was set, else the
    /// config file, else the word `config`.
    fn blame(&self, key: &str, file: Option<&Path>) -> String {
        match (self.get(key), file) {
            (Some(at), _) => at.to_string(),
            (None, Some(f)) => f.display().to_string(),
            (None, None) => "config".to_string(),
        }
    }
}

/// Loads the effective settings: defaults, then the config file, then `inv.overrides`.
///
/// The file is `--config PATH` if given, else `env_config` (the value of
/// `XMPP_EXTAUTH_CONFIG`, passed in so tests need no environment; empty counts as unset),
/// else [`DEFAULT_CONFIG`]. A missing default file is fine; a missing named one is an error.
pub fn load(inv: &Invocation, env_config: Option<OsString>) -> Result<Settings, ConfigError> {
    let (path, source) = match (&inv.config, env_config) {
        (Some(p), _) => (p.clone(), PathSource::Option),
        (None, Some(e)) if !e.is_empty() => (PathBuf::from(e), PathSource::Env),
        _ => (PathBuf::from(DEFAULT_CONFIG), PathSource::Default),
    };
    let mut st = Settings::default();
    let mut origins = Origins::default();
    let mut world_readable = false;
    if let Some((bytes, mode)) = read_config(&path, source)? {
        world_readable = mode & 0o004 != 0;
        apply_file(&path, &bytes, &mut st, &mut origins)?;
        st.config_file = Some(path);
    }
    for ov in &inv.overrides {
        let opt = format!("--{}", ov.key.replace('_', "-"));
        let key = find_key(&ov.key).ok_or_else(|| ConfigError(format!("{opt}: unknown option")))?;
        if !key.on_argv {
            return Err(ConfigError(format!(
                "{opt}: not accepted on the command line (secrets go in the config file)"
            )));
        }
        apply(&mut st, key.name, &ov.value)
            .map_err(|e| ConfigError(format!("{opt}: {}", e.text(key.name, &ov.value))))?;
        origins.set(key.name, opt);
    }
    finish(&mut st, &origins, world_readable)?;
    Ok(st)
}

/// Reads the config file. `Ok(None)`: the default file does not exist.
fn read_config(path: &Path, source: PathSource) -> Result<Option<(Vec<u8>, u32)>, ConfigError> {
    let named_by = match source {
        PathSource::Option => " (named by --config)",
        PathSource::Env => " (named by XMPP_EXTAUTH_CONFIG)",
        PathSource::Default => "",
    };
    let err = |what: String| ConfigError(format!("{}: {what}{named_by}", path.display()));
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && source == PathSource::Default => {
            return Ok(None);
        }
        Err(e) => return Err(err(io_text(&e))),
    };
    if meta.is_dir() {
        return Err(err("is a directory, not a config file".into()));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(err("too large for a config file".into()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES).read_to_end(&mut bytes))
        .map_err(|e| err(format!("cannot read: {}", io_text(&e))))?;
    Ok(Some((bytes, meta.permissions().mode())))
}

/// An io::Error as a lowercase phrase without the `(os error N)` noise.
fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    }
}

/// Applies every `key = value` line of the file.
fn apply_file(
    path: &Path,
    bytes: &[u8],
    st: &mut Settings,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let mut seen: Vec<(&'static str, usize)> = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let at = |what: String| ConfigError(format!("{}:{n}: {what}", path.display()));
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| at("line is not valid UTF-8".into()))?
            .trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(at("expected 'key = value'".into()));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(at("missing key before '='".into()));
        }
        if !k
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(at(
                "invalid key (keys are lower-case letters, digits and '_')".into(),
            ));
        }
        let key = match find_key(k) {
            Some(key) => key,
            None => {
                let hint = value::closest(&k.replace('-', "_"), KEYS.iter().map(|k| k.name))
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                return Err(at(format!("unknown key '{k}'{hint}")));
            }
        };
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == key.name) {
            return Err(at(format!(
                "duplicate key '{}' (first set on line {first})",
                key.name
            )));
        }
        seen.push((key.name, n));
        let v = unquote(v).ok_or_else(|| at(format!("{}: unbalanced double quote", key.name)))?;
        apply(st, key.name, v).map_err(|e| {
            let mut text = e.text(key.name, v);
            if matches!(e, Bad::Value(_)) && (v.contains(" #") || v.contains("\t#")) {
                text.push_str(" (comments must be on a line of their own)");
            }
            at(text)
        })?;
        origins.set(key.name, format!("{}:{n}", path.display()));
    }
    Ok(())
}

/// Removes one pair of surrounding double quotes. `None`: a quote at one end only.
fn unquote(v: &str) -> Option<&str> {
    let starts = v.starts_with('"');
    let ends = v.len() >= 2 && v.ends_with('"');
    match (starts, ends) {
        (true, true) => Some(&v[1..v.len() - 1]),
        (false, false) => Some(v),
        (true, false) => None,
        (false, true) => Some(v),
    }
}

/// Why a single value was refused.
enum Bad {
    /// The value is wrong; the message says what was expected.
    Value(String),
    /// Something else (e.g. a feature missing from this build), said in full.
    Other(String),
}

impl Bad {
    /// The message for the admin. Values are echoed only for keys where that is safe:
    /// never a credential, never a URL (it may hold a password).
    fn text(&self, key: &str, value: &str) -> String {
        match self {
            Bad::Other(s) => s.clone(),
            Bad::Value(expected) => {
                let echo = !matches!(key, "http_auth_credentials" | "http_url" | "http_proxy")
                    && value.len() <= 200
                    && !value.chars().any(char::is_control);
                if echo {
                    format!("invalid {key} '{value}': {expected}")
                } else {
                    format!("invalid {key}: {expected}")
                }
            }
        }
    }
}

fn bad(s: impl Into<String>) -> Bad {
    Bad::Value(s.into())
}

/// Optional path: empty unsets it.
fn opt_path(v: &str) -> Result<Option<PathBuf>, Bad> {
    if v.is_empty() {
        Ok(None)
    } else {
        value::abs_path(v).map(Some).map_err(Bad::Value)
    }
}

/// Validates one value and stores it. The single place that knows what each key takes;
/// used for file lines and command-line options alike.
fn apply(st: &mut Settings, key: &str, v: &str) -> Result<(), Bad> {
    let h = &mut st.http;
    match key {
        "protocol" => {
            st.protocol = match v {
                "auto" => ProtocolChoice::Auto,
                "generic" => ProtocolChoice::Generic,
                "ejabberd" => ProtocolChoice::Ejabberd,
                _ => return Err(bad("expected auto, generic or ejabberd")),
            }
        }
        "backend" => {
            st.backend = match v {
                "file" => BackendKind::File,
                "http" if cfg!(feature = "http") => BackendKind::Http,
                "http" => {
                    return Err(Bad::Other(
                        "backend 'http' is not available: this build lacks the 'http' cargo feature"
                            .into(),
                    ));
                }
                _ => return Err(bad("expected file or http")),
            }
        }
        "users_file" => st.users_file = value::abs_path(v).map_err(Bad::Value)?,
        "allow_writes" => {
            st.allow_writes = value::boolean(v)
                .ok_or_else(|| bad("expected true or false (yes/no, 1/0, on/off)"))?
        }
        "hash_scheme" => {
            st.hash_scheme =
                Scheme::from_name(v).ok_or_else(|| bad("expected sha512-crypt or sha256-crypt"))?
        }
        "hash_rounds" => {
            st.hash_rounds =
                value::integer(v, MIN_ROUNDS.into(), MAX_ROUNDS.into()).map_err(Bad::Value)? as u32
        }
        "read_timeout" => {
            let d = value::seconds(v, MAX_READ_TIMEOUT_SECS).map_err(Bad::Value)?;
            st.read_timeout = (!d.is_zero()).then_some(d);
        }
        "deadline_ms" => {
            st.deadline = Duration::from_millis(value::integer(v, 100, 60_000).map_err(Bad::Value)?)
        }
        "log" => {
            st.log = LogTarget::parse(v)
                .ok_or_else(|| bad("expected syslog, stderr, none or file:/absolute/path"))?
        }
        "log_level" => {
            st.log_level =
                Level::from_name(v).ok_or_else(|| bad("expected error, warn, info or debug"))?
        }
        "http_url" => {
            h.url = if v.is_empty() {
                None
            } else {
                value::http_url(v, false).map_err(Bad::Value)?;
                Some(v.to_string())
            }
        }
        "http_check_method" => {
            h.check_method = match v.to_ascii_lowercase().as_str() {
                "get" => HttpMethod::Get,
                "post" => HttpMethod::Post,
                _ => return Err(bad("expected get or post")),
            }
        }
        "http_auth_credentials" => {
            h.auth_credentials = if v.is_empty() {
                None
            } else {
                match v.split_once(':') {
                    Some((user, _)) if !user.is_empty() => Some(Secret(v.to_string())),
                    _ => return Err(bad("expected user:password (value not shown)")),
                }
            }
        }
        "http_auth_credentials_file" => h.auth_credentials_file = opt_path(v)?,
        "http_ca_file" => h.ca_file = opt_path(v)?,
        "http_client_cert" => h.client_cert = opt_path(v)?,
        "http_client_key" => h.client_key = opt_path(v)?,
        "http_proxy" => {
            h.proxy = if v.is_empty() {
                None
            } else {
                value::http_url(v, true).map_err(Bad::Value)?;
                Some(v.to_string())
            }
        }
        "http_connect_timeout_ms" => {
            // The upper bound (deadline_ms) is checked once both are known.
            h.connect_timeout =
                Duration::from_millis(value::integer(v, 1, 60_000).map_err(Bad::Value)?)
        }
        "cache_ttl" => h.cache_ttl = value::seconds(v, MAX_CACHE_SECS).map_err(Bad::Value)?,
        "cache_grace" => h.cache_grace = value::seconds(v, MAX_CACHE_SECS).map_err(Bad::Value)?,
        _ => return Err(Bad::Other(format!("unknown key '{key}'"))),
    }
    Ok(())
}

/// Cross-key checks, the credentials file, and warnings.
fn finish(st: &mut Settings, o: &Origins, world_readable: bool) -> Result<(), ConfigError> {
    let file = st.config_file.clone();
    let blame =
        |key: &str, what: String| ConfigError(format!("{}: {what}", o.blame(key, file.as_deref())));

    if o.get("http_connect_timeout_ms").is_none() {
        // The default (2 s) follows a shorter deadline instead of failing.
        st.http.connect_timeout = st.http.connect_timeout.min(st.deadline);
    } else if st.http.connect_timeout > st.deadline {
        return Err(blame(
            "http_connect_timeout_ms",
            format!(
                "http_connect_timeout_ms {} is above deadline_ms {}",
                st.http.connect_timeout.as_millis(),
                st.deadline.as_millis()
            ),
        ));
    }
    if !st.http.cache_grace.is_zero() && st.http.cache_ttl.is_zero() {
        return Err(blame(
            "cache_grace",
            "cache_grace needs cache_ttl (the cache is off while cache_ttl = 0)".into(),
        ));
    }
    match (&st.http.client_cert, &st.http.client_key) {
        (Some(_), None) => {
            return Err(blame(
                "http_client_cert",
                "http_client_cert needs http_client_key".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(blame(
                "http_client_key",
                "http_client_key needs http_client_cert".into(),
            ));
        }
        _ => {}
    }
    if st.http.auth_credentials.is_some() && st.http.auth_credentials_file.is_some() {
        return Err(blame(
            "http_auth_credentials_file",
            "http_auth_credentials and http_auth_credentials_file are mutually exclusive".into(),
        ));
    }
    if st.backend == BackendKind::Http {
        match &st.http.url {
            None => {
                return Err(blame("backend", "backend = http needs http_url".into()));
            }
            Some(u) if u.to_ascii_lowercase().starts_with("https://") && !cfg!(feature = "tls") => {
                return Err(blame(
                    "http_url",
                    "https URLs need the 'tls' cargo feature, which this build lacks".into(),
                ));
            }
            _ => {}
        }
        let https_proxy = st
            .http
            .proxy
            .as_deref()
            .is_some_and(|p| p.to_ascii_lowercase().starts_with("https://"));
        if https_proxy && !cfg!(feature = "tls") {
            return Err(blame(
                "http_proxy",
                "https proxies need the 'tls' cargo feature, which this build lacks".into(),
            ));
        }
    }
    if let Some(p) = st.http.auth_credentials_file.clone() {
        let secret = read_credentials(&p).map_err(|what| {
            blame(
                "http_auth_credentials_file",
                format!("http_auth_credentials_file {}: {what}", p.display()),
            )
        })?;
        st.http.auth_credentials = Some(secret);
    } else if st.http.auth_credentials.is_some() && world_readable {
        if let Some(f) = &st.config_file {
            st.warnings.push(format!(
                "{}: world-readable but holds http_auth_credentials; run chmod o-r on it or use http_auth_credentials_file",
                f.display()
            ));
        }
    }
    if st.deadline.as_millis() >= PROSODY_TIMEOUT_MS {
        st.warnings.push(format!(
            "{}: deadline_ms {} is not below Prosody's default external_auth_timeout of 5 s; \
             fine for ejabberd (30 s), but Prosody may take a late reply as the next answer",
            o.blame("deadline_ms", file.as_deref()),
            st.deadline.as_millis()
        ));
    }
    Ok(())
}

/// Reads `user:password` from the first line of a credentials file that only its owner
/// (and group) may read. The content is never quoted in an error.
fn read_credentials(path: &Path) -> Result<Secret, String> {
    let meta = fs::metadata(path).map_err(|e| io_text(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.mode() & 0o004 != 0 {
        return Err("is world-readable; run chmod o-r on it".into());
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {}", io_text(&e)))?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let line =
        std::str::from_utf8(first).map_err(|_| "first line is not valid UTF-8".to_string())?;
    match line.split_once(':') {
        Some((user, _)) if !user.is_empty() => Ok(Secret(line.to_string())),
        _ => Err("first line must be user:password".into()),
    }
}

#[cfg(test)]
mod tests;
