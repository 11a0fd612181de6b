//! HTTPS in `serve`: TLS 1.2 and 1.3 only (rustls), the certificate chain and key read
//! from PEM files, and reloaded on SIGHUP or when either file changes, without dropping
//! a connection: each new connection takes the configuration current when it arrives;
//! open ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// The `[tls]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM: the server certificate first, then its chain.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Invalid(String),
}

/// The current server configuration, replaced on reload.
pub struct TlsReloader {
    settings: TlsSettings,
    current: RwLock<Arc<rustls::ServerConfig>>,
    stamps: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl std::fmt::Debug for TlsReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReloader")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Builds a TLS 1.2/1.3 server configuration from the PEM files.
pub fn server_config(settings: &TlsSettings) -> Result<rustls::ServerConfig, TlsError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| TlsError::Invalid(format!("{what}: {e}"));
    let chain = CertificateDer::pem_slice_iter(&read(&settings.cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate PEM", &e))?;
    if chain.is_empty() {
        return Err(TlsError::Invalid("no certificate in cert_file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&settings.key_file)?)
        .map_err(|e| invalid("private key PEM", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let clients = Arc::new(AnyClientCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid("protocol versions", &e))?
        .with_client_cert_verifier(clients)
        .with_single_cert(chain, key)
        .map_err(|e| invalid("certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Asks every client for a certificate and accepts any, or none: which certificate a
/// member must present is a per-member pin checked with its API key
/// (`members::certs`), not a CA this server trusts. The handshake still proves the client
/// holds the certificate's private key, which is what makes a pin worth anything.
#[derive(Debug)]
struct AnyClientCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl TlsReloader {
    pub fn load(settings: TlsSettings) -> Result<Arc<TlsReloader>, TlsError> {
        let config = server_config(&settings)?;
        let stamps = (modified(&settings.cert_file), modified(&settings.key_file));
        Ok(Arc::new(TlsReloader {
            settings,
            current: RwLock::new(Arc::new(config)),
            stamps: RwLock::new(stamps),
        }))
    }

    /// The acceptor for a connection arriving now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Reads the files again; a bad file keeps the previous configuration (and says so).
    pub fn reload(&self, why: &str) {
        match server_config(&self.settings) {
            Ok(config) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
                tracing::info!(why, "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, why, "TLS reload failed; keeping the previous certificate")
            }
        }
    }

    fn files_changed(&self) -> bool {
        let now = (
            modified(&self.settings.cert_file),
            modified(&self.settings.key_file),
        );
        let mut stamps = self
            .stamps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *stamps != now;
        *stamps = now;
        changed
    }

    /// Reloads on SIGHUP and when a file's modification time changes (checked every
    /// `poll`), until `stop`.
    pub async fn watch(self: Arc<Self>, poll: Duration, stop: tokio_util::sync::CancellationToken) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(poll);
        loop {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            tokio::select! {
                () = stop.cancelled() => return,
                () = hup => self.reload("SIGHUP"),
                _ = tick.tick() => {
                    if self.files_changed() {
                        self.reload("certificate files changed");
                    }
                }
            }
        }
    }
}
