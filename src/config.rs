//! Configuration: built-in defaults, then an optional TOML file, then `FRAUDHUB_*`
//! environment variables, then command-line flags. Validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::bankid::BankIdSettings;

/// Secrets (`SecretString`: `{:?}` is redacted, the memory is wiped on drop) are read from
/// the layers but never serialised: the only serialisation is of the built-in defaults, where
/// they are unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    /// `sqlite:` or `postgres:` URL. Unset means SQLite under `data_dir`.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    pub data_dir: PathBuf,
    /// File holding the 64-hex-character master key.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself, normally only from `FRAUDHUB_MASTER_KEY`.
    #[serde(skip_serializing)]
    pub master_key: Option<SecretString>,
    pub master_key_version: i64,
    /// Refuse development defaults (generated keys, implicit SQLite, BankID simulator).
    pub production: bool,
    pub max_match_identifiers: usize,
    pub request_timeout_ms: u64,
    pub body_limit_bytes: usize,
    pub db_max_connections: u32,
    /// Upper bound of audit entries committed in one transaction (group commit).
    pub audit_batch_max: usize,
    pub default_rate_per_second: u32,
    pub default_burst: u32,
    /// How long a successful key check is reused; revocations from the CLI take effect
    /// within this time. 0 disables the cache.
    pub auth_cache_ms: u64,
    /// Ed25519 checkpoint signing key (hex seed), normally only from the environment.
    #[serde(skip_serializing)]
    pub audit_signing_key: Option<SecretString>,
    pub audit_signing_key_file: Option<PathBuf>,
    /// Checkpoint origin line and signing key name.
    pub audit_origin: String,
    /// How often a new checkpoint is signed when the log has grown.
    pub checkpoint_interval_secs: u64,
    /// Personal-data fields of audit entries older than this are cleared.
    pub audit_retention_days: u32,
    /// BankID: the built-in simulator (default) or an external BankID environment.
    pub bankid: BankIdSettings,
    /// The consumer pages: sessions and per-address and per-person limits.
    pub web: crate::web::WebConfig,
    /// Webhook delivery: retries, disabling, timeouts and the SSRF allow-list.
    pub webhooks: crate::events::webhooks::WebhookSettings,
    /// HTTPS in `serve` (certificate and key files); unset: plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// TLS is terminated by a proxy in `trusted_proxies` (which says so with
    /// `X-Forwarded-Proto: https`); lets production serve plain HTTP to that proxy.
    pub behind_tls_proxy: bool,
    /// Distinct personal numbers a member may look up per UTC day, unless set per member
    /// with `fraudhub member quota --daily-subjects`.
    pub default_daily_subject_budget: u64,
    /// Sweep detection window.
    pub sweep_window_secs: u64,
    /// More distinct personal numbers than this sharing one birth date within the window
    /// is treated as a sweep.
    pub sweep_same_birth_date_max: u32,
    /// More distinct personal numbers than this sharing one serial within the window is
    /// treated as a sweep.
    pub sweep_same_serial_max: u32,
    /// Requests per second per client address, on every route, before authentication.
    pub ip_rate_per_second: u32,
    pub ip_burst: u32,
    /// Failed authentications per client address: the bucket refills at this rate…
    pub auth_failures_per_minute: u32,
    /// …and holds this many; an empty bucket blocks the address from authenticating.
    pub auth_failure_burst: u32,
    /// Proxies whose `X-Forwarded-For` is believed. Empty: the peer address is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long an unknown key id is remembered as unknown (no database lookup); 0 off.
    pub unknown_key_cache_ms: u64,
    /// Days a lifted or expired flag is kept (the owner still sees it as a past flag)
    /// before it is deleted.
    pub flag_retention_days: u32,
    /// Hours an Idempotency-Key is remembered; a reuse after that creates a new flag.
    pub idempotency_ttl_hours: u32,
    /// From this many false-positive reports by other members, an indicator is shown as
    /// under review (and only asks for investigation).
    pub indicator_under_review_after: u32,
    /// Days a publisher has to uphold a disputed indicator before the dispute ends it.
    pub indicator_dispute_answer_days: u32,
    /// A new connection, or the first byte of a new request on a kept-alive one, must
    /// deliver a complete request head within this time or is closed without a response.
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in flight is closed after this time.
    pub idle_timeout_ms: u64,
    /// Open client connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a request waits for a database connection (reconnecting included) before
    /// it is answered 503 `unavailable`.
    pub db_acquire_timeout_ms: u64,
    /// Readiness fails when one audit group commit has run longer than this.
    pub audit_stall_ms: u64,
    /// Where Prometheus scrapes `GET /metrics`: a listener of its own, never the member
    /// API's. Unset: no metrics listener and no recorder.
    pub metrics_listen: Option<SocketAddr>,
    /// Hub instances serving the same members behind one load balancer. Each instance
    /// enforces this fraction of every in-memory limit (member quota and burst, daily
    /// subject budget, per-address limits), so together they hold the configured total.
    pub quota_instances: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            data_dir: PathBuf::from("fraudhub-data"),
            master_key_file: None,
            master_key: None,
            master_key_version: 1,
            production: false,
            max_match_identifiers: 100,
            request_timeout_ms: 10_000,
            body_limit_bytes: 256 * 1024,
            db_max_connections: 16,
            audit_batch_max: 2048,
            default_rate_per_second: 200,
            default_burst: 400,
            auth_cache_ms: 2_000,
            audit_signing_key: None,
            audit_signing_key_file: None,
            audit_origin: "fraudhub.local/audit".to_string(),
            checkpoint_interval_secs: 60,
            audit_retention_days: 365,
            bankid: BankIdSettings::default(),
            web: crate::web::WebConfig::default(),
            webhooks: crate::events::webhooks::WebhookSettings::default(),
            tls: None,
            behind_tls_proxy: false,
            default_daily_subject_budget: 100_000,
            sweep_window_secs: 600,
            sweep_same_birth_date_max: 50,
            sweep_same_serial_max: 200,
            ip_rate_per_second: 1_000,
            ip_burst: 2_000,
            auth_failures_per_minute: 30,
            auth_failure_burst: 20,
            trusted_proxies: Vec::new(),
            unknown_key_cache_ms: 60_000,
            flag_retention_days: 90,
            idempotency_ttl_hours: 24,
            indicator_under_review_after: 3,
            indicator_dispute_answer_days: 30,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 4096,
            db_acquire_timeout_ms: 5_000,
            audit_stall_ms: 5_000,
            metrics_listen: None,
            quota_instances: 1,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: Config = figment
            // FRAUDHUB_LOG, FRAUDHUB_LOG_FORMAT (tracing) and FRAUDHUB_TEST_* (test harness)
            // are not configuration keys; `__` separates nested keys.
            .merge(
                Env::prefixed("FRAUDHUB_")
                    .ignore(&["log", "log_format"])
                    .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
                    .split("__"),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if let Some(url) = &self.database_url {
            let u = url.expose_secret();
            if !(u.starts_with("sqlite:")
                || u.starts_with("postgres:")
                || u.starts_with("postgresql:"))
            {
                return invalid("database_url", "must start with sqlite: or postgres:");
            }
        }
        if let Err((field, reason)) = self.web.validate() {
            return invalid(field, reason);
        }
        if self.webhooks.disable_after_secs < 86_400 {
            return invalid(
                "webhooks.disable_after_secs",
                "must be at least 86400: failing endpoints are retried for at least a day",
            );
        }
        if self.webhooks.retry_base_ms == 0 || self.webhooks.timeout_ms == 0 {
            return invalid(
                "webhooks.retry_base_ms",
                "retry_base_ms and timeout_ms must be > 0",
            );
        }
        if !(1..=10_000).contains(&self.max_match_identifiers) {
            return invalid("max_match_identifiers", "must be between 1 and 10000");
        }
        // One check per key, so the error names the key that is wrong.
        if self.request_timeout_ms == 0 {
            return invalid("request_timeout_ms", "must be > 0");
        }
        if self.body_limit_bytes < 1024 {
            return invalid("body_limit_bytes", "must be >= 1024");
        }
        if self.db_max_connections == 0 {
            return invalid("db_max_connections", "must be > 0");
        }
        if self.audit_batch_max == 0 {
            return invalid("audit_batch_max", "must be > 0");
        }
        if self.default_rate_per_second == 0 {
            return invalid("default_rate_per_second", "must be > 0");
        }
        if self.default_burst == 0 {
            return invalid("default_burst", "must be > 0");
        }
        if self.audit_origin.trim().is_empty() || self.audit_origin.contains(char::is_whitespace) {
            return invalid("audit_origin", "must be a non-empty name without spaces");
        }
        if self.checkpoint_interval_secs == 0 {
            return invalid("checkpoint_interval_secs", "must be > 0");
        }
        if self.audit_retention_days == 0 {
            return invalid("audit_retention_days", "must be > 0");
        }
        if self.default_daily_subject_budget == 0 {
            return invalid("default_daily_subject_budget", "must be > 0");
        }
        if self.sweep_window_secs == 0 {
            return invalid("sweep_window_secs", "must be > 0");
        }
        if self.sweep_same_birth_date_max == 0 {
            return invalid("sweep_same_birth_date_max", "must be > 0");
        }
        if self.sweep_same_serial_max == 0 {
            return invalid("sweep_same_serial_max", "must be > 0");
        }
        if self.ip_rate_per_second == 0 {
            return invalid("ip_rate_per_second", "must be > 0");
        }
        if self.ip_burst == 0 {
            return invalid("ip_burst", "must be > 0");
        }
        if self.auth_failures_per_minute == 0 {
            return invalid("auth_failures_per_minute", "must be > 0");
        }
        if self.auth_failure_burst == 0 {
            return invalid("auth_failure_burst", "must be > 0");
        }
        if !(1..=3650).contains(&self.flag_retention_days) {
            return invalid("flag_retention_days", "must be between 1 and 3650");
        }
        if !(1..=1000).contains(&self.indicator_under_review_after) {
            return invalid("indicator_under_review_after", "must be between 1 and 1000");
        }
        if !(1..=365).contains(&self.indicator_dispute_answer_days) {
            return invalid("indicator_dispute_answer_days", "must be between 1 and 365");
        }
        if !(1..=720).contains(&self.idempotency_ttl_hours) {
            return invalid("idempotency_ttl_hours", "must be between 1 and 720");
        }
        // A remembered key must never point at a flag that retention already deleted.
        if u64::from(self.idempotency_ttl_hours) > u64::from(self.flag_retention_days) * 24 {
            return invalid(
                "idempotency_ttl_hours",
                "must not exceed flag_retention_days * 24",
            );
        }
        if let Err(e) = self
            .bankid
            .validate(self.production)
            .and_then(|()| self.bankid.validate_exposure(self.listen))
        {
            return Err(ConfigError::Invalid {
                field: e.field,
                reason: e.reason,
            });
        }
        if self.production {
            if self.audit_signing_key.is_none() && self.audit_signing_key_file.is_none() {
                return invalid(
                    "audit_signing_key_file",
                    "production refuses the generated development checkpoint signing key",
                );
            }
            if self.database_url.is_none() {
                return invalid(
                    "database_url",
                    "production requires an explicit database URL",
                );
            }
            if self.master_key.is_none() && self.master_key_file.is_none() {
                return invalid(
                    "master_key_file",
                    "production refuses the generated development master key",
                );
            }
            if self.tls.is_none() && !self.behind_tls_proxy {
                return invalid(
                    "tls",
                    "production refuses plain HTTP: set tls.cert_file and tls.key_file, or \
                     behind_tls_proxy = true with the proxy in trusted_proxies",
                );
            }
        }
        if self.behind_tls_proxy && self.trusted_proxies.is_empty() {
            return invalid(
                "behind_tls_proxy",
                "needs the TLS proxy's address in trusted_proxies",
            );
        }
        if !(1..=3_600_000).contains(&self.header_read_timeout_ms) {
            return invalid(
                "header_read_timeout_ms",
                "must be between 1 and 3600000 milliseconds",
            );
        }
        if !(1..=3_600_000).contains(&self.idle_timeout_ms) {
            return invalid(
                "idle_timeout_ms",
                "must be between 1 and 3600000 milliseconds",
            );
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return invalid("max_connections", "must be between 1 and 1000000");
        }
        if !(1..=600_000).contains(&self.db_acquire_timeout_ms) {
            return invalid(
                "db_acquire_timeout_ms",
                "must be between 1 and 600000 milliseconds",
            );
        }
        if !(1..=3_600_000).contains(&self.audit_stall_ms) {
            return invalid(
                "audit_stall_ms",
                "must be between 1 and 3600000 milliseconds",
            );
        }
        if let Some(metrics) = self.metrics_listen
            && metrics.port() != 0
            && metrics.port() == self.listen.port()
            && (metrics.ip() == self.listen.ip()
                || metrics.ip().is_unspecified()
                || self.listen.ip().is_unspecified())
        {
            return invalid(
                "metrics_listen",
                "must not be the member API's address (listen)",
            );
        }
        if !(1..=1000).contains(&self.quota_instances) {
            return invalid("quota_instances", "must be between 1 and 1000");
        }
        Ok(())
    }

    /// The database URL in effect: the configured one, or SQLite under the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!(
                "sqlite:{}?mode=rwc",
                self.data_dir.join("fraudhub.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Config {
            database_url: Some("postgres://u:hunter2@db/fh".into()),
            master_key: Some("00".repeat(32).into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains(&"00".repeat(32)));
    }

    #[test]
    fn secret_is_wiped_on_drop() {
        use zeroize::{Zeroize, ZeroizeOnDrop};
        fn wiped_on_drop<T: ZeroizeOnDrop + ?Sized>() {}
        wiped_on_drop::<SecretString>();
        let mut s = SecretString::from("postgres://u:hunter2@db/fh");
        // What drop does, done early so the result can be seen.
        s.zeroize();
        assert!(s.expose_secret().bytes().all(|b| b == 0));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_are_read_from_the_layers_but_never_serialised() -> Result<(), Box<figment::Error>> {
        // As `load` builds it, minus the environment (which the test must not depend on).
        let c: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "database_url = \"postgres://u:hunter2@db/fh\"\n\
                 [bankid]\npkcs12_password = \"qwerty123\"\n",
            ))
            .extract()?;
        assert_eq!(c.effective_database_url(), "postgres://u:hunter2@db/fh");
        assert_eq!(
            c.bankid.pkcs12_password.as_ref().map(|p| p.expose_secret()),
            Some("qwerty123")
        );
        let written = serde_json::to_string(&c).unwrap_or_default();
        assert!(written.contains("\"listen\""), "{written}");
        assert!(!written.contains("hunter2") && !written.contains("qwerty123"));
        Ok(())
    }

    #[test]
    fn quota_instances_must_be_between_one_and_a_thousand() {
        for (n, ok) in [
            (0, false),
            (1, true),
            (3, true),
            (1000, true),
            (1001, false),
        ] {
            let c = Config {
                quota_instances: n,
                ..Config::default()
            };
            match c.validate() {
                Ok(()) => assert!(ok, "{n} accepted"),
                Err(ConfigError::Invalid { field, .. }) => {
                    assert!(!ok, "{n} refused");
                    assert_eq!(field, "quota_instances");
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn each_invalid_key_is_reported_under_its_own_name() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 8] = [
            ("request_timeout_ms", |c| c.request_timeout_ms = 0),
            ("body_limit_bytes", |c| c.body_limit_bytes = 10),
            ("db_max_connections", |c| c.db_max_connections = 0),
            ("audit_batch_max", |c| c.audit_batch_max = 0),
            ("default_rate_per_second", |c| c.default_rate_per_second = 0),
            ("default_burst", |c| c.default_burst = 0),
            ("checkpoint_interval_secs", |c| {
                c.checkpoint_interval_secs = 0
            }),
            ("audit_retention_days", |c| c.audit_retention_days = 0),
        ];
        for (key, spoil) in cases {
            let mut c = Config::default();
            spoil(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field, .. }) => assert_eq!(field, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn production_refuses_plain_http_unless_behind_a_trusted_tls_proxy() {
        let explicit = Config {
            production: true,
            database_url: Some("postgres://db/fraudhub".to_string().into()),
            master_key_file: Some("/etc/fraudhub/master.key".into()),
            audit_signing_key_file: Some("/etc/fraudhub/signing.key".into()),
            bankid: crate::bankid::BankIdSettings {
                mode: crate::bankid::BankIdMode::External,
                base_url: Some("https://appapi2.test.bankid.com/rp/v6.0/".into()),
                pkcs12_file: Some("/etc/fraudhub/rp.p12".into()),
                root_ca_file: Some("/etc/fraudhub/bankid-ca.pem".into()),
                ..crate::bankid::BankIdSettings::default()
            },
            ..Config::default()
        };
        let err = explicit
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("tls"), "{err}");
        let proxied = Config {
            behind_tls_proxy: true,
            ..explicit.clone()
        };
        let err = proxied
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("trusted_proxies"), "{err}");
        let proxied = Config {
            trusted_proxies: vec![std::net::IpAddr::from([10, 0, 0, 2])],
            ..proxied
        };
        let err = proxied
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            !err.contains("tls") && !err.contains("behind_tls_proxy"),
            "{err}"
        );
    }

    #[test]
    fn production_refuses_development_defaults() {
        let c = Config {
            production: true,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
