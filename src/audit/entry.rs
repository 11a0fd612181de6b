//! Canonical, versioned encoding of an audit entry: the bytes under each Merkle leaf.
//!
//! Version 1 (all integers big-endian):
//! `0x01 | u64 leaf_index | i64 at_ms | opt<i64> member_id | opt<str> key_id | str action |
//!  opt<str> purpose | opt<bytes> subject_token | opt<i64> key_version | str outcome |
//!  opt<str> request_id`, where `opt<T>` is `0x00` or `0x01 T`, and `str`/`bytes` are a
//! u32 length followed by the bytes. The leaf index is inside the leaf so that moving an
//! entry to another position changes its hash.

use crate::store::AuditRow;
use crate::tlog::{Blake3, Hash, TreeHash};

pub const ENCODING_VERSION: u8 = 1;

pub fn encode(row: &AuditRow, leaf_index: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.push(ENCODING_VERSION);
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
}
