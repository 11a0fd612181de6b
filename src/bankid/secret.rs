//! Values that must never end up in logs: personal numbers (a newtype whose
//! `Debug` is redacted) and secrets (`secrecy::SecretString`, redacted and
//! wiped on drop), so a stray `{:?}` in a tracing call cannot leak them.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// A Swedish personal identity number in the 12-digit form BankID uses
/// (`YYYYMMDDNNNC`). The value is kept as given.
///
/// Whether a number could have been issued (date, serial, check digit) is a
/// rule of the hub's, stated once in `identifiers::personal_number`; this
/// module depends on nothing in the hub, so the BankID layer (client and
/// simulator) checks only the form BankID's RP API documents for
/// `personalNumber`: 12 digits.
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

    /// True for 12 ASCII digits, the form the RP API takes.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 12 && self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

impl fmt::Debug for PersonalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalNumber(<redacted>)")
    }
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
    fn well_formed_is_twelve_ascii_digits() {
        assert!(PersonalNumber::new("199001012385").is_well_formed());
        for bad in [
            "9001012385",
            "19900101-2385",
            "19900101238a",
            "１９９００１０１２３８５",
            "",
        ] {
            assert!(!PersonalNumber::new(bad).is_well_formed(), "{bad}");
        }
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
