//! Liveness and readiness probes.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::AppState;
use super::problem::{ApiError, ProblemBody};

/// How long one database ping answers for every readiness probe. Probes are anonymous,
/// so without this a flood of `/readyz` would be a flood of database round trips.
pub(crate) const READY_WINDOW: Duration = Duration::from_secs(1);

/// A ping that hangs must not hold every queued probe for the full request timeout.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `{"status": "ok"}` from `/healthz`, `{"status": "ready"}` from `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeStatus {
    pub status: &'static str,
}

/// Liveness: the process answers. Never touches the database, so a slow database does
/// not get healthy instances restarted.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process answers", body = ProbeStatus)))]
pub async fn live() -> Json<ProbeStatus> {
    Json(ProbeStatus { status: "ok" })
}

/// Readiness: the database answers and the audit writer commits; load balancers stop
/// routing here when either fails. The database answer may be up to one second old; the
/// writer's state is read fresh on every probe (it costs no I/O).
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses((status = 200, description = "The database answers and the audit writer commits", body = ProbeStatus),
        (status = 503, description = "The database does not answer, or the audit writer has stopped or is stuck", body = ProblemBody, content_type = "application/problem+json")))]
pub async fn ready(
    state: AppState,
    readiness: Arc<Readiness>,
) -> Result<Json<ProbeStatus>, ApiError> {
    if let Some(stall) = state.audit.stall(state.settings.audit_stall) {
        tracing::warn!(reason = %stall, "not ready");
        return Err(ApiError::NotReady(stall.to_string()));
    }
    let ready = readiness
        .check(|| async {
            match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "readiness check failed");
                    false
                }
                Err(_) => {
                    tracing::warn!("readiness check timed out");
                    false
                }
            }
        })
        .await;
    if ready {
        Ok(Json(ProbeStatus { status: "ready" }))
    } else {
        Err(ApiError::NotReady("the database does not answer".into()))
    }
}

/// Single-flight, briefly cached readiness: one ping at a time, its result reused for
/// `window`. Probes that arrive while a ping runs wait for it and take its answer.
#[derive(Debug)]
pub(crate) struct Readiness {
    window: Duration,
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            last: Mutex::new(None),
        }
    }

    pub(crate) async fn check<F, Fut>(&self, ping: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        // Holding the lock across the ping is the single flight: tokio's mutex queues the
        // other probes fairly, and each finds the fresh answer when its turn comes.
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = *last
            && at.elapsed() < self.window
        {
            return ready;
        }
        let ready = ping().await;
        *last = Some((Instant::now(), ready));
        ready
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_probes_share_one_ping_per_window() {
        let readiness = Arc::new(Readiness::new(Duration::from_secs(60)));
        let pings = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (readiness, pings) = (readiness.clone(), pings.clone());
            tasks.push(tokio::spawn(async move {
                readiness
                    .check(|| async {
                        pings.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        true
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.ok(), Some(true));
        }
        assert_eq!(pings.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_answer_is_refreshed_after_the_window() {
        let readiness = Readiness::new(Duration::from_millis(10));
        assert!(readiness.check(|| async { true }).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!readiness.check(|| async { false }).await);
    }
}
