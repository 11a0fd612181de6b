//! Police-reported indicators and the sightings and false-positive reports on them.

use chrono::{DateTime, Utc};

use super::{LogTx, Store, StoreError, is_unique_violation, rows_for_tokens};
use crate::clock::{from_millis, to_millis};
use crate::indicators::rules::Indicator;
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

/// The stored columns of one indicator, with the publisher's name when it chose to be named.
#[derive(sqlx::FromRow)]
pub(super) struct IndicatorRecord {
    id: String,
    member_id: i64,
    identifier_kind: String,
    subject_token: Vec<u8>,
    key_version: i64,
    category: String,
    police_report_reference: String,
    confidence: String,
    disclose_member: i64,
    note: Option<String>,
    created_at: i64,
    valid_until: i64,
    revoked_at: Option<i64>,
    sightings: i64,
    false_positive_reports: i64,
    disputed_at: Option<i64>,
    dispute_upheld_at: Option<i64>,
    disclosed_as: Option<String>,
}

fn parse<T: std::str::FromStr>(text: &str, what: &'static str) -> Result<T, StoreError>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse()
        .map_err(|e| StoreError::corrupt_because(what, e))
}

impl TryFrom<IndicatorRecord> for Indicator {
    type Error = StoreError;

    fn try_from(r: IndicatorRecord) -> Result<Self, StoreError> {
        let bytes = <[u8; 32]>::try_from(r.subject_token.as_slice())
            .map_err(|_| StoreError::corrupt("indicator subject token is not 32 bytes"))?;
        Ok(Indicator {
            kind: parse(&r.identifier_kind, "indicator identifier kind")?,
            category: parse(&r.category, "indicator category")?,
            confidence: parse(&r.confidence, "indicator confidence")?,
            id: r.id,
            member_id: r.member_id,
            subject: Token {
                version: r.key_version,
                bytes,
            },
            police_report_reference: r.police_report_reference,
            disclose_member: r.disclose_member != 0,
            note: r.note,
            created_at: from_millis(r.created_at),
            valid_until: from_millis(r.valid_until),
            revoked_at: r.revoked_at.map(from_millis),
            sightings: r.sightings,
            false_positive_reports: r.false_positive_reports,
            disputed_at: r.disputed_at.map(from_millis),
            dispute_upheld_at: r.dispute_upheld_at.map(from_millis),
            disclosed_as: r.disclosed_as,
        })
    }
}

writer_row_readers!(IndicatorRecord {
    id,
    member_id,
    identifier_kind,
    subject_token,
    key_version,
    category,
    police_report_reference,
    confidence,
    disclose_member,
    note,
    created_at,
    valid_until,
    revoked_at,
    sightings,
    false_positive_reports,
    disputed_at,
    dispute_upheld_at,
    disclosed_as,
});

fn indicators_of(records: Vec<IndicatorRecord>) -> Result<Vec<Indicator>, StoreError> {
    records.into_iter().map(Indicator::try_from).collect()
}

const COLUMNS: &str = "i.id, i.member_id, i.identifier_kind, i.subject_token, i.key_version, \
     i.category, i.police_report_reference, i.confidence, i.disclose_member, i.note, \
     i.created_at, i.valid_until, i.revoked_at, i.sightings, i.false_positive_reports, \
     i.disputed_at, i.dispute_upheld_at, \
     CASE WHEN i.disclose_member <> 0 THEN m.display_name END AS disclosed_as";
const FROM: &str = "indicators i JOIN members m ON m.id = i.member_id";

/// Not-revoked, not-expired indicators on any of `{tokens}` at `{now}` (a
/// [`super::rows_for_tokens`] template): the SQL part of `Indicator::status`; the dispute
/// deadline is applied by the caller.
pub(super) fn live_indicators_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE i.valid_until > {{now}} AND i.revoked_at IS NULL \
         AND i.subject_token IN ({{tokens}}) ORDER BY i.created_at, i.id"
    )
}

/// Sighting (a confirmation) or false-positive report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Sighting,
    FalsePositive,
}

impl ReportKind {
    fn column(self) -> &'static str {
        match self {
            ReportKind::Sighting => "sightings",
            ReportKind::FalsePositive => "false_positive_reports",
        }
    }

    fn stored(self) -> &'static str {
        match self {
            ReportKind::Sighting => "sighting",
            ReportKind::FalsePositive => "false_positive",
        }
    }
}

impl Store {
    /// Any indicator by id (the use cases decide who may see what).
    pub async fn indicator(&self, id: &str) -> Result<Indicator, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE i.id = $1");
        let record: IndicatorRecord = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        record.try_into()
    }

    /// A page of one member's own indicators in id order, after the cursor `after`.
    pub async fn member_indicators(
        &self,
        member_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Indicator>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE i.member_id = $1 AND i.id > $2 ORDER BY i.id LIMIT $3"
        );
        let records = sqlx::query_as(AssertSqlSafe(sql))
            .bind(member_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        indicators_of(records)
    }

    /// Not-revoked, not-expired indicators on the subject (its tokens at each key
    /// version in use), any publisher.
    pub async fn live_indicators_on(
        &self,
        subject: &[Token],
        now: DateTime<Utc>,
    ) -> Result<Vec<Indicator>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE i.valid_until > $1 AND i.revoked_at IS NULL \
             AND i.subject_token IN ({}) ORDER BY i.id",
            super::numbered(2, subject.len())
        );
        let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(to_millis(now));
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let records = q.fetch_all(self.pool()).await?;
        indicators_of(records)
    }
}

impl LogTx {
    pub async fn insert_indicator(&mut self, i: &Indicator) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO indicators (id, member_id, identifier_kind, subject_token, key_version, \
             category, police_report_reference, confidence, disclose_member, note, created_at, \
             valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(i.id.as_str())
        .bind(i.member_id)
        .bind(i.kind.as_str())
        .bind(i.subject.bytes.as_slice())
        .bind(i.subject.version)
        .bind(i.category.as_str())
        .bind(i.police_report_reference.as_str())
        .bind(i.confidence.as_str())
        .bind(i64::from(i.disclose_member))
        .bind(i.note.as_deref())
        .bind(to_millis(i.created_at))
        .bind(to_millis(i.valid_until))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks a member's own indicator revoked; `false` when it already was.
    pub async fn revoke_indicator(
        &mut self,
        member_id: i64,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE indicators SET revoked_at = $1 WHERE id = $2 AND member_id = $3 AND revoked_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id)
        .bind(member_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a member's sighting or false-positive report and counts it on the
    /// indicator; `false` when this member already made this kind of report on it (the
    /// transaction is then spoilt on PostgreSQL and must be dropped).
    pub async fn add_report(
        &mut self,
        indicator_id: &str,
        member_id: i64,
        kind: ReportKind,
        reference: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO indicator_reports (indicator_id, member_id, kind, reference, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(indicator_id)
        .bind(member_id)
        .bind(kind.stored())
        .bind(reference)
        .bind(to_millis(now))
        .execute(&mut *self.tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let column = kind.column();
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE indicators SET {column} = {column} + 1 WHERE id = $1"
        )))
        .bind(indicator_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// Marks the given indicators disputed at `now` (a new dispute replaces an upheld one).
    pub async fn dispute_indicators(
        &mut self,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut done = 0;
        for id in ids {
            done += sqlx::query(
                "UPDATE indicators SET disputed_at = $1, dispute_upheld_at = NULL WHERE id = $2",
            )
            .bind(to_millis(now))
            .bind(*id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        Ok(done)
    }

    /// The publisher upholds a disputed report; `false` when it is not disputed.
    pub async fn uphold_indicator(
        &mut self,
        member_id: i64,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE indicators SET dispute_upheld_at = $1 WHERE id = $2 AND member_id = $3 \
             AND disputed_at IS NOT NULL AND dispute_upheld_at IS NULL",
        )
        .bind(to_millis(now))
        .bind(id)
        .bind(member_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Not-revoked, not-expired indicators on any of the tokens: the SQL part of
    /// `Indicator::status`; the dispute deadline is applied by the caller.
    pub async fn live_indicators(
        &mut self,
        tokens: &[&[u8]],
        now: DateTime<Utc>,
    ) -> Result<Vec<Indicator>, StoreError> {
        let records: Vec<IndicatorRecord> =
            rows_for_tokens(&mut self.tx, &live_indicators_sql(), to_millis(now), tokens).await?;
        indicators_of(records)
    }
}
