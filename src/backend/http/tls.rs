//! TLS for the HTTP backend: rustls on the ring provider (never aws-lc-rs, which is heavy
//! to cross-compile for routers), the system CA bundle or `http_ca_file`, optional client
//! certificate for mutual TLS.
//!
//! Everything is loaded and checked at start-up, so a bad file is a start-up error with
//! the path in it, not a failed login later. The client certificate and key are checked
//! against each other here with rustls itself: ureq would panic on a mismatch.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use super::HttpSetupError;
use crate::config::HttpSettings;

/// Where distributions keep the system bundle, in the order we try them. OpenWrt's
/// `ca-bundle`/`ca-certificates` packages use the Debian path.
pub const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch, OpenWrt
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL, CentOS
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS, BSDs
    "/etc/pki/tls/cacert.pem",            // OpenELEC
];

/// Largest PEM file we read (a full system bundle is ~200 KiB).
const MAX_PEM: u64 = 4 * 1024 * 1024;

/// The ring provider, also installed as the process default so nothing in rustls can pick
/// another one. Its defaults are what we want (TLS 1.3 and 1.2; AES-128/256-GCM and
/// ChaCha20-Poly1305, the latter for routers without AES hardware; X25519, P-256, P-384).
/// A trimmed copy without P-384 key exchange was measured: it saves no code (ring shares it
/// with P-384 certificate verification, which must stay) and the x86_64 binary grew 4 KiB.
fn provider() -> Arc<CryptoProvider> {
    let p = Arc::new(rustls::crypto::ring::default_provider());
    // Err only if some default is already installed; ours is passed explicitly anyway.
    let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    p
}

fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, HttpSetupError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| HttpSetupError::new(format!("{key} {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(MAX_PEM + 1)
        .read_to_end(&mut buf)
        .map_err(|e| HttpSetupError::new(format!("{key} {}: {e}", path.display())))?;
    if buf.len() as u64 > MAX_PEM {
        return Err(HttpSetupError::new(format!(
            "{key} {}: larger than {MAX_PEM} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

fn certificates(key: &str, path: &Path) -> Result<Vec<Certificate<'static>>, HttpSetupError> {
    let pem = read_pem(key, path)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(_) => {
                return Err(HttpSetupError::new(format!(
                    "{key} {}: malformed pem",
                    path.display()
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(HttpSetupError::new(format!(
            "{key} {}: no certificates found",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(key: &str, path: &Path) -> Result<PrivateKey<'static>, HttpSetupError> {
    let pem = read_pem(key, path)?;
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::PrivateKey(k)) => return Ok(k),
            Ok(_) => {}
            Err(_) => {
                return Err(HttpSetupError::new(format!(
                    "{key} {}: malformed pem",
                    path.display()
                )));
            }
        }
    }
    Err(HttpSetupError::new(format!(
        "{key} {}: no private key found",
        path.display()
    )))
}

/// The root store: `http_ca_file`, or the first system bundle that exists.
fn roots(settings: &HttpSettings) -> Result<Vec<Certificate<'static>>, HttpSetupError> {
    if let Some(path) = &settings.ca_file {
        return certificates("http_ca_file", path);
    }
    for p in SYSTEM_CA_BUNDLES {
        let path = Path::new(p);
        if path.exists() {
            return certificates("system ca bundle", path);
        }
    }
    Err(HttpSetupError::new(format!(
        "no system ca bundle found (tried {}); install ca-certificates or set http_ca_file",
        SYSTEM_CA_BUNDLES.join(", ")
    )))
}

/// The transport's TLS settings. `https` false (plain-http URL): nothing is loaded, but a
/// client certificate, if configured, must still be valid.
pub fn config(settings: &HttpSettings, https: bool) -> Result<TlsConfig, HttpSetupError> {
    let provider = provider();
    let mut builder = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider.clone());
    let roots = if https { roots(settings)? } else { Vec::new() };

    // Check what ureq would otherwise only find (or panic on) at the first handshake.
    let mut store = rustls::RootCertStore::empty();
    let (added, _ignored) =
        store.add_parsable_certificates(roots.iter().map(|c| c.der().to_vec().into()));
    if https && added == 0 {
        let which = match &settings.ca_file {
            Some(p) => format!("http_ca_file {}", p.display()),
            None => "system ca bundle".to_owned(),
        };
        return Err(HttpSetupError::new(format!(
            "{which}: no usable ca certificates"
        )));
    }
    let check = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| HttpSetupError::new(format!("tls: {e}")))?
        .with_root_certificates(store);

    let client = match (&settings.client_cert, &settings.client_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let chain = certificates("http_client_cert", cert)?;
            let pkey = private_key("http_client_key", key)?;
            let der_chain = chain.iter().map(|c| c.der().to_vec().into()).collect();
            let der_key =
                rustls::pki_types::PrivateKeyDer::try_from(pkey.der().to_vec()).map_err(|e| {
                    HttpSetupError::new(format!("http_client_key {}: {e}", key.display()))
                })?;
            check
                .with_client_auth_cert(der_chain, der_key)
                .map_err(|e| {
                    HttpSetupError::new(format!(
                        "http_client_key {}: does not fit http_client_cert {}: {e}",
                        key.display(),
                        cert.display()
                    ))
                })?;
            Some(ClientCert::new_with_certs(&chain, pkey))
        }
        _ => {
            return Err(HttpSetupError::new(
                "http_client_cert and http_client_key must be set together",
            ));
        }
    };
    builder = builder.client_cert(client);
    if https {
        builder = builder.root_certs(RootCerts::new_with_certs(&roots));
    }
    Ok(builder.build())
}
