//! C2SP signed notes with Ed25519 keys (`golang.org/x/mod/sumdb/note` compatible): key ids,
//! verifier key strings, signing and opening.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte for Ed25519 in key ids and key strings.
pub const ALG_ED25519: u8 = 0x01;
/// Signature line prefix: U+2014 EM DASH and a space.
pub const SIG_PREFIX: &str = "\u{2014} ";
/// Go's `note.Open` refuses more signatures than this; matching it keeps notes interoperable and
/// bounds verification work on hostile input.
pub const MAX_SIGNATURES: usize = 100;
/// Defensive bound on note size; checkpoints are a few hundred bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
const GO_PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("invalid key name {0:?}: must be non-empty without spaces or '+'")]
    InvalidName(String),
    #[error("invalid note text: {0}")]
    InvalidText(&'static str),
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("note has no signature from a trusted key")]
    UnverifiedNote,
    #[error("invalid signature by {0}")]
    BadSignature(String),
    #[error("reading key file: {0}")]
    Io(#[from] std::io::Error),
}

/// Key id recommended by C2SP: `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn has_forbidden_control(s: &str) -> bool {
    s.chars().any(|c| c < ' ' && c != '\n')
}

fn decode_typed_key(b64: &str) -> Result<[u8; 32], NoteError> {
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::BadKey("key is not base64"))?;
    match raw.split_first() {
        Some((&ALG_ED25519, key)) => key
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 key must be 32 bytes")),
        _ => Err(NoteError::BadKey("unsupported signature type")),
    }
}

fn parse_key_id(hex_id: &str) -> Result<u32, NoteError> {
    if hex_id.len() != 8 || !hex_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key id must be 8 hex digits"));
    }
    u32::from_str_radix(hex_id, 16).map_err(|_| NoteError::BadKey("key id must be 8 hex digits"))
}

/// An Ed25519 note signing key with its name. Debug output never shows the secret.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl NoteSigner {
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// A fresh random key (OS randomness via `rand`).
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let seed: [u8; 32] = rand::random();
        Self::from_seed(name, &seed)
    }

    /// Parse key material as found in a key file or environment variable: 64 hex digits or
    /// base64 of the 32-byte seed, or Go's `PRIVATE+KEY+<name>+<id>+<base64>` form (whose
    /// embedded name must equal `name`).
    pub fn from_key_text(name: &str, text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(GO_PRIVATE_PREFIX) {
            let parts: Vec<&str> = rest.splitn(3, '+').collect();
            let [embedded, id, b64] = parts.as_slice() else {
                return Err(NoteError::BadKey("private key must have name, id and key"));
            };
            if *embedded != name {
                return Err(NoteError::BadKey("private key is for a different name"));
            }
            let signer = Self::from_seed(name, &decode_typed_key(b64)?)?;
            if parse_key_id(id)? != signer.key_id {
                return Err(NoteError::BadKey("key id does not match key"));
            }
            return Ok(signer);
        }
        let seed = if text.len() == 64 {
            hex::decode(text).map_err(|_| NoteError::BadKey("key is not hex"))?
        } else {
            B64.decode(text)
                .map_err(|_| NoteError::BadKey("key is neither hex nor base64"))?
        };
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 seed must be 32 bytes"))?;
        Self::from_seed(name, &seed)
    }

    pub fn from_file(name: &str, path: &Path) -> Result<Self, NoteError> {
        Self::from_key_text(name, &std::fs::read_to_string(path)?)
    }

    /// The secret seed as hex, for writing a freshly generated key to its file. Secret.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub const fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// One signature line (without the newline), `— <name> <base64(key id || signature)>`.
    fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes()).to_bytes();
        let mut blob = Vec::with_capacity(4 + sig.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&sig);
        format!("{SIG_PREFIX}{} {}", self.name, B64.encode(blob))
    }
}

/// A trusted Ed25519 public key with its name and key id.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.vkey())
    }
}

impl NoteVerifier {
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 public key"))?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, public_key),
            key,
        })
    }

    /// Parse `<name>+<8 hex key id>+<base64(0x01 || public key)>`, checking the id.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let parts: Vec<&str> = vkey.trim().splitn(3, '+').collect();
        let [name, id, b64] = parts.as_slice() else {
            return Err(NoteError::BadKey("verifier key must be name+id+key"));
        };
        let verifier = Self::new(name, &decode_typed_key(b64)?)?;
        if parse_key_id(id)? != verifier.key_id {
            return Err(NoteError::BadKey("key id does not match key"));
        }
        Ok(verifier)
    }

    pub fn vkey(&self) -> String {
        let mut typed = vec![ALG_ED25519];
        typed.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(typed))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub const fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// Sign `text` (non-empty, newline-terminated, no control characters but newline) with every
/// signer, producing the complete signed note.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("must end with a newline"));
    }
    if has_forbidden_control(text) {
        return Err(NoteError::InvalidText("contains a control character"));
    }
    if signers.is_empty() {
        return Err(NoteError::InvalidText("no signer given"));
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 110);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        out.push_str(&s.signature_line(text));
        out.push('\n');
    }
    Ok(out)
}

/// A note whose text carries at least one valid signature from a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    pub text: String,
    /// `(name, key id)` of each trusted key whose signature verified.
    pub verified_by: Vec<(String, u32)>,
}

/// Parse a signed note and verify it against `verifiers`.
///
/// Signatures by keys not in `verifiers` are checked for syntax only and otherwise ignored, so
/// witnesses can cosign. A signature by a trusted key that fails to verify rejects the whole note:
/// it means the text was altered or the key is misused, and either way the note is suspect.
pub fn open_note(msg: &[u8], verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    if msg.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note too large"));
    }
    let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not UTF-8"))?;
    if has_forbidden_control(msg) {
        return Err(NoteError::Malformed("contains a control character"));
    }
    let split = msg
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before signatures"))?;
    let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(NoteError::Malformed(
            "signature block must end with a newline",
        ));
    };

    let mut verified_by: Vec<(String, u32)> = Vec::new();
    for (n, line) in sigs.split('\n').enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "signature line needs a name and a signature",
        ))?;
        check_name(name).map_err(|_| NoteError::Malformed("invalid key name in signature"))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        let Some((id, sig)) = blob.split_first_chunk::<4>() else {
            return Err(NoteError::Malformed("signature too short"));
        };
        let id = u32::from_be_bytes(*id);
        let Some(v) = verifiers.iter().find(|v| v.name == name && v.key_id == id) else {
            continue;
        };
        if verified_by.iter().any(|(n, i)| n == name && *i == id) {
            // Go's note package also consults only the first line per key.
            continue;
        }
        let sig: [u8; 64] = sig
            .try_into()
            .map_err(|_| NoteError::BadSignature(name.to_owned()))?;
        v.key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| NoteError::BadSignature(name.to_owned()))?;
        verified_by.push((name.to_owned(), id));
    }
    if verified_by.is_empty() {
        return Err(NoteError::UnverifiedNote);
    }
    Ok(VerifiedNote {
        text: text.to_owned(),
        verified_by,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // Vectors from golang.org/x/mod/sumdb/note (package doc and note_test.go).
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    // Example from the C2SP signed-note specification.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn peter() -> NoteVerifier {
        NoteVerifier::from_vkey(PETER_VKEY).unwrap()
    }

    #[test]
    fn go_vkey_parses_and_key_id_matches() {
        let v = peter();
        assert_eq!(v.key_id(), 0xc74f20a3);
        assert_eq!(key_id(v.name(), &v.public_key()), 0xc74f20a3);
        assert_eq!(v.vkey(), PETER_VKEY);
        assert_eq!(
            NoteVerifier::from_vkey(ENOCH_VKEY).unwrap().key_id(),
            0xaf0cfe78
        );
        assert_eq!(
            NoteVerifier::from_vkey(SPEC_VKEY).unwrap().vkey(),
            SPEC_VKEY
        );
    }

    #[test]
    fn go_signing_key_reproduces_published_signature() {
        // Ed25519 is deterministic, so the same seed must give the same bytes as Go.
        let s = NoteSigner::from_key_text("PeterNeumann", PETER_SKEY).unwrap();
        assert_eq!(s.verifier().vkey(), PETER_VKEY);
        assert_eq!(
            sign_note(TEXT, &[&s]).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );
        assert!(NoteSigner::from_key_text("Other", PETER_SKEY).is_err());
        let wrong_id = PETER_SKEY.replace("c74f20a3", "c74f20a4");
        assert!(NoteSigner::from_key_text("PeterNeumann", &wrong_id).is_err());
    }

    #[test]
    fn mangled_vkeys_are_rejected() {
        for i in 0..PETER_VKEY.len() {
            for j in i + 1..=PETER_VKEY.len() {
                if i == 0 && j == PETER_VKEY.len() {
                    continue;
                }
                let mangled = format!("{}{}", &PETER_VKEY[..i], &PETER_VKEY[j..]);
                assert!(NoteVerifier::from_vkey(&mangled).is_err(), "{mangled}");
            }
        }
        assert!(
            NoteVerifier::from_vkey(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
        assert!(
            NoteVerifier::from_vkey(
                "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
    }

    #[test]
    fn opens_spec_and_go_examples() {
        let spec = NoteVerifier::from_vkey(SPEC_VKEY).unwrap();
        let n = open_note(SPEC_NOTE.as_bytes(), &[spec]).unwrap();
        assert_eq!(n.text, "This is an example message.\n");
        let n = open_note(
            format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}").as_bytes(),
            &[peter()],
        )
        .unwrap();
        assert_eq!(n.text, TEXT);
        assert_eq!(n.verified_by, vec![("PeterNeumann".to_owned(), 0xc74f20a3)]);
        let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
        let n = open_note(
            format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}").as_bytes(),
            &[peter(), enoch],
        )
        .unwrap();
        assert_eq!(n.verified_by.len(), 2);
    }

    #[test]
    fn unknown_and_duplicate_signatures_are_tolerated() {
        let bad_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let msg = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{bad_enoch}");
        let n = open_note(msg.as_bytes(), &[peter()]).unwrap();
        assert_eq!(n.verified_by.len(), 1);
    }

    #[test]
    fn rejects_unverified_bad_and_malformed_notes() {
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert!(matches!(
            open_note(both.as_bytes(), &[]),
            Err(NoteError::UnverifiedNote)
        ));
        let only_enoch = format!("{TEXT}\n{ENOCH_SIG}");
        assert!(matches!(
            open_note(only_enoch.as_bytes(), &[peter()]),
            Err(NoteError::UnverifiedNote)
        ));
        let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert!(matches!(
            open_note(bad.as_bytes(), &[peter()]),
            Err(NoteError::BadSignature(_))
        ));
        let altered = format!("{}\n{PETER_SIG}", TEXT.replace("problem,", "problem;"));
        assert!(matches!(
            open_note(altered.as_bytes(), &[peter()]),
            Err(NoteError::BadSignature(_))
        ));
        let too_many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert!(matches!(
            open_note(too_many.as_bytes(), &[peter()]),
            Err(NoteError::Malformed(_))
        ));

        let mut malformed: Vec<Vec<u8>> = vec![
            TEXT.into(),
            format!("{TEXT}\n").into(),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]).into(),
            format!("\x01{TEXT}\n{PETER_SIG}").into(),
            format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
            format!("{TEXT}\n{}", PETER_SIG.replace('\u{2014}', "-")).into(),
        ];
        let mut not_utf8 = vec![0xff];
        not_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
        malformed.push(not_utf8);
        for msg in malformed {
            assert!(
                matches!(open_note(&msg, &[peter()]), Err(NoteError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(&msg)
            );
        }
    }

    #[test]
    fn signer_round_trips_through_key_text_and_redacts_debug() {
        let s = NoteSigner::generate("fraudhub.test/audit").unwrap();
        let hex_key = s.secret_hex();
        let again =
            NoteSigner::from_key_text("fraudhub.test/audit", &format!("{hex_key}\n")).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let b64 = B64.encode(hex::decode(&hex_key).unwrap());
        let again = NoteSigner::from_key_text("fraudhub.test/audit", &b64).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let dbg = format!("{s:?}");
        assert!(dbg.contains("redacted") && !dbg.contains(&hex_key) && !dbg.contains(&b64));
        assert!(NoteSigner::from_key_text("x", "abcd").is_err());
        assert!(NoteSigner::generate("bad name").is_err());
        assert!(NoteSigner::generate("a+b").is_err());
        assert!(NoteSigner::generate("").is_err());
    }

    #[test]
    fn signer_from_file() {
        let path = std::env::temp_dir().join(format!("fraudhub-note-key-{}", std::process::id()));
        std::fs::write(&path, format!("{}\n", "11".repeat(32))).unwrap();
        let s = NoteSigner::from_file("log", &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            s.verifier(),
            NoteSigner::from_seed("log", &[0x11; 32])
                .unwrap()
                .verifier()
        );
        assert!(matches!(
            NoteSigner::from_file("log", &path),
            Err(NoteError::Io(_))
        ));
    }

    #[test]
    fn sign_rejects_bad_text() {
        let s = NoteSigner::from_seed("log", &[7; 32]).unwrap();
        assert!(sign_note("no newline", &[&s]).is_err());
        assert!(sign_note("tab\there\n", &[&s]).is_err());
        assert!(sign_note("ok\n", &[]).is_err());
        let two = NoteSigner::from_seed("witness", &[8; 32]).unwrap();
        let msg = sign_note("ok\n", &[&s, &two]).unwrap();
        let n = open_note(msg.as_bytes(), &[two.verifier()]).unwrap();
        assert_eq!(n.verified_by, vec![("witness".to_owned(), two.key_id())]);
    }
}
