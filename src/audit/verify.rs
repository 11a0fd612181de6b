//! Offline verification of the whole audit log (`fraudhub audit verify`).
//!
//! Recomputes every leaf from the stored entry, rebuilds the tree, and checks each
//! stored checkpoint's signature, its root, and its consistency with the previous one.
//! Any edit, deletion, reordering or insertion of entries shows up as a named finding.

use std::fmt;

use crate::audit::entry::leaf_hash;
use crate::store::{Store, StoreError};
use crate::tlog::{Blake3, Checkpoint, Frontier, Hash, NoteVerifier, verify_consistency};

const PAGE: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The entry's fields no longer produce its leaf hash (edited, or moved here).
    Edited { index: u64 },
    /// No entry at this index although the log continues past it.
    Deleted { index: u64 },
    /// An entry that the tree never contained (no leaf hash, or past the log head).
    Inserted { index: u64 },
    /// A checkpoint whose signature does not verify.
    BadSignature { size: u64 },
    /// The recomputed root at a checkpoint's size differs from the signed root.
    RootMismatch { size: u64 },
    /// Two consecutive checkpoints are not consistent (the log was rewritten).
    Inconsistent { from: u64, to: u64 },
    /// The log head disagrees with the entries found.
    HeadMismatch { head: u64, found: u64 },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Edited { index } => write!(
                f,
                "entry {index} was edited or reordered: its contents do not match its leaf hash"
            ),
            Finding::Deleted { index } => write!(f, "entry {index} was deleted"),
            Finding::Inserted { index } => write!(
                f,
                "entry {index} was inserted: it is not part of the signed tree"
            ),
            Finding::BadSignature { size } => {
                write!(f, "checkpoint at size {size} has an invalid signature")
            }
            Finding::RootMismatch { size } => write!(
                f,
                "checkpoint at size {size}: the entries below it no longer hash to its signed root"
            ),
            Finding::Inconsistent { from, to } => {
                write!(f, "checkpoints at sizes {from} and {to} are not consistent")
            }
            Finding::HeadMismatch { head, found } => write!(
                f,
                "the log head records {head} entries but {found} were found"
            ),
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub entries: u64,
    pub redacted: u64,
    pub checkpoints: u64,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

pub async fn verify_log(
    store: &Store,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let checkpoints = store.checkpoints().await?;
    let mut pending = checkpoints.iter().peekable();
    let mut frontier = Frontier::<Blake3>::new();
    let head = store.tree_size().await?;
    let mut next: i64 = 0;
    let check_checkpoints = |frontier: &Frontier<Blake3>,
                             report: &mut Report,
                             pending: &mut std::iter::Peekable<
        std::slice::Iter<'_, crate::store::CheckpointRow>,
    >| {
        while let Some(cp) =
            pending.next_if(|cp| u64::try_from(cp.size).ok() == Some(frontier.size()))
        {
            report.checkpoints += 1;
            let size = frontier.size();
            let opened =
                Checkpoint::open(cp.note.as_bytes(), origin, std::slice::from_ref(verifier));
            let Ok(checkpoint) = opened else {
                report.findings.push(Finding::BadSignature { size });
                continue;
            };
            if checkpoint.root != frontier.root()
                || checkpoint.size != size
                || cp.root != checkpoint.root.0
            {
                report.findings.push(Finding::RootMismatch { size });
                continue;
            }
        }
    };
    check_checkpoints(&frontier, &mut report, &mut pending);
    loop {
        let page = store.audit_page(None, next, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for entry in &page {
            let index = u64::try_from(entry.leaf_index).unwrap_or(u64::MAX);
            while (next as u64) < index {
                report
                    .findings
                    .push(Finding::Deleted { index: next as u64 });
                // Keep the tree aligned with positions so later checks stay meaningful.
                frontier_skip(&mut frontier);
                next += 1;
                check_checkpoints(&frontier, &mut report, &mut pending);
            }
            report.entries += 1;
            let stored = entry
                .leaf_hash
                .as_deref()
                .and_then(|h| Hash::from_slice(h).ok());
            let Some(stored) = stored.filter(|_| index < head) else {
                report.findings.push(Finding::Inserted { index });
                next += 1;
                continue;
            };
            if entry.redacted {
                report.redacted += 1;
            } else if entry.entry.as_ref().map(|e| leaf_hash(e, index)).ok() != Some(stored) {
                report.findings.push(Finding::Edited { index });
            }
            // The stored leaf goes into the tree: an edit that also rewrote the stored
            // hash is caught by the signed roots instead.
            let _ = frontier.append(stored);
            next += 1;
            check_checkpoints(&frontier, &mut report, &mut pending);
        }
    }
    if frontier.size() != head {
        if frontier.size() < head {
            report.findings.push(Finding::Deleted {
                index: frontier.size(),
            });
        }
        report.findings.push(Finding::HeadMismatch {
            head,
            found: report.entries,
        });
    }
    for cp in pending {
        report.checkpoints += 1;
        report.findings.push(Finding::RootMismatch {
            size: u64::try_from(cp.size).unwrap_or(0),
        });
    }
    check_consistency_chain(&checkpoints, verifier, origin, store, &mut report).await?;
    Ok(report)
}

/// A deleted entry still occupies its position; a zero leaf stands in for it.
fn frontier_skip(frontier: &mut Frontier<Blake3>) {
    let _ = frontier.append(Hash([0; 32]));
}

/// Each checkpoint must be consistent with the one before it (RFC 9162 §2.1.4), proven
/// from the stored tree nodes: a rewritten history cannot satisfy both signatures.
async fn check_consistency_chain(
    checkpoints: &[crate::store::CheckpointRow],
    verifier: &NoteVerifier,
    origin: &str,
    store: &Store,
    report: &mut Report,
) -> Result<(), StoreError> {
    let opened: Vec<Checkpoint> = checkpoints
        .iter()
        .filter_map(|cp| {
            Checkpoint::open(cp.note.as_bytes(), origin, std::slice::from_ref(verifier)).ok()
        })
        .collect();
    for pair in opened.windows(2) {
        let (old, new) = (&pair[0], &pair[1]);
        let ids = match crate::tlog::consistency_proof_nodes(old.size, new.size) {
            Ok(ids) => ids,
            Err(_) => continue,
        };
        let nodes = super::log::tree_nodes(store, &ids).await?;
        let proof = crate::tlog::consistency_proof::<Blake3>(old.size, new.size, &nodes);
        let consistent = proof.is_ok_and(|p| {
            verify_consistency::<Blake3>(old.size, new.size, &p, &old.root, &new.root).is_ok()
        });
        if !consistent {
            report.findings.push(Finding::Inconsistent {
                from: old.size,
                to: new.size,
            });
        }
    }
    Ok(())
}
