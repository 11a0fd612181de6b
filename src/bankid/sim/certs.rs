//! The simulator's PKI: a private CA, a server certificate for
//! localhost/127.0.0.1 and an RP client certificate, generated once into
//! the TLS directory and reused on later starts.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};

use super::SimError;

/// Where the simulator's PEM files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub dir: PathBuf,
    /// CA that issued both the server and the client certificate. RPs use
    /// it as their BankID root CA; the simulator trusts client certs from it.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The RP credentials to configure in the BankID client.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    fn all(&self) -> [&Path; 5] {
        [
            &self.ca,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
    }
}

fn io_err(path: &Path, source: std::io::Error) -> SimError {
    SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), SimError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = opts.open(path).map_err(|e| io_err(path, e))?;
    // `mode` only applies on creation; an older file keeps its bits.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(contents.as_bytes())
        .map_err(|e| io_err(path, e))
}

fn cert_err(e: rcgen::Error) -> SimError {
    SimError::Certificate(e.to_string())
}

fn params(common_name: &str, sans: Vec<String>) -> Result<CertificateParams, SimError> {
    let mut p = CertificateParams::new(sans).map_err(cert_err)?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.distinguished_name
        .push(DnType::OrganizationName, "fraudhub BankID simulator");
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2049, 12, 31);
    Ok(p)
}

/// Generates all five files, overwriting whatever partial set was there.
fn generate(files: &TlsFiles) -> Result<(), SimError> {
    // A per-installation suffix keeps two simulators' CAs apart by name, so
    // a certificate from the wrong one fails as "unknown issuer".
    let instance = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut ca_params = params(
        &format!("fraudhub BankID simulator CA {instance}"),
        Vec::new(),
    )?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(cert_err)?;

    let mut server_params = params(
        "localhost",
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
    )?;
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server_key = KeyPair::generate().map_err(cert_err)?;
    let server = server_params
        .signed_by(&server_key, &ca)
        .map_err(cert_err)?;

    let mut client_params = params("fraudhub simulated RP", Vec::new())?;
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let client_key = KeyPair::generate().map_err(cert_err)?;
    let client = client_params
        .signed_by(&client_key, &ca)
        .map_err(cert_err)?;

    // The CA key is deliberately not kept: nothing should be able to mint
    // further RP certificates for this simulator after start-up.
    write_file(&files.ca, &ca.pem(), false)?;
    write_file(&files.server_cert, &server.pem(), false)?;
    write_file(&files.server_key, &server_key.serialize_pem(), true)?;
    write_file(&files.client_cert, &client.pem(), false)?;
    write_file(&files.client_key, &client_key.serialize_pem(), true)?;
    Ok(())
}

/// Makes sure `dir` holds a complete set of PEM files and returns their paths.
pub fn ensure_tls_dir(dir: &Path) -> Result<TlsFiles, SimError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let files = TlsFiles::in_dir(dir);
    if files.all().iter().all(|p| p.is_file()) {
        tracing::debug!(dir = %dir.display(), "bankid-sim: reusing TLS files");
        return Ok(files);
    }
    tracing::info!(dir = %dir.display(), "bankid-sim: generating CA, server and RP client certificates");
    generate(&files)?;
    Ok(files)
}
