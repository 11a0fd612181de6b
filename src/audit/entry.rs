//! The audit entry: what happened, on whose behalf, about which subject, and with what
//! outcome — typed here, once — and its canonical, versioned encoding, the bytes under
//! each Merkle leaf.
//!
//! All integers big-endian; `opt<T>` is `0x00` or `0x01 T`; `str`/`bytes` are a u32
//! length followed by the bytes. The leaf index is inside the leaf so that moving an
//! entry to another position changes its hash.
//!
//! Version 1 (entries written before the security review):
//! `0x01 | u64 leaf_index | i64 at_ms | opt<i64> member_id | opt<str> key_id | str action |
//!  opt<str> purpose | opt<bytes> subject_token | opt<i64> key_version | str outcome |
//!  opt<str> request_id`.
//!
//! Version 2: the hub-wide subject token is replaced by the per-member subject
//! value the member is shown, so a member can recompute its own leaves without learning a
//! value that links its entries to another member's; the request id is the server's own;
//! an actor field names who acted (`member`, or `operator:<user>` for CLI actions):
//! `0x02 | u64 leaf_index | i64 at_ms | str actor | opt<i64> member_id | opt<str> key_id |
//!  str action | opt<str> purpose | opt<bytes> subject_view | opt<i64> key_version |
//!  str outcome | str request_id`. A client's correlation id is never in the leaf.
//!
//! Version 3 (current): version 2's layout with `0x03` first, and in place of the member's
//! keyed view a random 16-byte reference drawn for each entry. A keyed view is a keyed
//! hash of the identifier: whoever holds the key it was made with (an old key, after a
//! rotation) could test a personal number against it for as long as the leaf exists, and
//! leaves are never rewritten. A random reference commits to nothing about the person.
//!
//! The string forms of [`Action`], [`Outcome`] and [`Purpose`] are hashed into leaves
//! and stored: renaming one breaks every existing leaf, so they are fixed here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::to_millis;
use crate::pseudonym::Token;
use crate::tlog::{Blake3, Hash, TreeHash};

pub const ENCODING_VERSION: u8 = 3;

/// The per-entry subject reference of version-3 leaves.
pub fn subject_reference() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
pub enum Action {
    #[strum(serialize = "match")]
    Match,
    #[strum(serialize = "flag.place")]
    FlagPlace,
    #[strum(serialize = "flag.read")]
    FlagRead,
    #[strum(serialize = "flag.lift")]
    FlagLift,
    /// A person moved the expiry of their own flag.
    #[strum(serialize = "flag.renew")]
    FlagRenew,
    #[strum(serialize = "indicator.publish")]
    IndicatorPublish,
    #[strum(serialize = "indicator.read")]
    IndicatorRead,
    #[strum(serialize = "indicator.list")]
    IndicatorList,
    #[strum(serialize = "indicator.revoke")]
    IndicatorRevoke,
    #[strum(serialize = "indicator.sighting")]
    IndicatorSighting,
    #[strum(serialize = "indicator.false_positive")]
    IndicatorFalsePositive,
    #[strum(serialize = "indicator.dispute")]
    IndicatorDispute,
    #[strum(serialize = "indicator.uphold")]
    IndicatorUphold,
    /// A caller verification started: a lookup of the claimed number (and the phone).
    #[strum(serialize = "caller.verify.start")]
    CallerVerifyStart,
    /// A caller verification ended; the outcome says how.
    #[strum(serialize = "caller.verify.end")]
    CallerVerifyEnd,
    #[strum(serialize = "operator.member.add")]
    MemberAdd,
    #[strum(serialize = "operator.member.suspend")]
    MemberSuspend,
    #[strum(serialize = "operator.member.reinstate")]
    MemberReinstate,
    #[strum(serialize = "operator.member.quota")]
    MemberQuota,
    #[strum(serialize = "operator.member.subject_budget")]
    MemberSubjectBudget,
    #[strum(serialize = "operator.member.cert_pin")]
    MemberCertPin,
    #[strum(serialize = "operator.member.cert_unpin")]
    MemberCertUnpin,
    #[strum(serialize = "operator.key.issue")]
    KeyIssue,
    #[strum(serialize = "operator.key.revoke")]
    KeyRevoke,
    /// A master-key switch started (outcome `created`) or ended (`ok`); the entry's key
    /// version is the version switched to.
    #[strum(serialize = "operator.keys.rotate")]
    KeysRotate,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Ok,
    Created,
    Replayed,
    Lifted,
    AlreadyLifted,
    /// A match found an active flag.
    Flagged,
    /// A match found none.
    Clear,
    /// A match found live reports (indicators) and no flag.
    Reported,
    /// A match found an active flag and live reports.
    FlaggedReported,
    Revoked,
    AlreadyRevoked,
    Disputed,
    Upheld,
    /// A caller verification: the person confirmed the call in BankID.
    Verified,
    /// …the person declined the call (not on this call).
    DeclinedCall,
    Cancelled,
    Expired,
    /// …BankID was unavailable, another order started, or BankID refused.
    Failed,
}

/// Why a member asks. Mandatory (GDPR purpose limitation) and shown to the consumer.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Purpose {
    AccountOpening,
    CreditApplication,
    Payment,
    PayeeCheck,
    CustomerService,
    FraudInvestigation,
}

macro_rules! string_forms {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    )*};
}
string_forms!(Action, Outcome, Purpose);

/// Who acted: a member's API key, an operator at the CLI, or a person on their own
/// personal number after BankID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Member,
    Operator(String),
    Person,
}

impl Actor {
    /// The form committed in version-2 leaves and shown in entry listings.
    pub fn label(&self) -> String {
        match self {
            Actor::Member => "member".to_string(),
            Actor::Operator(user) => format!("operator:{user}"),
            Actor::Person => "person".to_string(),
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub member_id: Option<i64>,
    pub key_id: Option<String>,
    pub action: Action,
    pub purpose: Option<Purpose>,
    pub subject_token: Option<Vec<u8>>,
    pub key_version: Option<i64>,
    pub subject_view: Option<Vec<u8>>,
    pub outcome: Outcome,
    /// The hub's own request id (never a client's).
    pub request_id: String,
    /// A client's X-Request-Id, checked and capped; stored for correlation, not hashed.
    pub correlation_id: Option<String>,
    /// Leaf encoding version; 1 for entries written before version 2.
    pub entry_version: u8,
}

/// Who asked, in which request, and when: what every entry written for one member
/// request shares.
#[derive(Debug, Clone)]
pub struct Requester {
    pub member_id: i64,
    pub key_id: String,
    pub request_id: String,
    pub correlation_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl Requester {
    /// `now` is kept to the millisecond, the precision entries and rows are stored with,
    /// so what a use case returns is exactly what a later read returns.
    pub fn new(
        member_id: i64,
        key_id: String,
        request_id: String,
        correlation_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Requester {
            member_id,
            key_id,
            request_id,
            correlation_id,
            at: crate::clock::from_millis(to_millis(now)),
        }
    }

    /// An entry about `subject` (its token goes to the subject index, outside the leaf),
    /// or about no subject.
    pub fn entry(
        &self,
        action: Action,
        purpose: Option<Purpose>,
        subject: Option<Token>,
        outcome: Outcome,
    ) -> AuditEntry {
        AuditEntry {
            at: self.at,
            actor: Actor::Member,
            member_id: Some(self.member_id),
            key_id: Some(self.key_id.clone()),
            action,
            purpose,
            subject_token: subject.map(|t| t.bytes.to_vec()),
            key_version: subject.map(|t| t.version),
            subject_view: subject.map(|_| subject_reference()),
            outcome,
            request_id: self.request_id.clone(),
            correlation_id: self.correlation_id.clone(),
            entry_version: ENCODING_VERSION,
        }
    }
}

/// A person acting on their own personal number, confirmed by a BankID signature: what
/// every entry written for one such action shares.
#[derive(Debug, Clone)]
pub struct PersonRequester {
    /// The person's token at the version the hub writes.
    pub subject: Token,
    /// During a key switch, their token at the version being left.
    pub previous: Option<Token>,
    /// The BankID sign order that confirmed the action; recorded as the entry's key id
    /// (`bankid:<orderRef>`), the credential that acted.
    pub order_ref: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

impl PersonRequester {
    /// The person's tokens at each key version in use, the written one first.
    pub fn tokens(&self) -> Vec<Token> {
        std::iter::once(self.subject).chain(self.previous).collect()
    }

    pub fn entry(&self, action: Action, outcome: Outcome) -> AuditEntry {
        AuditEntry {
            at: crate::clock::from_millis(to_millis(self.at)),
            actor: Actor::Person,
            member_id: None,
            key_id: Some(format!("bankid:{}", self.order_ref)),
            action,
            purpose: None,
            subject_token: Some(self.subject.bytes.to_vec()),
            key_version: Some(self.subject.version),
            subject_view: Some(subject_reference()),
            outcome,
            request_id: self.request_id.clone(),
            correlation_id: None,
            entry_version: ENCODING_VERSION,
        }
    }
}

impl AuditEntry {
    /// An operator's action on `member_id` (and `key_id` for key actions).
    pub fn by_operator(
        operator: &str,
        action: Action,
        member_id: i64,
        key_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> AuditEntry {
        AuditEntry {
            at,
            actor: Actor::Operator(operator.to_string()),
            member_id: Some(member_id),
            key_id: key_id.map(str::to_string),
            action,
            purpose: None,
            subject_token: None,
            key_version: None,
            subject_view: None,
            outcome: Outcome::Ok,
            request_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: None,
            entry_version: ENCODING_VERSION,
        }
    }
}

pub fn encode(row: &AuditEntry, leaf_index: u64) -> Vec<u8> {
    if row.entry_version == 1 {
        return encode_v1(row, leaf_index);
    }
    let mut out = Vec::with_capacity(160);
    // Versions 2 and 3 differ only in what the subject field holds.
    out.push(if row.entry_version == 2 { 2 } else { 3 });
    out.extend_from_slice(&leaf_index.to_be_bytes());
    out.extend_from_slice(&to_millis(row.at).to_be_bytes());
    bytes(&mut out, row.actor.label().as_bytes());
    opt(&mut out, row.member_id.map(|m| m.to_be_bytes()), |o, v| {
        o.extend_from_slice(&v)
    });
    opt(&mut out, row.key_id.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    bytes(&mut out, row.action.as_str().as_bytes());
    opt(&mut out, row.purpose, |o, v| {
        bytes(o, v.as_str().as_bytes())
    });
    opt(&mut out, row.subject_view.as_deref(), bytes);
    opt(
        &mut out,
        row.key_version.map(|v| v.to_be_bytes()),
        |o, v| o.extend_from_slice(&v),
    );
    bytes(&mut out, row.outcome.as_str().as_bytes());
    bytes(&mut out, row.request_id.as_bytes());
    out
}

fn encode_v1(row: &AuditEntry, leaf_index: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.push(1);
    out.extend_from_slice(&leaf_index.to_be_bytes());
    out.extend_from_slice(&to_millis(row.at).to_be_bytes());
    opt(&mut out, row.member_id.map(|m| m.to_be_bytes()), |o, v| {
        o.extend_from_slice(&v)
    });
    opt(&mut out, row.key_id.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    bytes(&mut out, row.action.as_str().as_bytes());
    opt(&mut out, row.purpose, |o, v| {
        bytes(o, v.as_str().as_bytes())
    });
    opt(&mut out, row.subject_token.as_deref(), bytes);
    opt(
        &mut out,
        row.key_version.map(|v| v.to_be_bytes()),
        |o, v| o.extend_from_slice(&v),
    );
    bytes(&mut out, row.outcome.as_str().as_bytes());
    opt(&mut out, Some(row.request_id.as_str()), |o, v| {
        bytes(o, v.as_bytes())
    });
    out
}

pub fn leaf_hash(row: &AuditEntry, leaf_index: u64) -> Hash {
    Blake3::leaf(&encode(row, leaf_index))
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Field lengths are bounded far below 4 GiB by the API; saturate rather than panic.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

fn opt<T>(out: &mut Vec<u8>, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            write(out, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditEntry {
        AuditEntry {
            at: crate::clock::from_millis(1_790_000_000_000),
            member_id: Some(7),
            key_id: Some("0123456789abcdef".into()),
            action: Action::Match,
            purpose: Some(Purpose::Payment),
            subject_token: Some(vec![0xaa; 32]),
            key_version: Some(1),
            outcome: Outcome::Clear,
            request_id: "r-1".into(),
            entry_version: ENCODING_VERSION,
            actor: Actor::Member,
            subject_view: Some(vec![0xbb; 32]),
            correlation_id: Some("client-1".into()),
        }
    }

    #[test]
    fn encoding_is_stable_and_position_dependent() {
        let a = encode(&row(), 5);
        assert_eq!(a[0], ENCODING_VERSION);
        assert_eq!(a, encode(&row(), 5));
        assert_ne!(leaf_hash(&row(), 5), leaf_hash(&row(), 6));
    }

    #[test]
    fn absent_and_empty_fields_encode_differently() {
        let mut none = row();
        none.key_id = None;
        let mut empty = row();
        empty.key_id = Some(String::new());
        assert_ne!(encode(&none, 0), encode(&empty, 0));
    }

    #[test]
    fn version_2_commits_to_the_member_view_not_the_hub_token_or_correlation_id() {
        let base = leaf_hash(&row(), 3);
        let mut other_token = row();
        other_token.subject_token = Some(vec![0xcc; 32]);
        let mut other_correlation = row();
        other_correlation.correlation_id = Some("another".into());
        let mut other_view = row();
        other_view.subject_view = Some(vec![0xdd; 32]);
        assert_eq!(leaf_hash(&other_token, 3), base);
        assert_eq!(leaf_hash(&other_correlation, 3), base);
        assert_ne!(leaf_hash(&other_view, 3), base);
    }

    #[test]
    fn version_3_has_version_2_layout_under_its_own_version_byte() {
        let mut v2 = row();
        v2.entry_version = 2;
        let mut v3 = row();
        v3.entry_version = 3;
        let (a, b) = (encode(&v2, 4), encode(&v3, 4));
        assert_eq!((a[0], b[0]), (2, 3));
        assert_eq!(a[1..], b[1..]);
        assert_ne!(leaf_hash(&v2, 4), leaf_hash(&v3, 4));
    }

    #[test]
    fn member_entries_carry_a_fresh_reference_not_a_keyed_value() {
        let who = Requester::new(7, "k".into(), "r".into(), None, Utc::now());
        let token = Token {
            version: 1,
            bytes: [0xaa; 32],
        };
        let a = who.entry(Action::Match, None, Some(token), Outcome::Clear);
        let b = who.entry(Action::Match, None, Some(token), Outcome::Clear);
        assert_eq!(a.entry_version, 3);
        assert_eq!(a.subject_view.as_ref().map(Vec::len), Some(16));
        assert_ne!(a.subject_view, b.subject_view);
        assert_eq!(a.subject_token, Some(vec![0xaa; 32]));
    }

    #[test]
    fn version_1_rows_keep_their_original_encoding() {
        let mut v1 = row();
        v1.entry_version = 1;
        let bytes = encode(&v1, 0);
        assert_eq!(bytes[0], 1);
        let mut other_token = v1.clone();
        other_token.subject_token = Some(vec![0xcc; 32]);
        assert_ne!(encode(&other_token, 0), bytes);
    }

    #[test]
    fn string_forms_are_the_ones_in_existing_leaves() {
        assert_eq!(Action::Match.as_str(), "match");
        assert_eq!(
            Action::MemberSubjectBudget.as_str(),
            "operator.member.subject_budget"
        );
        assert_eq!(Outcome::AlreadyLifted.as_str(), "already_lifted");
        assert_eq!(Purpose::FraudInvestigation.as_str(), "fraud_investigation");
        assert_eq!("flag.lift".parse(), Ok(Action::FlagLift));
        assert!("pending".parse::<Outcome>().is_err());
    }

    #[test]
    fn person_actor_has_its_own_label_and_hash() {
        let mut person = row();
        person.actor = Actor::Person;
        assert_eq!(person.actor.label(), "person");
        assert_ne!(leaf_hash(&person, 0), leaf_hash(&row(), 0));
        assert_eq!(Action::FlagRenew.as_str(), "flag.renew");
        assert_eq!(Action::CallerVerifyEnd.as_str(), "caller.verify.end");
        assert_eq!(Outcome::DeclinedCall.as_str(), "declined_call");
    }

    #[test]
    fn operator_and_member_actors_hash_differently() {
        let mut op = row();
        op.actor = Actor::Operator("root".into());
        assert_ne!(leaf_hash(&op, 0), leaf_hash(&row(), 0));
    }
}
