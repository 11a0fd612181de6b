//! Assembling and running a hub: configuration in, serving router out.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::{AppState, HubState, RateLimits, Settings, router};
use crate::audit::AuditSink;
use crate::audit::log::AuditLog;
use crate::clock::Clock;
use crate::config::Config;
use crate::enumeration::{EnumerationGuard, EnumerationSettings};
use crate::indicators::rules::IndicatorPolicy;
use crate::members::AuthCache;
use crate::pseudonym::{KeyError, Keyring, MasterKey, Pseudonymiser};
use crate::quota_share::QuotaShare;
use crate::retention::{RetentionPolicy, run_pass};
use crate::server::ConnLimits;
use crate::store::{Store, StoreError};
use crate::tlog::{NoteError, NoteSigner};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("checkpoint signing key: {0}")]
    SigningKey(#[from] NoteError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// Time allowed on shutdown beyond the request timeout for responses to be written.
const SHUTDOWN_DRAIN_SLACK: Duration = Duration::from_secs(5);

/// A running hub's state plus the audit writer that must be flushed on shutdown.
pub struct Hub {
    state: AppState,
    audit_writer: JoinHandle<()>,
    checkpoint_interval: Duration,
    retention: RetentionPolicy,
    conn_limits: ConnLimits,
    metrics: MetricsEndpoint,
    tls: Option<crate::tls::TlsSettings>,
}

/// Where `/metrics` is served: nowhere, an address still to bind, or a bound listener.
struct MetricsEndpoint {
    listen: Option<std::net::SocketAddr>,
    listener: Option<TcpListener>,
    pool_max: u32,
}

impl Hub {
    /// Opens the database (migrating it) and starts the audit writer.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Hub, HubError> {
        let store = open_store(config).await?;
        store.migrate().await?;
        let ring = load_keyring(config)?;
        let signer = load_signing_key(config)?;
        Ok(Hub::with_keyring(config, store, &ring, signer, clock))
    }

    /// A hub of one master key at `config.master_key_version`.
    pub fn with_store(
        config: &Config,
        store: Store,
        master: &MasterKey,
        signer: NoteSigner,
        clock: Arc<dyn Clock>,
    ) -> Hub {
        let ring = Keyring::single(master.clone(), config.master_key_version);
        Hub::with_keyring(config, store, &ring, signer, clock)
    }

    /// `serve` reads the stored key state before it accepts anything and refuses to
    /// start when `ring` cannot serve it.
    pub fn with_keyring(
        config: &Config,
        store: Store,
        ring: &Keyring,
        signer: NoteSigner,
        clock: Arc<dyn Clock>,
    ) -> Hub {
        if config.metrics_listen.is_some() {
            crate::metrics::install();
        }
        let (audit, audit_writer) = AuditSink::start(store.clone(), config.audit_batch_max);
        let share = QuotaShare::new(config.quota_instances);
        let auth_changes = Arc::new(store.auth_changes());
        let pseudonymiser = Arc::new(Pseudonymiser::from_ring(ring));
        let keys = Arc::new(KeyFollower::new(
            store.clone(),
            pseudonymiser.clone(),
            auth_changes.clone(),
        ));
        let state = AppState::new(HubState {
            audit_log: AuditLog::new(store.clone(), signer, config.audit_origin.clone()),
            store,
            audit,
            pseudonymiser,
            keys,
            clock,
            limits: Arc::new(RateLimits::new(share)),
            bulk_running: Arc::default(),
            enumeration: Arc::new(EnumerationGuard::new(EnumerationSettings {
                default_daily_subjects: config.default_daily_subject_budget,
                window: chrono::Duration::seconds(
                    i64::try_from(config.sweep_window_secs).unwrap_or(i64::MAX / 1000),
                ),
                same_birth_date_max: config.sweep_same_birth_date_max,
                same_serial_max: config.sweep_same_serial_max,
                share,
            })),
            auth_cache: Arc::new(AuthCache::new(
                Duration::from_millis(config.auth_cache_ms),
                Duration::from_millis(config.unknown_key_cache_ms),
                auth_changes,
            )),
            auth_failures: Arc::new(crate::api::AuthFailures::new(
                config.auth_failures_per_minute,
                config.auth_failure_burst,
            )),
            settings: Arc::new(Settings {
                max_match_identifiers: config.max_match_identifiers,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                body_limit_bytes: config.body_limit_bytes,
                trusted_proxies: config.trusted_proxies.clone(),
                ip_rate_per_second: config.ip_rate_per_second,
                ip_burst: config.ip_burst,
                retention: RetentionPolicy::from_config(config),
                audit_stall: Duration::from_millis(config.audit_stall_ms),
                quota_share: share,
                indicators: IndicatorPolicy {
                    under_review_after: i64::from(config.indicator_under_review_after),
                    dispute_answer_days: i64::from(config.indicator_dispute_answer_days),
                },
                webhooks: config.webhooks.clone(),
                webhook_urls: crate::events::ssrf::UrlPolicy {
                    https_only: config.production,
                    allowed_hosts: config.webhooks.allowed_hosts.clone(),
                },
            }),
            bankid: None,
            web: Arc::new(crate::web::WebState::new(
                config.web.clone(),
                config.trusted_proxies.clone(),
            )),
        });
        Hub {
            state,
            audit_writer,
            checkpoint_interval: Duration::from_secs(config.checkpoint_interval_secs),
            retention: RetentionPolicy::from_config(config),
            conn_limits: ConnLimits {
                header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
                idle_timeout: Duration::from_millis(config.idle_timeout_ms),
                max_connections: config.max_connections,
                // Handlers are cut off at the request timeout, so anything still running
                // well after it is a stuck response write, not work worth waiting for.
                drain_timeout: Duration::from_millis(config.request_timeout_ms)
                    + SHUTDOWN_DRAIN_SLACK,
            },
            metrics: MetricsEndpoint {
                listen: config.metrics_listen,
                listener: None,
                pool_max: config.db_max_connections,
            },
            tls: config.tls.clone(),
        }
    }

    /// Binds the metrics listener now (if `metrics_listen` is set) and returns its
    /// address; `serve` binds it otherwise. Lets a caller learn a port-0 address.
    pub async fn bind_metrics(&mut self) -> std::io::Result<Option<std::net::SocketAddr>> {
        if self.metrics.listener.is_none()
            && let Some(addr) = self.metrics.listen
        {
            self.metrics.listener = Some(TcpListener::bind(addr).await?);
        }
        self.metrics
            .listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// BankID's routes for `serve` to mount: in simulator mode the simulator's
    /// device page under `/bankid-sim`, nothing in external mode. No handler
    /// uses BankID yet.
    pub fn set_bankid(&mut self, bankid: Arc<crate::bankid::BankId>) {
        self.state.make_mut().bankid = Some(bankid);
    }
}

/// Serves until `shutdown` resolves, then drains in-flight requests, flushes pending
/// audit entries, signs a final checkpoint and closes the database pool. If serving
/// fails (the listening socket breaks) the same sequence runs before the error is
/// returned, so no committed audit entry is left without a checkpoint.
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Hub {
        state,
        audit_writer,
        checkpoint_interval,
        retention,
        conn_limits,
        metrics,
        tls,
    } = hub;
    // A bad certificate or key stops `serve` before it accepts anything.
    let tls = tls
        .map(crate::tls::TlsReloader::load)
        .transpose()
        .map_err(std::io::Error::other)?;
    let metrics_listener = match (metrics.listener, metrics.listen) {
        (Some(l), _) => Some(l),
        (None, Some(addr)) => Some(TcpListener::bind(addr).await?),
        (None, None) => None,
    };
    let store = state.store.clone();
    let log = state.audit_log.clone();
    let clock = state.clock.clone();
    let pseudonymiser = state.pseudonymiser.clone();
    adopt_key_state(&store, &pseudonymiser)
        .await
        .map_err(std::io::Error::other)?;
    // The checkpoint endpoint only serves stored checkpoints, so there is one from the
    // first request on.
    if let Err(e) = log.checkpoint(clock.now()).await {
        tracing::error!(error = %e, "start-up checkpoint failed");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let key_state = tokio::spawn(follow_key_state(state.keys.clone(), stop.clone()));
    let housekeeping = tokio::spawn(housekeeping(
        log.clone(),
        store.clone(),
        pseudonymiser,
        clock.clone(),
        checkpoint_interval,
        retention,
        stop.clone(),
    ));
    let deliveries = tokio::spawn(crate::events::webhooks::run(
        store.clone(),
        clock.clone(),
        state.settings.webhooks.clone(),
        state.settings.webhook_urls.clone(),
        stop.clone(),
    ));
    let metrics_task = metrics_listener.map(|l| {
        crate::metrics::spawn_listener(
            l,
            crate::metrics::Sampler::new(store.clone(), clock.clone(), metrics.pool_max),
            conn_limits,
            stop.clone(),
        )
    });
    let revocations = tokio::spawn(state.auth_cache.changes().listen(stop.clone()));
    if let Some(reloader) = &tls {
        tokio::spawn(reloader.clone().watch(Duration::from_secs(2), stop.clone()));
    }
    let served =
        crate::server::serve_app_tls(listener, router(state), conn_limits, tls, shutdown).await;
    stop.cancel();
    let _ = revocations.await;
    let _ = key_state.await;
    let _ = housekeeping.await;
    let _ = deliveries.await;
    if let Some(task) = metrics_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "metrics listener failed"),
            Err(e) => tracing::error!(error = %e, "metrics listener ended abnormally"),
        }
    }
    // All handler clones of the sink are gone now, so the writer commits what is left
    // and ends.
    if let Err(e) = audit_writer.await {
        tracing::error!(error = %e, "audit writer ended abnormally");
    }
    // Sign the final state so the last entries are covered by a checkpoint.
    if let Err(e) = log.checkpoint(clock.now()).await {
        tracing::error!(error = %e, "final checkpoint failed");
    }
    store.close().await;
    served
}

/// Segment filters built per housekeeping tick at most: one per 131 072 entries is all
/// a hub needs, but a log upgraded to migration 0015 needs one for every old segment, and
/// each takes a read of that segment's part of the index.
const FILTERS_PER_TICK: usize = 64;

/// Signs checkpoints at the configured cadence, builds the subject index's segment
/// filters and runs the retention pass.
async fn housekeeping(
    log: AuditLog,
    store: Store,
    pseudonymiser: Arc<Pseudonymiser>,
    clock: Arc<dyn Clock>,
    every: Duration,
    retention: RetentionPolicy,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    // The first tick comes at once: retention and expiries run at start-up, but the log
    // was signed just before this task started. Signing again then only raced the first
    // requests, so a checkpoint could appear before the cadence said (a flaky test).
    let mut signed_at_start = true;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = clock.now();
        if !std::mem::take(&mut signed_at_start) {
            match log.checkpoint(now).await {
                Ok(cp) => tracing::debug!(size = cp.size, "checkpoint current"),
                Err(e) => tracing::error!(error = %e, "checkpoint failed"),
            }
        }
        match crate::events::announce_expiries(&store, &pseudonymiser, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(announced = n, "flag expiries announced to watchers"),
            Err(e) => tracing::error!(error = %e, "announcing flag expiries failed"),
        }
        match crate::audit::segments::build_filters(&store, FILTERS_PER_TICK).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(built = n, "subject index segment filters built"),
            Err(e) => tracing::error!(error = %e, "building segment filters failed"),
        }
        match run_pass(&store, &retention, now).await {
            Ok(r) if r.is_empty() => {}
            Ok(r) => tracing::info!(
                audit_entries_redacted = r.audit_entries_redacted,
                flags_purged = r.flags_purged,
                indicators_purged = r.indicators_purged,
                idempotency_keys_deleted = r.idempotency_keys_deleted,
                sessions_deleted = r.sessions_deleted,
                "retention pass"
            ),
            Err(e) => tracing::error!(error = %e, "retention pass failed"),
        }
    }
}

/// Reads the stored key state (creating it at the ring's base version on a database
/// that has none) and adopts it; an error when the ring cannot serve it.
pub async fn adopt_key_state(store: &Store, p: &Pseudonymiser) -> Result<(), HubError> {
    let state = store.key_state(p.base_version()).await?;
    p.set_state(state)?;
    Ok(())
}

/// How often an idle hub looks whether the key state may have changed (requests look
/// themselves, see [`KeyFollower`]).
const KEY_STATE_POLL: Duration = Duration::from_millis(200);

/// Follows the stored key state: `keys rotate` announces its changes through the same
/// signal as key revocations, and whoever notices the signal moved (a request, or the
/// idle poll) reads the state again. Per request that is one atomic load (PostgreSQL,
/// after a NOTIFY) or one `stat` (SQLite's signal file); the state itself is read only
/// when something changed, or on every call while the PostgreSQL listener is down.
pub struct KeyFollower {
    store: Store,
    pseudonymiser: Arc<Pseudonymiser>,
    changes: Arc<crate::store::AuthChanges>,
    seen: std::sync::Mutex<Option<u64>>,
}

impl KeyFollower {
    pub fn new(
        store: Store,
        pseudonymiser: Arc<Pseudonymiser>,
        changes: Arc<crate::store::AuthChanges>,
    ) -> Self {
        let seen = std::sync::Mutex::new(changes.generation());
        Self {
            store,
            pseudonymiser,
            changes,
            seen,
        }
    }

    pub fn pseudonymiser(&self) -> &Pseudonymiser {
        &self.pseudonymiser
    }

    /// Reads the key state again if it may have changed since the last look.
    pub async fn follow(&self) {
        let now = self.changes.generation();
        let last = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_some() && now == last {
            return;
        }
        let before = self.pseudonymiser.state();
        match adopt_key_state(&self.store, &self.pseudonymiser).await {
            Ok(()) => {
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
                let after = self.pseudonymiser.state();
                if after != before {
                    tracing::info!(current = after.current, next = ?after.next, "key state changed");
                }
            }
            Err(HubError::Key(e)) => {
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
                tracing::error!(error = %e, "this hub cannot follow the key state: answering 503 until it restarts with the key in its keyring");
            }
            Err(e) => tracing::warn!(error = %e, "reading the key state failed; trying again"),
        }
    }
}

/// Follows the key state while the hub is idle.
async fn follow_key_state(follower: Arc<KeyFollower>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(KEY_STATE_POLL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => follower.follow().await,
        }
    }
}

pub async fn open_store(config: &Config) -> Result<Store, HubError> {
    if config.database_url.is_none() {
        create_private_dir(&config.data_dir)?;
        // SQLite would create the file with the umask's mode (often 0644); its -wal and
        // -shm files copy the main file's mode, so creating it 0600 covers all three.
        create_private_db_file(&config.data_dir.join("fraudhub.db"))?;
    }
    Ok(Store::connect_with_timeout(
        &config.effective_database_url(),
        config.db_max_connections,
        Duration::from_millis(config.db_acquire_timeout_ms),
    )
    .await?)
}

/// The master keyring: from the environment, else from a file, else (development only)
/// a generated key persisted under the data directory with mode 0600. The text is one
/// bare key (version `master_key_version`) or `<version>:<hex>` lines.
pub fn load_keyring(config: &Config) -> Result<Keyring, HubError> {
    if let Some(text) = &config.master_key {
        return Ok(Keyring::parse(
            text.expose_secret(),
            config.master_key_version,
        )?);
    }
    if let Some(path) = &config.master_key_file {
        return read_keyring(path, config.master_key_version);
    }
    let path = config.data_dir.join("dev-master.key");
    if path.exists() {
        tracing::warn!(path = %path.display(), "DEVELOPMENT MASTER KEY in use: not for production");
        return read_keyring(&path, config.master_key_version);
    }
    Ok(Keyring::single(
        load_master_key(config)?,
        config.master_key_version,
    ))
}

/// The master key: from the environment, else from a file, else (development only) a
/// generated key persisted under the data directory with mode 0600.
pub fn load_master_key(config: &Config) -> Result<MasterKey, HubError> {
    if let Some(hex) = &config.master_key {
        return Ok(MasterKey::from_hex(hex.expose_secret())?);
    }
    if let Some(path) = &config.master_key_file {
        return read_key_file(path);
    }
    let path = config.data_dir.join("dev-master.key");
    if path.exists() {
        tracing::warn!(path = %path.display(), "DEVELOPMENT MASTER KEY in use: not for production");
        return read_key_file(&path);
    }
    create_private_dir(&config.data_dir)?;
    let key = MasterKey::generate();
    write_private_file(&path, key.to_hex().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "GENERATED A DEVELOPMENT MASTER KEY: tokens depend on it; set FRAUDHUB_MASTER_KEY or master_key_file in production"
    );
    Ok(key)
}

/// The checkpoint signing key: environment, else file, else (development only) a
/// generated key persisted next to the development master key.
pub fn load_signing_key(config: &Config) -> Result<NoteSigner, HubError> {
    let name = config.audit_origin.as_str();
    if let Some(text) = &config.audit_signing_key {
        return Ok(NoteSigner::from_key_text(name, text.expose_secret())?);
    }
    if let Some(path) = &config.audit_signing_key_file {
        return Ok(NoteSigner::from_file(name, path)?);
    }
    let path = config.data_dir.join("dev-audit-signing.key");
    if path.exists() {
        return Ok(NoteSigner::from_file(name, &path)?);
    }
    create_private_dir(&config.data_dir)?;
    let signer = NoteSigner::generate(name)?;
    write_private_file(&path, signer.secret_hex().as_bytes())?;
    tracing::warn!(path = %path.display(), "GENERATED A DEVELOPMENT CHECKPOINT SIGNING KEY: not for production");
    Ok(signer)
}

fn read_keyring(path: &Path, bare_version: i64) -> Result<Keyring, HubError> {
    let text = std::fs::read_to_string(path).map_err(|source| HubError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Keyring::parse(&text, bare_version)?)
}

fn read_key_file(path: &Path) -> Result<MasterKey, HubError> {
    let text = std::fs::read_to_string(path).map_err(|source| HubError::KeyFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(MasterKey::from_hex(&text)?)
}

/// The data directory holds the database and the development keys: owner only.
fn create_private_dir(dir: &Path) -> Result<(), HubError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| HubError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    warn_if_shared(dir);
    Ok(())
}

fn create_private_db_file(path: &Path) -> Result<(), HubError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| HubError::DataDir {
            path: path.display().to_string(),
            source,
        })?;
    warn_if_shared(path);
    Ok(())
}

/// Files made by older versions (or by hand) keep their mode; the operator decides.
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "readable by other users: should be owner-only (chmod go-rwx)"
            );
        }
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), HubError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| HubError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(contents).map_err(err)?;
    f.sync_all().map_err(err)
}
