//! A person's own flags: placed, renewed and lifted by the person, each action confirmed
//! with a BankID signature. No member is behind them (`member_id` is empty, the kind is
//! `consumer`), and every member's match sees them the moment they are committed.

use chrono::{DateTime, Utc};

use super::rules::{self, Flag, FlagKind, FlagStatus};
use super::{FlagError, Flags};
use crate::audit;
use crate::audit::entry::{Action, Outcome, PersonRequester};
use crate::events::{self, EventType};
use crate::pseudonym::Token;
use crate::store::Store;

/// A flag on the person's number, with the display name of the member that placed it
/// (`None` for the person's own).
#[derive(Debug, Clone)]
pub struct PlacedFlag {
    pub flag: Flag,
    pub member_name: Option<String>,
}

impl PlacedFlag {
    /// The person may renew and lift only their own flags; a member's flag is lifted by
    /// that member.
    pub fn is_own(&self) -> bool {
        self.flag.member_id.is_none()
    }
}

/// Every flag on the person's number (its tokens at each key version in use), active and
/// past, newest first.
pub async fn on_person(store: &Store, subject: &[Token]) -> Result<Vec<PlacedFlag>, FlagError> {
    Ok(store
        .subject_flags(subject)
        .await?
        .into_iter()
        .map(|(flag, member_name)| PlacedFlag { flag, member_name })
        .collect())
}

/// Places the person's own flag for `duration_days` counted from `decided_at` (when
/// the person was shown the expiry they then signed), optionally backed by a police
/// report number (which allows up to five years).
pub async fn place(
    hub: Flags<'_>,
    who: &PersonRequester,
    duration_days: i64,
    police_report_reference: Option<&str>,
    decided_at: DateTime<Utc>,
) -> Result<Flag, FlagError> {
    let (expires_at, police_report_reference) =
        rules::check_own_flag(police_report_reference, duration_days, decided_at)?;
    let flag = Flag {
        id: format!("flg_{}", hex::encode(rand::random::<[u8; 12]>())),
        member_id: None,
        subject: who.subject,
        kind: FlagKind::Consumer,
        consent_reference: None,
        police_report_reference,
        created_at: who.at,
        expires_at,
        lifted_at: None,
    };
    let mut tx = hub.store.begin_log().await?;
    tx.insert_flag(&flag).await?;
    let summary = events::flag_summary(&flag);
    events::emit(
        &mut tx,
        &who.tokens(),
        EventType::FlagPlaced,
        who.at,
        &summary,
    )
    .await?;
    audit::append(&mut tx, &[who.entry(Action::FlagPlace, Outcome::Created)]).await?;
    tx.commit().await?;
    Ok(flag)
}

/// Extends one of the person's own active flags to `duration_days` from `decided_at`.
pub async fn renew(
    hub: Flags<'_>,
    who: &PersonRequester,
    id: &str,
    duration_days: i64,
    decided_at: DateTime<Utc>,
) -> Result<Flag, FlagError> {
    let mut tx = hub.store.begin_log().await?;
    let mut flag = tx.subject_flag(&who.tokens(), id).await?;
    if flag.member_id.is_some() || flag.status(who.at) != FlagStatus::Active {
        return Err(FlagError::NotChangeable);
    }
    let until = rules::renewed_expiry(&flag, duration_days, decided_at)?;
    if !tx.renew_own_flag(&who.tokens(), id, until, who.at).await? {
        return Err(FlagError::NotChangeable);
    }
    flag.expires_at = until;
    let summary = events::flag_summary(&flag);
    events::emit(
        &mut tx,
        &who.tokens(),
        EventType::FlagRenewed,
        who.at,
        &summary,
    )
    .await?;
    audit::append(&mut tx, &[who.entry(Action::FlagRenew, Outcome::Ok)]).await?;
    tx.commit().await?;
    Ok(flag)
}

/// Lifts one of the person's own flags at once.
pub async fn lift(hub: Flags<'_>, who: &PersonRequester, id: &str) -> Result<Flag, FlagError> {
    let mut tx = hub.store.begin_log().await?;
    let mut flag = tx.subject_flag(&who.tokens(), id).await?;
    if flag.member_id.is_some() {
        return Err(FlagError::NotChangeable);
    }
    if !tx.lift_own_flag(&who.tokens(), id, who.at).await? {
        return Err(FlagError::NotChangeable);
    }
    flag.lifted_at = Some(who.at);
    let summary = events::flag_summary(&flag);
    events::emit(
        &mut tx,
        &who.tokens(),
        EventType::FlagLifted,
        who.at,
        &summary,
    )
    .await?;
    audit::append(&mut tx, &[who.entry(Action::FlagLift, Outcome::Lifted)]).await?;
    tx.commit().await?;
    Ok(flag)
}
