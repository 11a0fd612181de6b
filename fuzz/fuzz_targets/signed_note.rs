//! C2SP signed notes as a verifier of the hub's checkpoints (or a witness's cosigned
//! copy) reads them. Three readings of one input: as a signed note to open, as note text
//! to sign and open again, and as a verifier key string.

#![no_main]

use fraudhub::tlog::{NoteSigner, NoteVerifier, open_note, sign_note};
use libfuzzer_sys::fuzz_target;

const NAME: &str = "fraudhub.example/audit";

fuzz_target!(|data: &[u8]| {
    let Ok(signer) = NoteSigner::from_seed(NAME, &[7; 32]) else {
        return;
    };
    let verifier = signer.verifier();

    if let Ok(opened) = open_note(data, std::slice::from_ref(&verifier)) {
        assert!(data.starts_with(opened.text.as_bytes()));
        assert_eq!(
            opened.verified_by,
            vec![(NAME.to_string(), verifier.key_id())]
        );
        // Ed25519 signatures are deterministic: the note must carry exactly the line
        // this key would write for this text.
        let Ok(ours) = sign_note(&opened.text, &[&signer]) else {
            panic!("an opened text cannot be signed again");
        };
        let line = ours.lines().last().unwrap_or_default();
        let Ok(note) = std::str::from_utf8(data) else {
            panic!("an opened note is not UTF-8");
        };
        assert!(
            note.lines().any(|l| l == line),
            "verified without our signature line"
        );
    }

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(signed) = sign_note(text, &[&signer]) {
            match open_note(signed.as_bytes(), std::slice::from_ref(&verifier)) {
                Ok(opened) => assert_eq!(opened.text, text, "opening changed the text"),
                Err(e) => panic!("a note the hub signed does not open: {e}"),
            }
        }
        if let Ok(v) = NoteVerifier::from_vkey(text) {
            let again = NoteVerifier::from_vkey(&v.vkey());
            assert_eq!(again.ok().as_ref(), Some(&v), "vkey does not round-trip");
        }
    }
});
