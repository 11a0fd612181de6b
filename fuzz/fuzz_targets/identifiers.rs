//! Identifiers of every kind: the first byte picks the kind, the next two the day the hub
//! thinks it is (century inference of 10-digit personal numbers depends on it), the rest
//! is the raw value.

#![no_main]

use chrono::{Days, NaiveDate};
use fraudhub::identifiers::{IdentifierKind, normalise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, d0, d1, raw @ ..] = data else {
        return;
    };
    let kind = IdentifierKind::ALL[usize::from(*kind) % IdentifierKind::ALL.len()];
    let Ok(raw) = std::str::from_utf8(raw) else {
        return;
    };
    let Some(today) = NaiveDate::from_ymd_opt(1950, 1, 1)
        .and_then(|d| d.checked_add_days(Days::new(u64::from(u16::from_le_bytes([*d0, *d1])))))
    else {
        return;
    };
    let Ok(normalised) = normalise(kind, raw, today) else {
        return;
    };
    assert_eq!(normalised.kind(), kind);
    let value = normalised.value();
    // Canonical means a fixed point: what the hub tokenises must normalise to itself,
    // or one person could carry two tokens.
    match normalise(kind, value, today) {
        Ok(again) => assert_eq!(again.value(), value, "{kind:?} is not idempotent"),
        Err(e) => panic!("{kind:?}: the normalised form is refused: {e}"),
    }
    assert_eq!(value.trim(), value, "{kind:?} keeps surrounding whitespace");
    match kind {
        IdentifierKind::SePersonalNumber => {
            assert!(value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()));
        }
        IdentifierKind::Phone => {
            let digits = value.strip_prefix('+').unwrap_or_default();
            assert!((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        }
        IdentifierKind::SeBankgiro | IdentifierKind::SePlusgiro => {
            assert!(value.bytes().all(|b| b.is_ascii_digit()));
        }
        IdentifierKind::Iban => {
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
        }
        IdentifierKind::Domain => {
            assert!(
                value.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'-')
            );
        }
        IdentifierKind::Email | IdentifierKind::Ip | IdentifierKind::DeviceId => {}
    }
});
