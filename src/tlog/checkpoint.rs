//! Checkpoints in the C2SP tlog-checkpoint format, carried in a signed note:
//!
//! ```text
//! <origin>\n<tree size, decimal>\n<root hash, base64>\n[<extension line>\n ...]
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::hash::Hash;
use super::note::{NoteError, NoteSigner, NoteVerifier, open_note, sign_note};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error(transparent)]
    Note(#[from] NoteError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identity of the log, e.g. `fraudhub.example/audit`.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Optional extra lines after the root; opaque to this module.
    pub extensions: Vec<String>,
}

fn valid_line(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c < ' ')
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text. Fails if the origin or an extension is empty or spans lines, because such
    /// a checkpoint would not parse back to the same value.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        if !valid_line(&self.origin) {
            return Err(CheckpointError::Malformed(
                "origin must be one non-empty line",
            ));
        }
        if !self.extensions.iter().all(|e| valid_line(e)) {
            return Err(CheckpointError::Malformed(
                "extension must be one non-empty line",
            ));
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.as_bytes())
        );
        for e in &self.extensions {
            body.push_str(e);
            body.push('\n');
        }
        Ok(body)
    }

    /// Strict parse: canonical decimal size, canonical base64 of exactly 32 bytes, no blank lines.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "needs origin, size and root lines",
            ));
        };
        if !valid_line(origin) {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        // Rejecting "+1", "01" and friends keeps one checkpoint = one byte string.
        let canonical_size = size.bytes().all(|b| b.is_ascii_digit())
            && !size.is_empty()
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = if canonical_size {
            size.parse()
                .map_err(|_| CheckpointError::Malformed("tree size out of range"))?
        } else {
            return Err(CheckpointError::Malformed(
                "tree size is not a decimal number",
            ));
        };
        let raw = B64
            .decode(root)
            .map_err(|_| CheckpointError::Malformed("root hash is not base64"))?;
        let root_hash = Hash::from_slice(&raw)
            .map_err(|_| CheckpointError::Malformed("root hash must be 32 bytes"))?;
        if B64.encode(root_hash.as_bytes()) != root {
            return Err(CheckpointError::Malformed(
                "root hash is not canonical base64",
            ));
        }
        let extensions = lines.map(str::to_owned).collect::<Vec<_>>();
        if !extensions.iter().all(|e| valid_line(e)) {
            return Err(CheckpointError::Malformed("blank extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root: root_hash,
            extensions,
        })
    }

    /// The signed note for this checkpoint.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(sign_note(&self.to_body()?, &[signer])?)
    }

    /// Verify a signed checkpoint from this log: a trusted signature, the expected origin (C2SP
    /// requires the check, otherwise a checkpoint of another log signed by a shared key would be
    /// accepted) and a well-formed body.
    pub fn open(
        note: &[u8],
        origin: &str,
        verifiers: &[NoteVerifier],
    ) -> Result<Self, CheckpointError> {
        let opened = open_note(note, verifiers)?;
        let cp = Self::parse_body(&opened.text)?;
        if cp.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_owned(),
                found: cp.origin,
            });
        }
        Ok(cp)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::tlog::{Blake3, TreeHash};

    const ORIGIN: &str = "fraudhub.example/audit";

    fn signer() -> NoteSigner {
        NoteSigner::from_seed(ORIGIN, &[42; 32]).unwrap()
    }

    #[test]
    fn body_format_is_c2sp() {
        let root = Blake3::leaf(b"x");
        let cp = Checkpoint::new(ORIGIN, 1234, root);
        let body = cp.to_body().unwrap();
        assert_eq!(
            body,
            format!("{ORIGIN}\n1234\n{}\n", B64.encode(root.as_bytes()))
        );
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
        let mut ext = cp.clone();
        ext.extensions.push("timestamp 1700000000".into());
        assert_eq!(
            Checkpoint::parse_body(&ext.to_body().unwrap()).unwrap(),
            ext
        );
    }

    #[test]
    fn sign_open_round_trip() {
        let cp = Checkpoint::new(ORIGIN, 7, Blake3::leaf(b"root"));
        let note = cp.sign(&signer()).unwrap();
        assert!(note.contains("\n\n\u{2014} fraudhub.example/audit "));
        let opened = Checkpoint::open(note.as_bytes(), ORIGIN, &[signer().verifier()]).unwrap();
        assert_eq!(opened, cp);
        assert!(matches!(
            Checkpoint::open(note.as_bytes(), "other.example/log", &[signer().verifier()]),
            Err(CheckpointError::WrongOrigin { .. })
        ));
    }

    #[test]
    fn tampering_is_rejected() {
        let root = Blake3::leaf(b"root");
        let cp = Checkpoint::new(ORIGIN, 70, root);
        let note = cp.sign(&signer()).unwrap();
        let v = [signer().verifier()];
        let other_root = B64.encode(Blake3::leaf(b"other").as_bytes());
        let tampered = [
            note.replace("\n70\n", "\n71\n"),
            note.replace(&B64.encode(root.as_bytes()), &other_root),
            note.replace(ORIGIN, "fraudhub.example/audiT"),
            note.replacen("\n\n", "\nextra\n\n", 1),
        ];
        for t in &tampered {
            assert!(Checkpoint::open(t.as_bytes(), ORIGIN, &v).is_err(), "{t}");
        }
        // Flip one bit of the signature blob.
        let (body, sig_line) = note.split_at(note.rfind('\u{2014}').unwrap());
        let b64 = sig_line.trim_end().rsplit(' ').next().unwrap();
        let mut raw = B64.decode(b64).unwrap();
        raw[10] ^= 1;
        let forged = format!("{body}\u{2014} {ORIGIN} {}\n", B64.encode(raw));
        assert!(matches!(
            Checkpoint::open(forged.as_bytes(), ORIGIN, &v),
            Err(CheckpointError::Note(NoteError::BadSignature(_)))
        ));
        let trailing = format!("{note}garbage");
        assert!(Checkpoint::open(trailing.as_bytes(), ORIGIN, &v).is_err());
        let stranger = NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap();
        assert!(matches!(
            Checkpoint::open(note.as_bytes(), ORIGIN, &[stranger.verifier()]),
            Err(CheckpointError::Note(NoteError::UnverifiedNote))
        ));
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let root = B64.encode([0u8; 32]);
        let bad = [
            format!("{ORIGIN}\n1\n{root}"),
            format!("{ORIGIN}\n1\n"),
            format!("\n1\n{root}\n"),
            format!("{ORIGIN}\n01\n{root}\n"),
            format!("{ORIGIN}\n+1\n{root}\n"),
            format!("{ORIGIN}\n-1\n{root}\n"),
            format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
            format!("{ORIGIN}\n1\n{}\n", B64.encode([0u8; 31])),
            format!("{ORIGIN}\n1\n{}\n", root.trim_end_matches('=')),
            format!("{ORIGIN}\n1\n{root}\n\next\n"),
        ];
        for b in &bad {
            assert!(Checkpoint::parse_body(b).is_err(), "{b:?}");
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("{ORIGIN}\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
        assert!(
            Checkpoint::new("two\nlines", 1, Blake3::empty())
                .to_body()
                .is_err()
        );
    }
}
