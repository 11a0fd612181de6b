//! Canonical, versioned encoding of an audit entry: the bytes under each Merkle leaf.
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
//! Version 2 (current): the hub-wide subject token is replaced by the per-member subject
//! value the member is shown, so a member can recompute its own leaves without learning a
//! value that links its entries to another member's; the request id is the server's own;
//! an actor field names who acted (`member`, or `operator:<user>` for CLI actions):
//! `0x02 | u64 leaf_index | i64 at_ms | str actor | opt<i64> member_id | opt<str> key_id |
//!  str action | opt<str> purpose | opt<bytes> subject_view | opt<i64> key_version |
//!  str outcome | str request_id`. A client's correlation id is never in the leaf.

use crate::store::AuditRow;
use crate::tlog::{Blake3, Hash, TreeHash};

pub const ENCODING_VERSION: u8 = 2;

/// The actor of every entry written on a member's request.
pub const ACTOR_MEMBER: &str = "member";

pub fn encode(row: &AuditRow, leaf_index: u64) -> Vec<u8> {
    if row.entry_version == 1 {
        return encode_v1(row, leaf_index);
    }
    let mut out = Vec::with_capacity(160);
    out.push(2);
    out.extend_from_slice(&leaf_index.to_be_bytes());
    out.extend_from_slice(&row.at.to_be_bytes());
    bytes(
        &mut out,
        row.actor.as_deref().unwrap_or(ACTOR_MEMBER).as_bytes(),
    );
    opt(&mut out, row.member_id.map(|m| m.to_be_bytes()), |o, v| {
        o.extend_from_slice(&v)
    });
    opt(&mut out, row.key_id.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    bytes(&mut out, row.action.as_bytes());
    opt(&mut out, row.purpose.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    opt(&mut out, row.subject_view.as_deref(), bytes);
    opt(
        &mut out,
        row.key_version.map(|v| v.to_be_bytes()),
        |o, v| o.extend_from_slice(&v),
    );
    bytes(&mut out, row.outcome.as_bytes());
    bytes(&mut out, row.request_id.as_bytes());
    out
}

fn encode_v1(row: &AuditRow, leaf_index: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.push(1);
    out.extend_from_slice(&leaf_index.to_be_bytes());
    out.extend_from_slice(&row.at.to_be_bytes());
    opt(&mut out, row.member_id.map(|m| m.to_be_bytes()), |o, v| {
        o.extend_from_slice(&v)
    });
    opt(&mut out, row.key_id.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    bytes(&mut out, row.action.as_bytes());
    opt(&mut out, row.purpose.as_deref(), |o, v| {
        bytes(o, v.as_bytes())
    });
    opt(&mut out, row.subject_token.as_deref(), bytes);
    opt(
        &mut out,
        row.key_version.map(|v| v.to_be_bytes()),
        |o, v| o.extend_from_slice(&v),
    );
    bytes(&mut out, row.outcome.as_bytes());
    opt(&mut out, Some(row.request_id.as_str()), |o, v| {
        bytes(o, v.as_bytes())
    });
    out
}

pub fn leaf_hash(row: &AuditRow, leaf_index: u64) -> Hash {
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

    fn row() -> AuditRow {
        AuditRow {
            at: 1_790_000_000_000,
            member_id: Some(7),
            key_id: Some("0123456789abcdef".into()),
            action: "match".into(),
            purpose: Some("payment".into()),
            subject_token: Some(vec![0xaa; 32]),
            key_version: Some(1),
            outcome: "clear".into(),
            request_id: "r-1".into(),
            entry_version: 2,
            actor: None,
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
        none.purpose = None;
        let mut empty = row();
        empty.purpose = Some(String::new());
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
    fn operator_and_member_actors_hash_differently() {
        let mut op = row();
        op.actor = Some("operator:root".into());
        assert_ne!(leaf_hash(&op, 0), leaf_hash(&row(), 0));
    }
}
