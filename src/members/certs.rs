//! Client certificates pinned to a member (mutual TLS).
//!
//! A member that pins one or more certificates can only use its API keys from a
//! connection that presented one of them: a stolen key alone is then worthless. A pin is
//! the SHA-256 fingerprint of the certificate's DER bytes — what
//! `openssl x509 -noout -fingerprint -sha256` prints — so operators can compute it
//! without the hub. The certificate reaches the hub either in the TLS handshake `serve`
//! terminates, or from a trusted proxy that terminated TLS and forwards the certificate
//! it verified (see [`FORWARDED_CERT_HEADER`]).

use std::fmt;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The header a trusted TLS-terminating proxy puts the client's certificate in: the PEM,
/// URL-encoded (nginx: `proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`).
/// Honoured only from a trusted proxy address; from anyone else it is ignored.
pub const FORWARDED_CERT_HEADER: &str = "x-client-cert";

/// The SHA-256 fingerprint of a certificate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(der).into())
    }

    /// The first certificate of a PEM text.
    pub fn of_pem(pem: &[u8]) -> Result<Self, CertError> {
        let cert = CertificateDer::from_pem_slice(pem).map_err(|_| CertError::NotPem)?;
        Ok(Self::of_der(cert.as_ref()))
    }

    /// The URL-encoded PEM a proxy forwards.
    pub fn of_forwarded(value: &str) -> Result<Self, CertError> {
        let pem = percent_encoding::percent_decode_str(value).collect::<Vec<u8>>();
        Self::of_pem(&pem)
    }

    /// Accepts `openssl`'s colon-separated form as well as plain hex, in either case.
    pub fn parse(text: &str) -> Result<Self, CertError> {
        let hex_only: String = text.trim().chars().filter(|c| *c != ':').collect();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&hex_only, &mut bytes).map_err(|_| CertError::BadFingerprint)?;
        Ok(Self(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({})", self.to_hex())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertError {
    #[error("not a PEM certificate")]
    NotPem,
    #[error("a fingerprint is 64 hexadecimal characters (SHA-256), colons allowed")]
    BadFingerprint,
}

/// A member's pins, as stored: fingerprints in hex, comma-separated.
pub fn parse_pins(stored: &str) -> Result<Vec<CertFingerprint>, CertError> {
    stored
        .split(',')
        .filter(|p| !p.is_empty())
        .map(CertFingerprint::parse)
        .collect()
}

pub fn store_pins(pins: &[CertFingerprint]) -> String {
    pins.iter()
        .map(|p| p.to_hex())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a request may use the member's key: always when the member pins nothing,
/// otherwise only with one of the pinned certificates.
pub fn admits(pins: &[CertFingerprint], presented: Option<CertFingerprint>) -> bool {
    pins.is_empty() || presented.is_some_and(|p| pins.contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_openssl_and_plain_form() {
        let plain = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(
            CertFingerprint::parse(&plain),
            CertFingerprint::parse(&colons)
        );
        assert_eq!(
            CertFingerprint::parse("abcd"),
            Err(CertError::BadFingerprint)
        );
    }

    #[test]
    fn a_member_without_pins_admits_any_connection_and_one_with_pins_only_a_pinned_cert() {
        let pin = CertFingerprint([1; 32]);
        assert!(admits(&[], None));
        assert!(admits(&[pin], Some(pin)));
        assert!(!admits(&[pin], None));
        assert!(!admits(&[pin], Some(CertFingerprint([2; 32]))));
    }

    #[test]
    fn stored_pins_round_trip() {
        let pins = vec![CertFingerprint([1; 32]), CertFingerprint([0xfe; 32])];
        assert_eq!(parse_pins(&store_pins(&pins)), Ok(pins));
        assert_eq!(parse_pins(""), Ok(vec![]));
    }
}
