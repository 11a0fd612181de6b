//! Values that must never end up in logs: personal numbers (a newtype whose
//! `Debug` is redacted) and secrets (`secrecy::SecretString`, redacted and
//! wiped on drop), so a stray `{:?}` in a tracing call cannot leak them.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

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

/// Writes a secret as its plain string, where the wire protocol needs it
/// (`qrStartSecret` in a start response): `secrecy` serialises no string
/// secret on its own, so each such field opts in with
/// `#[serde(serialize_with = "...")]`.
pub(crate) fn serialize_exposed<S: Serializer>(
    secret: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
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
        let s = SecretString::from("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_secret_is_serialised_only_where_a_field_opts_in() {
        #[derive(Serialize)]
        struct Wire {
            #[serde(serialize_with = "serialize_exposed")]
            secret: SecretString,
        }
        let wire = Wire {
            secret: SecretString::from("hunter2"),
        };
        assert_eq!(
            serde_json::to_string(&wire).unwrap_or_default(),
            r#"{"secret":"hunter2"}"#
        );
    }
}
