//! Checkpoints (C2SP tlog-checkpoint) as an auditor reads them: the body's strict parse,
//! and opening a signed checkpoint against the hub's key.

#![no_main]

use fraudhub::tlog::{Checkpoint, NoteSigner};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fraudhub.example/audit";

fuzz_target!(|data: &[u8]| {
    let Ok(signer) = NoteSigner::from_seed(ORIGIN, &[7; 32]) else {
        return;
    };
    let verifier = signer.verifier();
    if let Ok(cp) = Checkpoint::open(data, ORIGIN, std::slice::from_ref(&verifier)) {
        assert_eq!(cp.origin, ORIGIN);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cp) = Checkpoint::parse_body(text) else {
        return;
    };
    // One checkpoint, one byte string: the parse is strict enough to give back the input.
    match cp.to_body() {
        Ok(body) => assert_eq!(body, text, "the body does not round-trip"),
        Err(e) => panic!("a parsed checkpoint cannot be written: {e}"),
    }
    let signed = cp.sign(&signer);
    let origin = cp.origin.clone();
    match signed.map(|note| Checkpoint::open(note.as_bytes(), &origin, &[verifier])) {
        Ok(Ok(opened)) => assert_eq!(opened, cp),
        Ok(Err(e)) => panic!("a checkpoint the hub signed does not open: {e}"),
        Err(e) => panic!("a parsed checkpoint cannot be signed: {e}"),
    }
});
