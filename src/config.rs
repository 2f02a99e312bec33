//! `/etc/xmpp-extauth.conf` (`key = value`) merged with command-line overrides into
//! validated [`Settings`].
//!
//! File format (also in the man page): one `key = value` per line; blank lines and lines
//! whose first non-blank character is `#` are ignored. There are no trailing comments, on
//! purpose: URLs and passwords may contain `#`, and a value is everything after the first
//! `=`, trimmed. One pair of double quotes around a value is removed (no escapes). An empty
//! value leaves an optional key unset. Unknown keys, bad values and duplicate keys are
//! errors naming `PATH:LINE`. Command-line options (`--users-file`) are applied after the
//! file through the same validation, so the two can never disagree.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod load;
pub mod value;

pub use load::{ConfigError, load};

use crate::hash::Scheme;
use crate::log::{Level, LogTarget};

/// Default config file, read when neither `--config` nor `XMPP_EXTAUTH_CONFIG` names one.
/// Prosody cannot pass arguments to the helper, so everything must be settable here.
pub const DEFAULT_CONFIG: &str = "/etc/xmpp-extauth.conf";
/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "XMPP_EXTAUTH_CONFIG";
/// Default users file.
pub const DEFAULT_USERS_FILE: &str = "/etc/xmpp-extauth/users";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolChoice {
    /// Detect from the first byte of input.
    Auto,
    Generic,
    Ejabberd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    File,
    Http,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// A secret from the config (HTTP Basic credentials). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything the HTTP backend needs. `Debug` hides the credentials and any password
/// inside the proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Base URL; `$host` is replaced by the request's host. Required for `backend = http`.
    pub url: Option<String>,
    /// How check_password and user_exists are sent (GET by the protocol; POST keeps
    /// passwords out of access logs).
    pub check_method: HttpMethod,
    /// `user:password` for HTTP Basic, from `http_auth_credentials`.
    pub auth_credentials: Option<Secret>,
    /// File holding `user:password` (must not be world-readable).
    pub auth_credentials_file: Option<PathBuf>,
    /// PEM bundle of trusted CAs instead of the system bundle.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Proxy URL; the environment's proxy variables are ignored.
    pub proxy: Option<String>,
    /// Connect timeout (always capped by the request deadline).
    pub connect_timeout: Duration,
    /// How long a successful auth (and isuser results) are remembered; zero = no cache.
    pub cache_ttl: Duration,
    /// While the API is unavailable, a cached success younger than this still answers yes.
    pub cache_grace: Duration,
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("url", &self.url.as_deref().map(value::redact_userinfo))
            .field("check_method", &self.check_method)
            .field("auth_credentials", &self.auth_credentials)
            .field("auth_credentials_file", &self.auth_credentials_file)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("proxy", &self.proxy.as_deref().map(value::redact_userinfo))
            .field("connect_timeout", &self.connect_timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_grace", &self.cache_grace)
            .finish()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            url: None,
            check_method: HttpMethod::Get,
            auth_credentials: None,
            auth_credentials_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            proxy: None,
            connect_timeout: Duration::from_millis(2000),
            cache_ttl: Duration::ZERO,
            cache_grace: Duration::ZERO,
        }
    }
}

/// The validated, effective settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The config file actually read, if any.
    pub config_file: Option<PathBuf>,
    pub protocol: ProtocolChoice,
    pub backend: BackendKind,
    pub users_file: PathBuf,
    /// `setpass`, `tryregister`, `removeuser`, `removeuser3` are refused unless true.
    pub allow_writes: bool,
    pub hash_scheme: Scheme,
    pub hash_rounds: u32,
    /// Exit when no byte arrives for this long; `None` = wait forever (`read_timeout = 0`).
    pub read_timeout: Option<Duration>,
    /// Per-request deadline: answer `0` rather than late.
    pub deadline: Duration,
    pub log: LogTarget,
    pub log_level: Level,
    pub http: HttpSettings,
    /// Problems worth a warning that do not stop start-up (a world-readable config file
    /// holding `http_auth_credentials`, a deadline above Prosody's timeout). The caller
    /// logs them once the logger is up.
    pub warnings: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config_file: None,
            protocol: ProtocolChoice::Auto,
            backend: BackendKind::File,
            users_file: PathBuf::from(DEFAULT_USERS_FILE),
            allow_writes: false,
            hash_scheme: Scheme::Sha512Crypt,
            hash_rounds: crate::hash::DEFAULT_ROUNDS,
            read_timeout: None,
            deadline: Duration::from_millis(4000),
            log: LogTarget::Syslog,
            log_level: Level::Info,
            http: HttpSettings::default(),
            warnings: Vec::new(),
        }
    }
}

/// One config key: its name, default as written in the file, and a one-line meaning.
/// The single list that the parser, `config check`, the help text test, the man page test
/// and the sample config test all check against.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
    /// Also accepted as a long option (`users_file` -> `--users-file`). False only for
    /// secrets, which never go on a command line (`/proc/PID/cmdline` is world-readable).
    pub on_argv: bool,
}

impl Key {
    /// The long option for this key, without the leading dashes.
    pub fn option(&self) -> String {
        self.name.replace('_', "-")
    }
}

const fn key(name: &'static str, default: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default,
        meaning,
        on_argv: true,
    }
}

/// Every config key, in the order `config check` prints them.
pub const KEYS: &[Key] = &[
    key(
        "protocol",
        "auto",
        "auto, generic (Prosody) or ejabberd (2-byte frames); auto detects from the first byte",
    ),
    key(
        "backend",
        "file",
        "where passwords are checked: file (users file) or http (mod_auth_http API)",
    ),
    key(
        "users_file",
        DEFAULT_USERS_FILE,
        "users file for backend = file (absolute path)",
    ),
    key(
        "allow_writes",
        "false",
        "allow setpass, tryregister, removeuser and removeuser3 to change accounts",
    ),
    key(
        "hash_scheme",
        "sha512-crypt",
        "scheme for new hashes: sha512-crypt ($6$) or sha256-crypt ($5$)",
    ),
    key(
        "hash_rounds",
        "5000",
        "rounds for new hashes, 1000 to 1000000",
    ),
    key(
        "read_timeout",
        "0",
        "exit after this many idle seconds (decimals allowed); 0 = wait forever",
    ),
    key(
        "deadline_ms",
        "4000",
        "per-request deadline, 100 to 60000 ms; keep it below the server's timeout",
    ),
    key(
        "log",
        "syslog",
        "where logs go: syslog, stderr, none or file:/absolute/path",
    ),
    key("log_level", "info", "error, warn, info or debug"),
    key(
        "http_url",
        "",
        "base URL of the mod_auth_http API (http:// or https://); required for backend = http",
    ),
    key(
        "http_check_method",
        "get",
        "get (the protocol) or post (keeps passwords out of web server access logs)",
    ),
    Key {
        name: "http_auth_credentials",
        default: "",
        meaning: "user:password for HTTP Basic authentication (config file only, never argv)",
        on_argv: false,
    },
    key(
        "http_auth_credentials_file",
        "",
        "file whose first line is user:password; must not be world-readable",
    ),
    key(
        "http_ca_file",
        "",
        "PEM file of trusted CAs instead of the system bundle",
    ),
    key(
        "http_client_cert",
        "",
        "PEM client certificate chain for mutual TLS (needs http_client_key)",
    ),
    key(
        "http_client_key",
        "",
        "PEM private key for http_client_cert",
    ),
    key(
        "http_proxy",
        "",
        "proxy URL (http://[user:pass@]host:port); proxy environment variables are ignored",
    ),
    key(
        "http_connect_timeout_ms",
        "2000",
        "TCP/TLS connect timeout, 1 to deadline_ms",
    ),
    key(
        "cache_ttl",
        "0",
        "seconds a successful HTTP answer is remembered; 0 = no cache",
    ),
    key(
        "cache_grace",
        "0",
        "while the API is down, a cached success younger than this still answers yes; needs cache_ttl",
    ),
];

/// Looks a key up by its config name.
pub fn find_key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

impl Settings {
    /// Every key with its effective value, in [`KEYS`] order, for `config check`. Secrets
    /// are shown as `<set>`/`<unset>`, passwords inside proxy URLs as `<redacted>`; an
    /// unset optional key is an empty string (which the file syntax reads back as unset).
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let h = &self.http;
        let mut out = Vec::with_capacity(KEYS.len());
        for k in KEYS {
            let v = match k.name {
                "protocol" => match self.protocol {
                    ProtocolChoice::Auto => "auto",
                    ProtocolChoice::Generic => "generic",
                    ProtocolChoice::Ejabberd => "ejabberd",
                }
                .to_string(),
                "backend" => match self.backend {
                    BackendKind::File => "file",
                    BackendKind::Http => "http",
                }
                .to_string(),
                "users_file" => self.users_file.display().to_string(),
                "allow_writes" => self.allow_writes.to_string(),
                "hash_scheme" => self.hash_scheme.name().to_string(),
                "hash_rounds" => self.hash_rounds.to_string(),
                "read_timeout" => value::format_seconds(self.read_timeout.unwrap_or_default()),
                "deadline_ms" => self.deadline.as_millis().to_string(),
                "log" => self.log.to_string(),
                "log_level" => self.log_level.name().to_string(),
                "http_url" => h
                    .url
                    .as_deref()
                    .map(value::redact_userinfo)
                    .unwrap_or_default(),
                "http_check_method" => match h.check_method {
                    HttpMethod::Get => "get",
                    HttpMethod::Post => "post",
                }
                .to_string(),
                "http_auth_credentials" => match (&h.auth_credentials, &h.auth_credentials_file) {
                    (None, _) => "<unset>".to_string(),
                    (Some(_), None) => "<set>".to_string(),
                    (Some(_), Some(_)) => "<set> (from http_auth_credentials_file)".to_string(),
                },
                "http_auth_credentials_file" => path(&h.auth_credentials_file),
                "http_ca_file" => path(&h.ca_file),
                "http_client_cert" => path(&h.client_cert),
                "http_client_key" => path(&h.client_key),
                "http_proxy" => h
                    .proxy
                    .as_deref()
                    .map(value::redact_userinfo)
                    .unwrap_or_default(),
                "http_connect_timeout_ms" => h.connect_timeout.as_millis().to_string(),
                "cache_ttl" => value::format_seconds(h.cache_ttl),
                "cache_grace" => value::format_seconds(h.cache_grace),
                _ => continue,
            };
            out.push((k.name, v));
        }
        out
    }
}
