//! Newtypes for values that must never end up in logs: personal numbers and
//! secrets. Their `Debug` output is redacted so a stray `{:?}` in a tracing
//! call cannot leak them.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A Swedish personal identity number in the 12-digit form BankID uses
/// (`YYYYMMDDNNNC`). The value is kept as given; validation is the caller's
/// (or the simulator's) job.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalNumber(String);

impl PersonalNumber {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for 12 ASCII digits with a valid Luhn check digit over the last 10.
    pub fn is_valid(&self) -> bool {
        is_valid_personal_number(&self.0)
    }
}

impl fmt::Debug for PersonalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalNumber(<redacted>)")
    }
}

/// Validates the 12-digit BankID form: digits only, a plausible date part
/// (day may carry +60 for coordination numbers), serial not 000, Luhn valid.
pub fn is_valid_personal_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digit = |i: usize| u32::from(bytes[i] - b'0');
    let month = digit(4) * 10 + digit(5);
    let mut day = digit(6) * 10 + digit(7);
    if day > 60 {
        day -= 60;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    if &value[8..11] == "000" {
        return false;
    }
    let sum: u32 = (2..12)
        .map(|i| {
            let d = digit(i);
            // Luhn over the 10-digit form: even positions (from the left,
            // starting at 0) are doubled.
            if (i - 2).is_multiple_of(2) {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A secret string (the `qrStartSecret`, a PKCS#12 password, ...). Serialises
/// as the plain string because the wire protocol needs it, but never prints, and
/// is wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Deliberately named so that every use of the raw value is easy to find.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_valid_numbers() {
        assert!(is_valid_personal_number("199001012385"));
        assert!(is_valid_personal_number("198112289874"));
    }

    #[test]
    fn luhn_rejects_bad_check_digit_and_shapes() {
        assert!(!is_valid_personal_number("199001012381"));
        assert!(!is_valid_personal_number("9001012380"));
        assert!(!is_valid_personal_number("19900101238a"));
        assert!(!is_valid_personal_number("199013012380"));
    }

    #[test]
    fn debug_output_is_redacted() {
        let pn = PersonalNumber::new("199001012385");
        assert!(!format!("{pn:?}").contains("1990"));
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn secret_is_wiped_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<Secret>();
        let mut s = Secret::new("hunter2");
        s.zeroize();
        assert_eq!(s.expose(), "");
    }
}
