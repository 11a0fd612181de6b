//! What the BankID client reads from BankID (or whoever answers at its address): the
//! auth/sign, phone auth/sign and collect responses of a 200, and the error body of any
//! other status. The first two bytes are the HTTP status.

#![no_main]

use fraudhub::bankid::{BankIdError, CollectResponse, HintCode, OrderResponse, PhoneOrderResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [s0, s1, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_le_bytes([*s0, *s1]) % 500;

    if let Ok(collect) = serde_json::from_slice::<CollectResponse>(body) {
        // The simulator writes these: whatever the client reads, the same type must
        // write and read back unchanged.
        let Ok(json) = serde_json::to_vec(&collect) else {
            panic!("a collect response does not serialise");
        };
        let again = serde_json::from_slice::<CollectResponse>(&json).ok();
        assert_eq!(
            again.as_ref(),
            Some(&collect),
            "collect does not round-trip"
        );
        if let Some(hint) = &collect.hint_code {
            assert_eq!(&HintCode::parse(hint.as_str()), hint);
        }
    }
    let _ = serde_json::from_slice::<OrderResponse>(body);
    let _ = serde_json::from_slice::<PhoneOrderResponse>(body);

    // The error's text goes into log lines: one line, no control or bidi characters,
    // bounded however long the body (an escape is at most ten characters).
    let err = BankIdError::from_response(status, body);
    let text = err.to_string();
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() || ('\u{2028}'..='\u{202e}').contains(&c)),
        "{text:?}"
    );
    assert!(
        text.chars().count() <= 3000,
        "{} characters",
        text.chars().count()
    );
});
