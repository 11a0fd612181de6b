//! Police-reported fraud indicators: the use cases of publishing, reading, listing and
//! revoking one (its publisher), confirming or contesting one (other members), and
//! disputing the ones on a personal number (its subject, through a member for now).
//!
//! A report is shared with every member without naming its publisher unless the
//! publisher chose to be named; its note is the publisher's alone. Every use case writes
//! its own audit entries, in the same transaction as the change it audits.

pub mod rules;

use chrono::{DateTime, Utc};

use crate::audit::entry::{Action, AuditEntry, Outcome, Requester};
use crate::audit::{self, AuditError, AuditSink};
use crate::events::{self, EventType};
use crate::idempotency::{self, Begun, RetryError, RetryKey};
use crate::identifiers::{IdentifierKind, Normalised};
use crate::pseudonym::{Pseudonymiser, Token};
use crate::store::{ReportKind, Store, StoreError};
use rules::{
    Category, Confidence, Indicator, IndicatorPolicy, IndicatorRuleError, IndicatorStatus,
};

/// What a use case of this module needs from the hub.
#[derive(Clone, Copy)]
pub struct Indicators<'a> {
    pub store: &'a Store,
    pub audit: &'a AuditSink,
    pub pseudonymiser: &'a Pseudonymiser,
    pub policy: &'a IndicatorPolicy,
}

/// A member's report of an identifier used in a fraud it reported to the police.
#[derive(Debug)]
pub struct NewIndicator {
    pub subject: Normalised,
    pub category: Category,
    pub police_report_reference: String,
    pub confidence: Confidence,
    pub valid_until: Option<DateTime<Utc>>,
    pub disclose_member: bool,
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error(transparent)]
    Rule(#[from] IndicatorRuleError),
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    #[error("no such indicator")]
    NotFound,
    #[error("a member cannot confirm or contest its own report")]
    OwnReport,
    #[error("this member already made this report on this indicator")]
    AlreadyReported,
    #[error("the indicator is not disputed")]
    NotDisputed,
    #[error("disputes are made on se_personal_number identifiers")]
    NotAPersonalNumber,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<RetryError> for IndicatorError {
    fn from(e: RetryError) -> Self {
        match e {
            RetryError::KeyReused => IndicatorError::KeyReused,
            RetryError::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for IndicatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => IndicatorError::NotFound,
            other => IndicatorError::Store(other),
        }
    }
}

type Subject = Option<Token>;

impl Indicators<'_> {
    /// The entry's subject index: the stored token carried to the version the hub writes.
    fn subject(&self, token: Token) -> Subject {
        Some(self.pseudonymiser.stored_pair(&token).0)
    }

    /// The publisher's own indicator; for anyone else it does not exist.
    async fn own(&self, who: &Requester, id: &str) -> Result<Indicator, IndicatorError> {
        let found = self.store.indicator(id).await?;
        if found.member_id != who.member_id {
            return Err(IndicatorError::NotFound);
        }
        Ok(found)
    }
}

/// Checks a member's new report against the rules (`rules::check_report`) and makes the
/// indicator to store: the identifier's token, never the identifier. What `publish` stores
/// and what `import` stores for each row of a file.
pub fn prepare(
    pseudonymiser: &Pseudonymiser,
    member_id: i64,
    new: NewIndicator,
    at: DateTime<Utc>,
) -> Result<Indicator, IndicatorRuleError> {
    let checked = rules::check_report(
        &new.police_report_reference,
        new.valid_until,
        new.note.as_deref(),
        at,
    )?;
    Ok(Indicator {
        id: format!("ind_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id,
        kind: new.subject.kind(),
        subject: pseudonymiser.token(&new.subject),
        category: new.category,
        police_report_reference: checked.police_report_reference,
        confidence: new.confidence,
        disclose_member: new.disclose_member,
        note: checked.note,
        created_at: at,
        valid_until: checked.valid_until,
        revoked_at: None,
        sightings: 0,
        false_positive_reports: 0,
        disputed_at: None,
        dispute_upheld_at: None,
        disclosed_as: None,
    })
}

/// Publishes a report. With a retry key, a retry of the same request returns the report
/// the first one published (audited as `replayed`).
pub async fn publish(
    hub: Indicators<'_>,
    who: &Requester,
    new: NewIndicator,
    retry: Option<RetryKey<'_>>,
) -> Result<Indicator, IndicatorError> {
    let tokens = hub.pseudonymiser.lookup_tokens(&new.subject);
    let indicator = prepare(hub.pseudonymiser, who.member_id, new, who.at)?;
    let subject = hub.subject(indicator.subject);
    let begun = idempotency::begin(hub.store, hub.pseudonymiser, who, retry, &indicator.id);
    let mut tx = match begun.await? {
        Begun::Fresh(tx) => tx,
        Begun::Replay(earlier) => {
            let entry = who.entry(Action::IndicatorPublish, None, subject, Outcome::Replayed);
            hub.audit.record(vec![entry]).await?;
            return hub.own(who, &earlier).await;
        }
    };
    tx.insert_indicator(&indicator).await?;
    let summary = events::indicator_summary(&indicator);
    events::emit(
        &mut tx,
        &tokens,
        EventType::IndicatorPublished,
        who.at,
        &summary,
    )
    .await?;
    let entry = who.entry(Action::IndicatorPublish, None, subject, Outcome::Created);
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    hub.own(who, &indicator.id).await
}

/// One of the publisher's own reports, note included; reading it is audited.
pub async fn read(
    hub: Indicators<'_>,
    who: &Requester,
    id: &str,
) -> Result<Indicator, IndicatorError> {
    let found = hub.own(who, id).await?;
    let entry = who.entry(
        Action::IndicatorRead,
        None,
        hub.subject(found.subject),
        Outcome::Ok,
    );
    hub.audit.record(vec![entry]).await?;
    Ok(found)
}

/// A page of the publisher's own reports after the cursor (an indicator id), and the
/// cursor of the next page when there is one.
pub async fn list(
    hub: Indicators<'_>,
    who: &Requester,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<Indicator>, Option<String>), IndicatorError> {
    let mut page = hub
        .store
        .member_indicators(who.member_id, after.unwrap_or(""), limit + 1)
        .await?;
    let more = usize::try_from(limit).is_ok_and(|l| page.len() > l);
    if more {
        page.pop();
    }
    let next = more.then(|| page.last().map(|i| i.id.clone())).flatten();
    let entry = who.entry(Action::IndicatorList, None, None, Outcome::Ok);
    hub.audit.record(vec![entry]).await?;
    Ok((page, next))
}

/// Revokes one of the publisher's own reports; revoking twice is harmless.
pub async fn revoke(
    hub: Indicators<'_>,
    who: &Requester,
    id: &str,
) -> Result<Indicator, IndicatorError> {
    let found = hub.own(who, id).await?;
    let subject = hub.subject(found.subject);
    let mut tx = hub.store.begin_log().await?;
    let outcome = if tx.revoke_indicator(who.member_id, id, who.at).await? {
        let summary = events::indicator_summary(&found);
        events::emit(
            &mut tx,
            &hub.pseudonymiser.consult(&found.subject),
            EventType::IndicatorRevoked,
            who.at,
            &summary,
        )
        .await?;
        Outcome::Revoked
    } else {
        Outcome::AlreadyRevoked
    };
    audit::append(
        &mut tx,
        &[who.entry(Action::IndicatorRevoke, None, subject, outcome)],
    )
    .await?;
    tx.commit().await?;
    hub.own(who, id).await
}

/// Another member confirms (a sighting) or contests (a false positive) a live report,
/// once per kind; returns the report's counts afterwards.
pub async fn report(
    hub: Indicators<'_>,
    who: &Requester,
    id: &str,
    kind: ReportKind,
    reference: Option<&str>,
) -> Result<Indicator, IndicatorError> {
    let reference = rules::check_reference("reference", reference)?;
    let found = hub.store.indicator(id).await?;
    if found.status(who.at, hub.policy) != IndicatorStatus::Active {
        return Err(IndicatorError::NotFound);
    }
    if found.member_id == who.member_id {
        return Err(IndicatorError::OwnReport);
    }
    let action = match kind {
        ReportKind::Sighting => Action::IndicatorSighting,
        ReportKind::FalsePositive => Action::IndicatorFalsePositive,
    };
    let subject = hub.subject(found.subject);
    let mut tx = hub.store.begin_log().await?;
    if !tx
        .add_report(id, who.member_id, kind, reference.as_deref(), who.at)
        .await?
    {
        return Err(IndicatorError::AlreadyReported);
    }
    audit::append(
        &mut tx,
        &[who.entry(action, None, subject, Outcome::Created)],
    )
    .await?;
    tx.commit().await?;
    Ok(hub.store.indicator(id).await?)
}

/// A person disputes every live report on their personal number, through a member acting
/// on their behalf with its own case reference; returns how many reports are now disputed.
pub async fn dispute(
    hub: Indicators<'_>,
    who: &Requester,
    subject: &Normalised,
    case_reference: &str,
) -> Result<u64, IndicatorError> {
    if subject.kind() != IdentifierKind::SePersonalNumber {
        return Err(IndicatorError::NotAPersonalNumber);
    }
    rules::check_reference("case_reference", Some(case_reference))?;
    let tokens = hub.pseudonymiser.lookup_tokens(subject);
    let token = hub.pseudonymiser.token(subject);
    let live = hub.store.live_indicators_on(&tokens, who.at).await?;
    let ids: Vec<&str> = live
        .iter()
        .filter(|i| i.status(who.at, hub.policy) == IndicatorStatus::Active && !i.disputed())
        .map(|i| i.id.as_str())
        .collect();
    let mut tx = hub.store.begin_log().await?;
    let disputed = tx.dispute_indicators(&ids, who.at).await?;
    for i in live.iter().filter(|i| ids.contains(&i.id.as_str())) {
        let summary = events::indicator_summary(i);
        events::emit(
            &mut tx,
            &tokens,
            EventType::IndicatorDisputed,
            who.at,
            &summary,
        )
        .await?;
    }
    let entry = who.entry(
        Action::IndicatorDispute,
        None,
        hub.subject(token),
        Outcome::Disputed,
    );
    audit::append(&mut tx, &[entry]).await?;
    tx.commit().await?;
    Ok(disputed)
}

/// The publisher stands by a disputed report, which then counts in full again.
pub async fn uphold(
    hub: Indicators<'_>,
    who: &Requester,
    id: &str,
) -> Result<Indicator, IndicatorError> {
    let found = hub.own(who, id).await?;
    // After the deadline the dispute has ended the report; upholding comes too late.
    if !found.disputed() || found.status(who.at, hub.policy) != IndicatorStatus::Active {
        return Err(IndicatorError::NotDisputed);
    }
    let subject = hub.subject(found.subject);
    let mut tx = hub.store.begin_log().await?;
    if !tx.uphold_indicator(who.member_id, id, who.at).await? {
        return Err(IndicatorError::NotDisputed);
    }
    audit::append(
        &mut tx,
        &[who.entry(Action::IndicatorUphold, None, subject, Outcome::Upheld)],
    )
    .await?;
    tx.commit().await?;
    hub.own(who, id).await
}

/// Stores reports an operator imported for a member (each made with [`prepare`]), all in
/// one transaction with one `indicator.publish` entry each (actor `operator:<user>`, the
/// member, the subject's token (in the subject index), a fresh reference in the leaf, and
/// one request id shared by the whole import): every report and its entry, or none.
///
/// The caller checks that the member exists and is active; the reports must be its own.
pub async fn import(
    store: &Store,
    operator: &str,
    request_id: &str,
    reports: &[Indicator],
) -> Result<(), IndicatorError> {
    let entries: Vec<AuditEntry> = reports
        .iter()
        .map(|i| {
            let mut e = AuditEntry::by_operator(
                operator,
                Action::IndicatorPublish,
                i.member_id,
                None,
                i.created_at,
            );
            e.subject_token = Some(i.subject.bytes.to_vec());
            e.key_version = Some(i.subject.version);
            e.subject_view = Some(crate::audit::entry::subject_reference());
            e.outcome = Outcome::Created;
            e.request_id = request_id.to_string();
            e
        })
        .collect();
    let mut tx = store.begin_log().await?;
    for indicator in reports {
        tx.insert_indicator(indicator).await?;
    }
    audit::append(&mut tx, &entries).await?;
    tx.commit().await?;
    Ok(())
}
