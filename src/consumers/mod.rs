//! What a person may see about themselves: every audited lookup of their personal
//! number ("who checked me", the credit bureaus' "omfrågekopia" and GDPR Art. 15's
//! actual recipients, dates and purposes) and an export of everything the hub holds
//! about them, with proofs against the signed audit log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::entry::Purpose;
use crate::audit::log::{AuditLog, LogError};
use crate::flags::FlagError;
use crate::flags::own::{self, PlacedFlag};
use crate::pseudonym::Token;
use crate::store::{Store, StoreError};
use crate::tlog::{Hash, NodeId};

/// Rows per page of "who checked me".
pub const PAGE: i64 = 25;
/// The most entries one export holds (newest first); a person with more is told so in
/// the file, and pages through the rest on "who checked me".
pub const EXPORT_MAX: usize = 10_000;

/// One audited event about the person.
pub use crate::store::SubjectLookup as Lookup;

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Flags(#[from] FlagError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A page of the person's history, newest first, of entries appended before leaf
/// `before` (`None`: from the newest).
pub async fn lookups(
    store: &Store,
    subject: &[Token],
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Lookup>, ConsumerError> {
    Ok(crate::audit::segments::lookups(store, subject, before.unwrap_or(i64::MAX), limit).await?)
}

/// Everything the hub holds about one person, as the export file carries it.
#[derive(Debug, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub generated_at: String,
    pub name: Option<String>,
    pub flags: Vec<ExportFlag>,
    pub lookups: Vec<ExportLookup>,
    /// True when the person has more entries than one export holds.
    pub truncated: bool,
    pub checkpoint: ExportCheckpoint,
    pub how_to_verify: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ExportFlag {
    pub id: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub placed_by: Option<String>,
    pub police_report_reference: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub lifted_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ExportLookup {
    pub leaf_index: i64,
    pub at: String,
    pub member: Option<String>,
    pub actor: String,
    pub action: &'static str,
    pub purpose: Option<&'static str>,
    pub outcome: &'static str,
    /// Base64 of the entry's leaf hash.
    pub leaf_hash: Option<String>,
    /// Base64 hashes proving the leaf is in the tree of `checkpoint` (RFC 6962 order).
    pub inclusion_proof: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ExportCheckpoint {
    pub tree_size: i64,
    /// The signed note (C2SP tlog-checkpoint), verifiable with the hub's public key.
    pub note: String,
}

pub const HOW_TO_VERIFY: &str = "Each lookup's leaf_hash is a leaf of the hub's append-only \
     audit log (BLAKE3, RFC 6962 tree). Hash it up with inclusion_proof to the root in \
     checkpoint.note, and check the note's Ed25519 signature with the key published at \
     /v1/audit/public-key. See docs/audit.md.";

/// Builds the export of the person's flags and (up to [`EXPORT_MAX`]) entries, each
/// with an inclusion proof against the newest signed checkpoint (signed now if the log
/// has grown since the last one).
pub async fn export(
    store: &Store,
    log: &AuditLog,
    subject: &[Token],
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Export, ConsumerError> {
    let checkpoint = log.checkpoint(now).await?;
    let size = u64::try_from(checkpoint.size).unwrap_or(0);
    let flags = own::on_person(store, subject).await?;
    let mut lookups_out = Vec::new();
    let mut before = None;
    let mut truncated = false;
    loop {
        let page = lookups(store, subject, before, 500).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.leaf_index);
        let leaves: Vec<NodeId> = page.iter().map(|l| NodeId::leaf(leaf(l))).collect();
        let leaf_hashes = store.tree_nodes(&leaves).await?;
        for l in page {
            if lookups_out.len() == EXPORT_MAX {
                truncated = true;
                break;
            }
            let hash = leaf_hashes.get(&NodeId::leaf(leaf(&l)));
            lookups_out.push(export_lookup(log, l, hash, size).await?);
        }
        if truncated {
            break;
        }
    }
    Ok(Export {
        format: "fraudhub-person-export/1",
        generated_at: now.to_rfc3339(),
        name: name.map(str::to_string),
        flags: flags.iter().map(|f| export_flag(f, now)).collect(),
        lookups: lookups_out,
        truncated,
        checkpoint: ExportCheckpoint {
            tree_size: checkpoint.size,
            note: checkpoint.note,
        },
        how_to_verify: HOW_TO_VERIFY,
    })
}

fn leaf(l: &Lookup) -> u64 {
    u64::try_from(l.leaf_index).unwrap_or(u64::MAX)
}

async fn export_lookup(
    log: &AuditLog,
    l: Lookup,
    leaf_hash: Option<&Hash>,
    size: u64,
) -> Result<ExportLookup, ConsumerError> {
    let index = leaf(&l);
    // An entry appended after the checkpoint was signed has no proof in it yet.
    let proof = if index < size {
        log.inclusion(index, size).await?
    } else {
        Vec::new()
    };
    Ok(ExportLookup {
        leaf_index: l.leaf_index,
        at: l.at.to_rfc3339(),
        member: l.member_name,
        actor: l.actor.label(),
        action: l.action.as_str(),
        purpose: l.purpose.map(Purpose::as_str),
        outcome: l.outcome.as_str(),
        leaf_hash: leaf_hash.map(|h| B64.encode(h.0)),
        inclusion_proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
    })
}

fn export_flag(f: &PlacedFlag, now: DateTime<Utc>) -> ExportFlag {
    ExportFlag {
        id: f.flag.id.clone(),
        kind: f.flag.kind.as_str(),
        status: f.flag.status(now).into(),
        placed_by: f.member_name.clone(),
        police_report_reference: f.flag.police_report_reference.clone(),
        created_at: f.flag.created_at.to_rfc3339(),
        expires_at: f.flag.expires_at.to_rfc3339(),
        lifted_at: f.flag.lifted_at.map(|t| t.to_rfc3339()),
    }
}
