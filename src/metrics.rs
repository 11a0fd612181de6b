//! Prometheus metrics, served on a listener of their own (`metrics_listen`).
//!
//! The `metrics` facade has one recorder per process, so the Prometheus recorder is
//! installed once (the first hub that asks for it) and every hub in the process records
//! into it; each metrics listener renders from the same handle. While no hub has
//! metrics enabled nothing is installed and every call below is a cheap no-op.
//!
//! Labels carry only bounded, non-personal values: route templates (never raw paths),
//! methods, status codes, member ids (integers the operator assigned, not personal data),
//! refusal reasons and BankID outcomes. No identifier, key id or client address is ever
//! a label.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, to_millis};
use crate::server::{ConnLimits, serve_app};
use crate::store::Store;

pub const HTTP_REQUESTS: &str = "fraudhub_http_requests_total";
pub const HTTP_DURATION: &str = "fraudhub_http_request_duration_seconds";
pub const AUDIT_BATCH_SIZE: &str = "fraudhub_audit_batch_size";
pub const AUDIT_COMMIT_DURATION: &str = "fraudhub_audit_commit_duration_seconds";
pub const AUDIT_COMMIT_FAILURES: &str = "fraudhub_audit_commit_failures_total";
pub const AUDIT_QUEUE_DEPTH: &str = "fraudhub_audit_queue_depth";
pub const RATE_LIMITED: &str = "fraudhub_rate_limited_total";
/// Recorded by the BankID client itself (it depends on nothing in the hub).
pub const BANKID_ORDERS: &str = crate::bankid::ORDERS_METRIC;
pub const DB_POOL_CONNECTIONS: &str = "fraudhub_db_pool_connections";
pub const DB_POOL_IDLE: &str = "fraudhub_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "fraudhub_db_pool_max_connections";
pub const CHECKPOINT_AGE: &str = "fraudhub_audit_checkpoint_age_seconds";
pub const UNSIGNED_ENTRIES: &str = "fraudhub_audit_entries_since_checkpoint";

/// Every metric the hub exports; the dashboard test checks against this list.
pub const METRIC_NAMES: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    AUDIT_BATCH_SIZE,
    AUDIT_COMMIT_DURATION,
    AUDIT_COMMIT_FAILURES,
    AUDIT_QUEUE_DEPTH,
    RATE_LIMITED,
    BANKID_ORDERS,
    DB_POOL_CONNECTIONS,
    DB_POOL_IDLE,
    DB_POOL_MAX,
    CHECKPOINT_AGE,
    UNSIGNED_ENTRIES,
];

/// Request latencies: the match endpoint answers in well under a millisecond when
/// healthy, so the low end is fine-grained; the top is the default request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Rows per group commit, up to the largest `audit_batch_max` worth distinguishing.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// How often histogram storage is compacted when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// A scrape must answer even when the database does not; database-derived gauges are
/// then left as they were (the checkpoint age still grows, from the last known time).
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder on first call; later calls return the
/// same handle. `None` if another recorder was installed first (an embedding program's).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(AUDIT_BATCH_SIZE.into()),
                        BATCH_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "metrics recorder not installed; /metrics will answer 503");
                    None
                }
            }
        })
        .as_ref()
}

fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get().and_then(Option::as_ref)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from request to response head, by route template, method and status"
    );
    describe_histogram!(AUDIT_BATCH_SIZE, "Audit entries per group commit");
    describe_histogram!(
        AUDIT_COMMIT_DURATION,
        Unit::Seconds,
        "Duration of one audit group commit (lookups included)"
    );
    describe_counter!(AUDIT_COMMIT_FAILURES, "Audit group commits that failed");
    describe_gauge!(
        AUDIT_QUEUE_DEPTH,
        "Requests waiting for the audit writer when its last commit ended"
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429, by member id (- before authentication) and reason"
    );
    describe_counter!(BANKID_ORDERS, "Final BankID collect outcomes");
    describe_gauge!(DB_POOL_CONNECTIONS, "Open database connections");
    describe_gauge!(DB_POOL_IDLE, "Idle database connections");
    describe_gauge!(DB_POOL_MAX, "Configured database pool size");
    describe_gauge!(
        CHECKPOINT_AGE,
        Unit::Seconds,
        "Age of the newest signed audit checkpoint"
    );
    describe_gauge!(
        UNSIGNED_ENTRIES,
        "Audit entries appended since the newest signed checkpoint"
    );
}

/// Counts and times every request by its matched route template. Outermost layer, so
/// refusals by the inner limit layers are counted too.
pub async fn track_http(req: Request, next: Next) -> Response {
    if handle().is_none() {
        return next.run(req).await;
    }
    // Unmatched requests (404s, probes) share one label: a raw path would carry ids and
    // let any client create series without bound.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let labels = [
        ("route", route),
        ("method", method.to_string()),
        ("status", response.status().as_u16().to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Clients choose the method string; only the standard ones become label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Why a request was refused with 429; the string form is the `reason` label.
#[derive(Debug, Clone, Copy, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Limit {
    /// The member's requests-per-second quota.
    Quota,
    /// The member's daily budget of distinct personal numbers.
    SubjectBudget,
    /// The member tripped the sweep detector.
    Sweep,
    /// The per-client-address limit, before authentication.
    Client,
    /// The client address is blocked after failed authentications.
    AuthFailures,
}

/// `member` is `None` for refusals before authentication; the address is never a label.
pub fn rate_limited(member: Option<i64>, limit: Limit) {
    let member = member.map_or_else(|| "-".to_string(), |id| id.to_string());
    counter!(RATE_LIMITED, "member" => member, "reason" => <&str>::from(limit)).increment(1);
}

/// One group commit of the audit writer.
pub fn audit_committed(rows: usize, took: Duration, ok: bool, queued: usize) {
    metrics::histogram!(AUDIT_BATCH_SIZE).record(rows as f64);
    metrics::histogram!(AUDIT_COMMIT_DURATION).record(took.as_secs_f64());
    if !ok {
        counter!(AUDIT_COMMIT_FAILURES).increment(1);
    }
    gauge!(AUDIT_QUEUE_DEPTH).set(queued as f64);
}

/// What a scrape samples from its own hub: the pool and the newest checkpoint.
pub(crate) struct Sampler {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub max_connections: u32,
    /// `created_at` of the newest checkpoint seen, so the age keeps growing while the
    /// database cannot be asked.
    last_checkpoint_ms: AtomicI64,
}

impl Sampler {
    pub fn new(store: Store, clock: Arc<dyn Clock>, max_connections: u32) -> Self {
        Self {
            store,
            clock,
            max_connections,
            last_checkpoint_ms: AtomicI64::new(i64::MIN),
        }
    }

    async fn sample(&self) {
        let pool = self.store.pool();
        gauge!(DB_POOL_CONNECTIONS).set(f64::from(pool.size()));
        gauge!(DB_POOL_IDLE).set(pool.num_idle() as f64);
        gauge!(DB_POOL_MAX).set(f64::from(self.max_connections));
        let asked = tokio::time::timeout(SAMPLE_TIMEOUT, async {
            let size = self.store.tree_size().await?;
            let latest = self.store.latest_checkpoint().await?;
            Ok::<_, crate::store::StoreError>((size, latest))
        })
        .await;
        match asked {
            Ok(Ok((size, Some(cp)))) => {
                self.last_checkpoint_ms
                    .fetch_max(cp.created_at, Ordering::Relaxed);
                let signed = u64::try_from(cp.size).unwrap_or(0);
                gauge!(UNSIGNED_ENTRIES).set(size.saturating_sub(signed) as f64);
            }
            Ok(Ok((size, None))) => gauge!(UNSIGNED_ENTRIES).set(size as f64),
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: checkpoint state unavailable"),
            Err(_) => tracing::warn!("metrics: checkpoint state query timed out"),
        }
        let last = self.last_checkpoint_ms.load(Ordering::Relaxed);
        if last != i64::MIN {
            let age_ms = to_millis(self.clock.now()).saturating_sub(last).max(0);
            gauge!(CHECKPOINT_AGE).set(age_ms as f64 / 1000.0);
        }
    }
}

/// Gauges are process-wide but sampled per hub: one scrape at a time, so a scrape never
/// renders another hub's sample (several hubs share a process in tests).
static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scrape(State(sampler): State<Arc<Sampler>>) -> Response {
    let Some(handle) = handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response();
    };
    let _one_at_a_time = SCRAPE.lock().await;
    sampler.sample().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Serves `GET /metrics` on `listener` until `stop` is cancelled. Nothing else is served
/// there, and the member API never serves `/metrics`.
pub(crate) fn spawn_listener(
    listener: TcpListener,
    sampler: Sampler,
    limits: ConnLimits,
    stop: CancellationToken,
) -> JoinHandle<io::Result<()>> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(Arc::new(sampler));
    tokio::spawn(async move {
        let upkeep = async {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                if let Some(h) = handle() {
                    h.run_upkeep();
                }
            }
        };
        tokio::select! {
            served = serve_app(listener, app, limits, stop.cancelled_owned()) => served,
            () = upkeep => Ok(()),
        }
    })
}
