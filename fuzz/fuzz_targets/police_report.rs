//! Swedish police report references, as flags (API and consumer pages) and indicators
//! (API and CSV import) take them.

#![no_main]

use fraudhub::police_report::{is_valid, normalise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let normalised = normalise(text);
    assert_eq!(is_valid(text), normalised.is_some());
    let Some(n) = normalised else {
        return;
    };
    assert_eq!(
        normalise(&n).as_deref(),
        Some(n.as_str()),
        "not a fixed point"
    );
    // `NNNN-K<1..7 digits>-NN`, nothing else.
    let parts: Vec<&str> = n.split('-').collect();
    let [unit, number, year] = parts.as_slice() else {
        panic!("{n:?} is not three parts");
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    assert!(unit.len() == 4 && digits(unit), "{n:?}");
    assert!(year.len() == 2 && digits(year), "{n:?}");
    let running = number.strip_prefix('K').unwrap_or_default();
    assert!((1..=7).contains(&running.len()) && digits(running), "{n:?}");
});
