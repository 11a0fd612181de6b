//! The `[bankid]` section of the hub configuration: which BankID the hub talks
//! to (the built-in simulator, or an external BankID environment over mutual
//! TLS) and how.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use secrecy::SecretString;

use super::sim::SimConfig;

/// Which BankID the hub talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankIdMode {
    /// The built-in simulator, started inside `fraudhub serve` (development
    /// and tests only; refused when `production = true`).
    #[default]
    Simulator,
    /// A real BankID environment (test or production) at `base_url`.
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankIdSettings {
    pub mode: BankIdMode,
    /// External mode: e.g. `https://appapi2.test.bankid.com/rp/v6.0/`.
    pub base_url: Option<String>,
    /// External mode: the RP certificate chain as PEM (with `client_key_file`).
    pub client_cert_file: Option<PathBuf>,
    /// External mode: the RP private key as PEM (with `client_cert_file`).
    pub client_key_file: Option<PathBuf>,
    /// External mode: the RP identity as PKCS#12 (instead of the PEM pair).
    pub pkcs12_file: Option<PathBuf>,
    /// Password of `pkcs12_file`, normally from `FRAUDHUB_BANKID__PKCS12_PASSWORD`.
    /// Read, never serialised.
    #[serde(skip_serializing)]
    pub pkcs12_password: Option<SecretString>,
    /// External mode: PEM of the CA that issued BankID's server certificate.
    pub root_ca_file: Option<PathBuf>,
    /// Per-request timeout towards BankID.
    pub timeout_secs: u64,
    /// Default collect interval; BankID asks for 2 s.
    pub poll_interval_ms: u64,
    /// Simulator mode: where the simulated RP API (HTTPS, mutual TLS) listens.
    pub sim_listen: SocketAddr,
    /// Simulator mode: the simulator's PEM files; unset means
    /// `<data_dir>/bankid-sim`.
    pub sim_tls_dir: Option<PathBuf>,
    /// Simulator behaviour (lifetimes, latency, faults, scripts).
    pub sim: SimConfig,
    /// Simulator mode: allow serving the simulator (its device page under
    /// `/bankid-sim`, where anyone can approve any order) when the hub or
    /// `sim_listen` is on a non-loopback address. Off: such a start is refused.
    pub simulator_allow_non_loopback: bool,
}

impl Default for BankIdSettings {
    fn default() -> Self {
        Self {
            mode: BankIdMode::Simulator,
            base_url: None,
            client_cert_file: None,
            client_key_file: None,
            pkcs12_file: None,
            pkcs12_password: None,
            root_ca_file: None,
            timeout_secs: 10,
            poll_interval_ms: 2000,
            sim_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            sim_tls_dir: None,
            sim: SimConfig::default(),
            simulator_allow_non_loopback: false,
        }
    }
}

/// A rejected `[bankid]` setting: the key (`bankid.…`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> Result<(), SettingError> {
    Err(SettingError {
        field,
        reason: reason.into(),
    })
}

impl BankIdSettings {
    /// The simulator's TLS directory in effect.
    pub fn sim_tls_dir(&self, data_dir: &Path) -> PathBuf {
        self.sim_tls_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("bankid-sim"))
    }

    /// Checks the section on its own and against `production`.
    pub fn validate(&self, production: bool) -> Result<(), SettingError> {
        if self.timeout_secs == 0 || self.poll_interval_ms == 0 {
            return refuse(
                "bankid.timeout_secs",
                "timeout_secs and poll_interval_ms must be > 0",
            );
        }
        match self.mode {
            BankIdMode::Simulator if production => refuse(
                "bankid.mode",
                "production refuses the BankID simulator; set bankid.mode = \"external\" \
                 with base_url, the RP certificate and root_ca_file",
            ),
            BankIdMode::Simulator => Ok(()),
            BankIdMode::External => self.validate_external(),
        }
    }

    /// Refuses to serve the simulator beyond this machine unless the operator
    /// said so: its device surface approves any order for anyone who reaches
    /// it. `hub_listen` is where the hub (and so `/bankid-sim`) listens.
    pub fn validate_exposure(&self, hub_listen: SocketAddr) -> Result<(), SettingError> {
        if self.mode != BankIdMode::Simulator || self.simulator_allow_non_loopback {
            return Ok(());
        }
        for (what, addr) in [
            ("listen", hub_listen),
            ("bankid.sim_listen", self.sim_listen),
        ] {
            if !addr.ip().to_canonical().is_loopback() {
                return refuse(
                    "bankid.simulator_allow_non_loopback",
                    format!(
                        "{what} = {addr} is not a loopback address, and the BankID simulator \
                         would let anyone who reaches it approve any order; listen on 127.0.0.1, \
                         use bankid.mode = \"external\", or set \
                         bankid.simulator_allow_non_loopback = true if you really mean it"
                    ),
                );
            }
        }
        Ok(())
    }

    fn validate_external(&self) -> Result<(), SettingError> {
        let Some(base_url) = self.base_url.as_deref() else {
            return refuse(
                "bankid.base_url",
                "external BankID mode requires base_url (e.g. https://appapi2.test.bankid.com/rp/v6.0/)",
            );
        };
        match url::Url::parse(base_url.trim()) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
            _ => return refuse("bankid.base_url", "must be an https:// URL"),
        }
        let pem = (&self.client_cert_file, &self.client_key_file);
        match (pem, &self.pkcs12_file) {
            ((Some(_), Some(_)), None) | ((None, None), Some(_)) => {}
            ((Some(_), Some(_)), Some(_)) => {
                return refuse(
                    "bankid.pkcs12_file",
                    "give either client_cert_file + client_key_file or pkcs12_file, not both",
                );
            }
            ((Some(_), None), _) | ((None, Some(_)), _) => {
                return refuse(
                    "bankid.client_cert_file",
                    "client_cert_file and client_key_file go together",
                );
            }
            ((None, None), None) => {
                return refuse(
                    "bankid.client_cert_file",
                    "external BankID mode requires the RP certificate: client_cert_file + \
                     client_key_file (PEM) or pkcs12_file",
                );
            }
        }
        if self.root_ca_file.is_none() {
            return refuse(
                "bankid.root_ca_file",
                "external BankID mode requires root_ca_file (BankID's SSL root CA as PEM)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external() -> BankIdSettings {
        BankIdSettings {
            mode: BankIdMode::External,
            base_url: Some(super::super::TEST_BASE_URL.into()),
            pkcs12_file: Some("rp.p12".into()),
            pkcs12_password: Some("qwerty123".into()),
            root_ca_file: Some("root.pem".into()),
            ..BankIdSettings::default()
        }
    }

    #[test]
    fn simulator_is_the_default_and_refused_in_production() {
        let s = BankIdSettings::default();
        assert_eq!(s.mode, BankIdMode::Simulator);
        assert!(s.validate(false).is_ok());
        let err = s.validate(true).err().map(|e| e.reason).unwrap_or_default();
        assert!(
            err.contains("production") && err.contains("BankID"),
            "{err}"
        );
    }

    #[test]
    fn external_needs_url_identity_and_root_ca() {
        assert!(external().validate(true).is_ok());
        let pem = BankIdSettings {
            pkcs12_file: None,
            client_cert_file: Some("c.pem".into()),
            client_key_file: Some("k.pem".into()),
            ..external()
        };
        assert!(pem.validate(true).is_ok());
        for (broken, field) in [
            (
                BankIdSettings {
                    base_url: None,
                    ..external()
                },
                "bankid.base_url",
            ),
            (
                BankIdSettings {
                    base_url: Some("http://appapi2.test.bankid.com/rp/v6.0/".into()),
                    ..external()
                },
                "bankid.base_url",
            ),
            (
                BankIdSettings {
                    pkcs12_file: None,
                    ..external()
                },
                "bankid.client_cert_file",
            ),
            (
                BankIdSettings {
                    client_cert_file: Some("c.pem".into()),
                    ..external()
                },
                "bankid.client_cert_file",
            ),
            (
                BankIdSettings {
                    client_cert_file: Some("c.pem".into()),
                    client_key_file: Some("k.pem".into()),
                    ..external()
                },
                "bankid.pkcs12_file",
            ),
            (
                BankIdSettings {
                    root_ca_file: None,
                    ..external()
                },
                "bankid.root_ca_file",
            ),
        ] {
            assert_eq!(broken.validate(false).err().map(|e| e.field), Some(field));
        }
    }

    #[test]
    fn simulator_on_a_non_loopback_address_needs_the_opt_in() {
        let any = SocketAddr::from(([0, 0, 0, 0], 8080));
        let local = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 8080));
        let s = BankIdSettings::default();
        assert!(s.validate_exposure(local).is_ok());
        assert_eq!(
            s.validate_exposure(any).err().map(|e| e.field),
            Some("bankid.simulator_allow_non_loopback")
        );
        let exposed_rp = BankIdSettings {
            sim_listen: any,
            ..BankIdSettings::default()
        };
        assert!(exposed_rp.validate_exposure(local).is_err());
        let opted_in = BankIdSettings {
            simulator_allow_non_loopback: true,
            ..BankIdSettings::default()
        };
        assert!(opted_in.validate_exposure(any).is_ok());
        assert!(external().validate_exposure(any).is_ok());
    }

    #[test]
    fn sim_tls_dir_defaults_under_the_data_dir() {
        let s = BankIdSettings::default();
        assert_eq!(
            s.sim_tls_dir(Path::new("/var/lib/fh")),
            PathBuf::from("/var/lib/fh/bankid-sim")
        );
    }

    #[test]
    fn debug_output_redacts_the_pkcs12_password() {
        let shown = format!("{:?}", external());
        assert!(!shown.contains("qwerty123"), "{shown}");
    }
}
