//! Collect poller: calls `/collect` at a fixed interval until the order is
//! final, reporting each pending hint to the caller.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::BankIdClient;
use super::collect::CollectResponse;
use super::error::BankIdError;

impl BankIdClient {
    /// Polls with the client's configured interval (2 s by default).
    pub async fn poll_until_final(
        &self,
        order_ref: &str,
        cancel: &CancellationToken,
        on_pending: impl FnMut(&CollectResponse),
    ) -> Result<CollectResponse, BankIdError> {
        self.poll_until_final_every(order_ref, self.poll_interval, cancel, on_pending)
            .await
    }

    /// Polls `/collect` every `interval` until `complete` or `failed`.
    ///
    /// If `cancel` fires first, the order is cancelled at BankID (best
    /// effort, so the user's app stops asking) and `PollCancelled` is
    /// returned. Dropping the future stops polling but does not cancel the
    /// order; BankID then lets it expire on its own.
    pub async fn poll_until_final_every(
        &self,
        order_ref: &str,
        interval: Duration,
        cancel: &CancellationToken,
        mut on_pending: impl FnMut(&CollectResponse),
    ) -> Result<CollectResponse, BankIdError> {
        loop {
            let resp = tokio::select! {
                biased;
                () = cancel.cancelled() => return self.cancel_after_poll(order_ref).await,
                r = self.collect(order_ref) => r?,
            };
            if resp.status.is_final() {
                return Ok(resp);
            }
            on_pending(&resp);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return self.cancel_after_poll(order_ref).await,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    async fn cancel_after_poll(&self, order_ref: &str) -> Result<CollectResponse, BankIdError> {
        if let Err(e) = self.cancel(order_ref).await {
            tracing::info!(order_ref, error = %e, "bankid cancel after poll cancellation failed");
        }
        Err(BankIdError::PollCancelled)
    }
}
