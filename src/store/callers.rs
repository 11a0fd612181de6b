//! Caller verifications and agents.

use chrono::{DateTime, Utc};

use super::{LogTx, Store, StoreError};
use crate::callers::agents::Agent;
use crate::callers::rules::{Initiator, Status, Verification};
use crate::clock::{from_millis, to_millis};
use crate::pseudonym::Token;
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
struct VerificationRecord {
    id: String,
    member_id: i64,
    subject_token: Vec<u8>,
    key_version: i64,
    phone_token: Option<Vec<u8>>,
    call_initiator: String,
    agent_reference: Option<String>,
    agent_id: Option<String>,
    order_ref: Option<String>,
    status: String,
    hint: Option<String>,
    failure: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    warnings: String,
    created_at: i64,
    ended_at: Option<i64>,
}

fn token(bytes: &[u8], version: i64, what: &str) -> Result<Token, StoreError> {
    Ok(Token {
        version,
        bytes: <[u8; 32]>::try_from(bytes)
            .map_err(|_| StoreError::corrupt(format!("{what} is not 32 bytes")))?,
    })
}

impl TryFrom<VerificationRecord> for Verification {
    type Error = StoreError;

    fn try_from(r: VerificationRecord) -> Result<Self, StoreError> {
        Ok(Verification {
            subject: token(&r.subject_token, r.key_version, "verification subject")?,
            phone: r
                .phone_token
                .as_deref()
                .map(|b| token(b, r.key_version, "verification phone"))
                .transpose()?,
            initiator: r
                .call_initiator
                .parse::<Initiator>()
                .map_err(|e| StoreError::corrupt_because("call initiator", e))?,
            status: r
                .status
                .parse::<Status>()
                .map_err(|e| StoreError::corrupt_because("verification status", e))?,
            failure: r
                .failure
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| StoreError::corrupt_because("verification failure", e))?,
            warnings: serde_json::from_str(&r.warnings)
                .map_err(|e| StoreError::corrupt_because("verification warnings", e))?,
            id: r.id,
            member_id: r.member_id,
            agent_reference: r.agent_reference,
            agent_id: r.agent_id,
            order_ref: r.order_ref,
            hint: r.hint,
            name: r.name,
            given_name: r.given_name,
            surname: r.surname,
            created_at: from_millis(r.created_at),
            ended_at: r.ended_at.map(from_millis),
        })
    }
}

const COLUMNS: &str = "id, member_id, subject_token, key_version, phone_token, call_initiator, \
     agent_reference, agent_id, order_ref, status, hint, failure, name, given_name, surname, \
     warnings, created_at, ended_at";

#[derive(sqlx::FromRow)]
struct AgentRecord {
    id: String,
    member_id: i64,
    display_name: String,
    expires_at: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl From<AgentRecord> for Agent {
    fn from(r: AgentRecord) -> Self {
        Agent {
            id: r.id,
            member_id: r.member_id,
            display_name: r.display_name,
            expires_at: r.expires_at.map(from_millis),
            disabled_at: r.disabled_at.map(from_millis),
            created_at: from_millis(r.created_at),
        }
    }
}

const AGENT_COLUMNS: &str = "id, member_id, display_name, expires_at, disabled_at, created_at";

fn warnings_json(v: &Verification) -> Result<String, StoreError> {
    serde_json::to_string(&v.warnings).map_err(|e| StoreError::corrupt_because("warnings", e))
}

impl LogTx {
    pub async fn insert_verification(&mut self, v: &Verification) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO caller_verifications ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
        .bind(v.id.as_str())
        .bind(v.member_id)
        .bind(v.subject.bytes.as_slice())
        .bind(v.subject.version)
        .bind(v.phone.as_ref().map(|t| t.bytes.to_vec()))
        .bind(<&str>::from(v.initiator))
        .bind(v.agent_reference.as_deref())
        .bind(v.agent_id.as_deref())
        .bind(v.order_ref.as_deref())
        .bind(<&str>::from(v.status))
        .bind(v.hint.as_deref())
        .bind(v.failure.map(<&str>::from))
        .bind(v.name.as_deref())
        .bind(v.given_name.as_deref())
        .bind(v.surname.as_deref())
        .bind(warnings_json(v)?)
        .bind(to_millis(v.created_at))
        .bind(v.ended_at.map(to_millis))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// A verification as its member sees it: another member's does not exist for it.
    pub async fn verification(&self, member_id: i64, id: &str) -> Result<Verification, StoreError> {
        let record: VerificationRecord = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM caller_verifications WHERE id = $1 AND member_id = $2"
        )))
        .bind(id)
        .bind(member_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        record.try_into()
    }

    /// Stores what changed; only a pending verification changes (`false`: it had ended).
    pub async fn update_verification(&self, v: &Verification) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE caller_verifications SET order_ref = $1, status = $2, hint = $3, failure = $4, \
             name = $5, given_name = $6, surname = $7, warnings = $8, ended_at = $9 \
             WHERE id = $10 AND member_id = $11 AND status = 'pending'",
        )
        .bind(v.order_ref.as_deref())
        .bind(<&str>::from(v.status))
        .bind(v.hint.as_deref())
        .bind(v.failure.map(<&str>::from))
        .bind(v.name.as_deref())
        .bind(v.given_name.as_deref())
        .bind(v.surname.as_deref())
        .bind(warnings_json(v)?)
        .bind(v.ended_at.map(to_millis))
        .bind(v.id.as_str())
        .bind(v.member_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The warnings as checked again when the verification ended.
    pub async fn set_verification_warnings(&self, v: &Verification) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE caller_verifications SET warnings = $1 WHERE id = $2 AND member_id = $3",
        )
        .bind(warnings_json(v)?)
        .bind(v.id.as_str())
        .bind(v.member_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Retention: verifications (with the names BankID returned) that ended before `cutoff`.
    pub async fn purge_ended_verifications(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM caller_verifications WHERE ended_at < $1")
            .bind(to_millis(cutoff))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Enrols an agent: `subject` holds the person's tokens at each key version in use,
    /// the first being the one written; an enrolment at any of them is a conflict.
    pub async fn insert_agent(&self, a: &Agent, subject: &[Token]) -> Result<(), StoreError> {
        let Some(written) = subject.first() else {
            return Err(StoreError::corrupt("an agent without a token"));
        };
        let sql = format!(
            "SELECT id FROM agents WHERE member_id = $1 AND subject_token IN ({})",
            super::numbered(2, subject.len())
        );
        let mut q = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql)).bind(a.member_id);
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        if q.fetch_optional(self.pool()).await?.is_some() {
            return Err(StoreError::Conflict("this person is already enrolled"));
        }
        let subject = written;
        let done = sqlx::query(
            "INSERT INTO agents (id, member_id, subject_token, key_version, display_name, expires_at, \
             disabled_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.id.as_str())
        .bind(a.member_id)
        .bind(subject.bytes.as_slice())
        .bind(subject.version)
        .bind(a.display_name.as_str())
        .bind(a.expires_at.map(to_millis))
        .bind(a.disabled_at.map(to_millis))
        .bind(to_millis(a.created_at))
        .execute(self.pool())
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) if super::is_unique_violation(&e) => {
                Err(StoreError::Conflict("this person is already enrolled"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn member_agents(&self, member_id: i64) -> Result<Vec<Agent>, StoreError> {
        let rows: Vec<AgentRecord> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE member_id = $1 ORDER BY created_at, id"
        )))
        .bind(member_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Agent::from).collect())
    }

    pub async fn agent(&self, id: &str) -> Result<Agent, StoreError> {
        let row: AgentRecord = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.into())
    }

    /// Every enrolment of the person (their tokens at each key version in use), at any
    /// member.
    pub async fn agents_of(&self, subject: &[Token]) -> Result<Vec<Agent>, StoreError> {
        let sql = format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE subject_token IN ({}) ORDER BY created_at, id",
            super::numbered(1, subject.len())
        );
        let mut q = sqlx::query_as::<_, AgentRecord>(AssertSqlSafe(sql));
        for t in subject {
            q = q.bind(t.bytes.to_vec());
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(Agent::from).collect())
    }

    /// Disables a member's agent at `now`; `NotFound` for another member's.
    pub async fn disable_agent(
        &self,
        member_id: i64,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE agents SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2 AND member_id = $3",
        )
        .bind(to_millis(now))
        .bind(id)
        .bind(member_id)
        .execute(self.pool())
        .await?;
        super::one_row(&done)
    }
}
