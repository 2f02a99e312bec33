//! `/etc/xmpp-extauth.conf` (`key = value`) merged with command-line overrides into
//! validated [`Settings`]. (Types fixed here; parsing on the config/cli branch.)

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

/// Everything the HTTP backend needs.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        }
    }
}
