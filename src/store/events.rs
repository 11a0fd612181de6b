//! Watchlists, the per-member event outbox, webhooks and their delivery log.

use chrono::{DateTime, Utc};

use super::{LogTx, Store, StoreError, is_unique_violation};
use crate::clock::{from_millis, to_millis};
use crate::events::webhooks::{Delivery, Webhook};
use crate::events::{Event, EventType, Watched};
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct EventRecord {
    member_id: i64,
    seq: i64,
    id: String,
    #[sqlx(rename = "type")]
    kind: String,
    occurred_at: i64,
    reference: Option<String>,
    summary: String,
}

impl TryFrom<EventRecord> for Event {
    type Error = StoreError;

    fn try_from(r: EventRecord) -> Result<Self, StoreError> {
        Ok(Event {
            kind: r
                .kind
                .parse::<EventType>()
                .map_err(|e| StoreError::corrupt_because("event type", e))?,
            summary: serde_json::from_str(&r.summary)
                .map_err(|e| StoreError::corrupt_because("event summary", e))?,
            member_id: r.member_id,
            seq: r.seq,
            id: r.id,
            occurred_at: from_millis(r.occurred_at),
            reference: r.reference,
        })
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRecord {
    id: String,
    member_id: i64,
    url: String,
    event_types: String,
    secret: String,
    previous_secret: Option<String>,
    previous_until: Option<i64>,
    status: String,
    cursor: i64,
    attempts: i64,
    failing_since: Option<i64>,
    next_attempt_at: i64,
    created_at: i64,
    disabled_at: Option<i64>,
}

impl TryFrom<WebhookRecord> for Webhook {
    type Error = StoreError;

    fn try_from(r: WebhookRecord) -> Result<Self, StoreError> {
        let event_types = r
            .event_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<EventType>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::corrupt_because("webhook event types", e))?;
        Ok(Webhook {
            id: r.id,
            member_id: r.member_id,
            url: r.url,
            event_types,
            secret: r.secret.into(),
            previous_secret: r.previous_secret.map(Into::into),
            previous_until: r.previous_until.map(from_millis),
            active: r.status == "active",
            cursor: r.cursor,
            attempts: r.attempts,
            failing_since: r.failing_since.map(from_millis),
            next_attempt_at: from_millis(r.next_attempt_at),
            created_at: from_millis(r.created_at),
            disabled_at: r.disabled_at.map(from_millis),
        })
    }
}

const HOOK_COLUMNS: &str = "id, member_id, url, event_types, secret, previous_secret, \
     previous_until, status, cursor, attempts, failing_since, next_attempt_at, created_at, disabled_at";

#[derive(sqlx::FromRow)]
struct DeliveryRecord {
    event_seq: i64,
    event_id: String,
    attempt: i64,
    at: i64,
    status_code: Option<i64>,
    error: Option<String>,
    ok: i64,
}

impl LogTx {
    /// The members watching the subject (its tokens at each key version in use), with
    /// their own reference for it.
    pub async fn watchers(&mut self, subject: &[Token]) -> Result<Vec<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT member_id, reference FROM watchlist WHERE subject_token IN ({}) \
             ORDER BY member_id",
            super::numbered(1, subject.len())
        );
        let mut q = sqlx::query_as(AssertSqlSafe(sql));
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let mut found: Vec<(i64, String)> = q.fetch_all(&mut *self.tx).await?;
        found.dedup_by_key(|(member, _)| *member);
        Ok(found)
    }

    /// Appends an event to the member's feed with the next number. Appends run under the
    /// log-head lock this transaction holds, so numbers are dense and in commit order.
    pub async fn insert_event(
        &mut self,
        member_id: i64,
        kind: EventType,
        occurred_at: DateTime<Utc>,
        reference: Option<&str>,
        summary: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE member_id = $1")
                .bind(member_id)
                .fetch_one(&mut *self.tx)
                .await?;
        sqlx::query(
            "INSERT INTO events (member_id, seq, id, type, occurred_at, reference, summary) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(member_id)
        .bind(seq)
        .bind(format!("evt_{}", hex::encode(rand::random::<[u8; 12]>())))
        .bind(<&str>::from(kind))
        .bind(to_millis(occurred_at))
        .bind(reference)
        .bind(summary.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(seq)
    }

    /// Flags that expired at or before `now` without their expiry being announced yet.
    pub async fn unannounced_expiries(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<crate::flags::Flag>, StoreError> {
        self.flags_where(
            "expires_at <= $1 AND lifted_at IS NULL AND expiry_announced = 0 ORDER BY expires_at, id LIMIT $2",
            to_millis(now),
            limit,
        )
        .await
    }

    pub async fn mark_expiry_announced(&mut self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE flags SET expiry_announced = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Disables a webhook (persistent failure); `false` when it already was.
    pub async fn disable_webhook(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET status = 'disabled', disabled_at = $1 WHERE id = $2 AND status = 'active'",
        )
        .bind(to_millis(now))
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// Whether any flag's expiry is still to be announced: a read, so that an idle hub's
    /// housekeeping never takes the write lock for nothing.
    pub async fn any_unannounced_expiry(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM flags WHERE expires_at <= $1 AND lifted_at IS NULL \
             AND expiry_announced = 0 LIMIT 1",
        )
        .bind(to_millis(now))
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Adds (or re-references) a watched identifier: `subject` holds its tokens at each
    /// key version in use, the first being the one written.
    pub async fn watch(
        &self,
        member_id: i64,
        w: &Watched,
        subject: &[Token],
    ) -> Result<(), StoreError> {
        let Some(token) = subject.first() else {
            return Err(StoreError::corrupt("a watch without a token"));
        };
        let mut tx = self.pool().begin().await?;
        unwatch_query(member_id, subject).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO watchlist (member_id, subject_token, key_version, kind, reference, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(member_id)
        .bind(token.bytes.as_slice())
        .bind(token.version)
        .bind(w.kind.as_str())
        .bind(w.reference.as_str())
        .bind(to_millis(w.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stops watching; `false` when the identifier was not watched.
    pub async fn unwatch(&self, member_id: i64, subject: &[Token]) -> Result<bool, StoreError> {
        let done = unwatch_query(member_id, subject)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() >= 1)
    }

    /// The member's watched identifiers with `reference`.
    pub async fn watched_by_reference(
        &self,
        member_id: i64,
        reference: &str,
    ) -> Result<Vec<Watched>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, reference, created_at FROM watchlist WHERE member_id = $1 AND reference = $2 \
             ORDER BY created_at",
        )
        .bind(member_id)
        .bind(reference)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(kind, reference, at)| {
                Ok(Watched {
                    kind: kind
                        .parse()
                        .map_err(|e| StoreError::corrupt_because("watched kind", e))?,
                    reference,
                    created_at: from_millis(at),
                })
            })
            .collect()
    }

    /// The member's events numbered above `after`, oldest first.
    pub async fn events_after(
        &self,
        member_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRecord> = sqlx::query_as(
            "SELECT member_id, seq, id, type, occurred_at, reference, summary FROM events \
             WHERE member_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(member_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    /// The number of the member's newest event (0 when none).
    pub async fn latest_event_seq(&self, member_id: i64) -> Result<i64, StoreError> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM events WHERE member_id = $1")
                .bind(member_id)
                .fetch_one(self.pool())
                .await?;
        Ok(seq)
    }

    pub async fn insert_webhook(&self, h: &Webhook) -> Result<(), StoreError> {
        use secrecy::ExposeSecret;
        let types: Vec<&str> = h.event_types.iter().map(|t| <&str>::from(*t)).collect();
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO webhooks ({HOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL, 'active', $6, 0, NULL, $7, $8, NULL)"
        )))
        .bind(h.id.as_str())
        .bind(h.member_id)
        .bind(h.url.as_str())
        .bind(types.join(","))
        .bind(h.secret.expose_secret())
        .bind(h.cursor)
        .bind(to_millis(h.next_attempt_at))
        .bind(to_millis(h.created_at))
        .execute(self.pool())
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("webhook exists")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn member_webhooks(&self, member_id: i64) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE member_id = $1 ORDER BY created_at, id"
        )))
        .bind(member_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Webhook::try_from).collect()
    }

    pub async fn webhook(&self, member_id: i64, id: &str) -> Result<Webhook, StoreError> {
        let row: WebhookRecord = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1 AND member_id = $2"
        )))
        .bind(id)
        .bind(member_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        row.try_into()
    }

    /// Active webhooks whose next attempt is due at `now`.
    pub async fn due_webhooks(&self, now: DateTime<Utc>) -> Result<Vec<Webhook>, StoreError> {
        let rows: Vec<WebhookRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {HOOK_COLUMNS} FROM webhooks WHERE status = 'active' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT 100"
        )))
        .bind(to_millis(now))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Webhook::try_from).collect()
    }

    /// Takes the webhook's next delivery for this instance: moves its next attempt to
    /// `lease_until` only if nobody else did since it was read (`false`: someone did).
    pub async fn lease_webhook(
        &self,
        h: &Webhook,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 \
             AND cursor = $4 AND status = 'active'",
        )
        .bind(to_millis(lease_until))
        .bind(h.id.as_str())
        .bind(to_millis(h.next_attempt_at))
        .bind(h.cursor)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records where delivery stands: the cursor, the failure count and the next attempt.
    pub async fn set_webhook_progress(&self, h: &Webhook) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhooks SET cursor = $1, attempts = $2, failing_since = $3, next_attempt_at = $4 \
             WHERE id = $5",
        )
        .bind(h.cursor)
        .bind(h.attempts)
        .bind(h.failing_since.map(to_millis))
        .bind(to_millis(h.next_attempt_at))
        .bind(h.id.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A new secret, keeping the previous one valid until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        member_id: i64,
        id: &str,
        secret: &str,
        previous_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET previous_secret = secret, secret = $1, previous_until = $2 \
             WHERE id = $3 AND member_id = $4",
        )
        .bind(secret)
        .bind(to_millis(previous_until))
        .bind(id)
        .bind(member_id)
        .execute(self.pool())
        .await?;
        super::one_row(&done)
    }

    /// Replay: delivery goes on after event `after` (re-enabling a disabled webhook).
    pub async fn replay_webhook(
        &self,
        member_id: i64,
        id: &str,
        after: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET cursor = $1, status = 'active', disabled_at = NULL, attempts = 0, \
             failing_since = NULL, next_attempt_at = $2 WHERE id = $3 AND member_id = $4",
        )
        .bind(after)
        .bind(to_millis(now))
        .bind(id)
        .bind(member_id)
        .execute(self.pool())
        .await?;
        super::one_row(&done)
    }

    pub async fn insert_delivery(&self, webhook_id: &str, d: &Delivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, attempt, at, status_code, error, ok) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(webhook_id)
        .bind(d.event_seq)
        .bind(d.event_id.as_str())
        .bind(d.attempt)
        .bind(to_millis(d.at))
        .bind(d.status_code)
        .bind(d.error.as_deref())
        .bind(i64::from(d.ok))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest deliveries of a webhook, newest first.
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRecord> = sqlx::query_as(
            "SELECT event_seq, event_id, attempt, at, status_code, error, ok FROM webhook_deliveries \
             WHERE webhook_id = $1 ORDER BY at DESC, attempt DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                event_seq: r.event_seq,
                event_id: r.event_id,
                attempt: r.attempt,
                at: from_millis(r.at),
                status_code: r.status_code,
                error: r.error,
                ok: r.ok != 0,
            })
            .collect())
    }
}

/// Deletes a member's watch of an identifier at any of its token versions.
fn unwatch_sql(versions: usize) -> String {
    format!(
        "DELETE FROM watchlist WHERE member_id = $1 AND subject_token IN ({})",
        super::numbered(2, versions)
    )
}

fn unwatch_query<'q>(
    member_id: i64,
    subject: &[Token],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(AssertSqlSafe(unwatch_sql(subject.len()))).bind(member_id);
    for t in subject {
        q = q.bind(t.bytes.to_vec());
    }
    q
}
