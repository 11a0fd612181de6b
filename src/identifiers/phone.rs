//! Phone numbers, normalised to E.164 (`+` and 8–15 digits).
//!
//! Swedish national forms (`070-123 45 67`, `08-123 456 78`) become `+46…`, and the
//! international `00` prefix becomes `+`, so one handset has one token.

use super::IdentifierError;

pub fn normalise(raw: &str) -> Result<String, IdentifierError> {
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for (i, c) in raw.trim().chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            // Common visual separators in written phone numbers.
            ' ' | '-' | '(' | ')' | '.' | '/' => {}
            _ => {
                return Err(IdentifierError::invalid(
                    "a phone number contains digits, an optional leading + and separators",
                ));
            }
        }
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        // Swedish trunk prefix: the national number follows the country code 46.
        format!("46{rest}")
    } else {
        return Err(IdentifierError::invalid(
            "a phone number starts with +, 00 or a Swedish 0 trunk prefix",
        ));
    };
    if international.starts_with('0') {
        return Err(IdentifierError::invalid(
            "a country code never starts with 0",
        ));
    }
    if !(8..=15).contains(&international.len()) {
        return Err(IdentifierError::invalid(
            "an E.164 phone number has 8 to 15 digits",
        ));
    }
    if let Some(national) = international.strip_prefix("46") {
        // Swedish national significant numbers are 7 to 9 digits (mobiles are 9).
        if !(7..=9).contains(&national.len()) {
            return Err(IdentifierError::invalid(
                "a Swedish phone number has 7 to 9 digits after the country code",
            ));
        }
    }
    Ok(format!("+{international}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_national_forms_become_e164() {
        for raw in [
            "070-123 45 67",
            "0701234567",
            "+46701234567",
            "0046 70 123 45 67",
        ] {
            assert_eq!(normalise(raw).as_deref(), Ok("+46701234567"), "{raw}");
        }
        assert_eq!(normalise("08-123 456 78").as_deref(), Ok("+46812345678"));
    }

    #[test]
    fn foreign_numbers_keep_their_country_code() {
        assert_eq!(
            normalise("+33 6 12 34 56 78").as_deref(),
            Ok("+33612345678")
        );
        assert_eq!(normalise("0047 912 34 567").as_deref(), Ok("+4791234567"));
    }

    #[test]
    fn rejects_letters_short_long_and_misplaced_plus() {
        for raw in [
            "070-CALL-NOW",
            "123",
            "+1234567890123456",
            "07+01234567",
            "+0701234567",
            "",
            "0701",
        ] {
            assert!(normalise(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn normalisation_is_idempotent() {
        let once = normalise("070-123 45 67").unwrap_or_default();
        assert_eq!(normalise(&once).as_deref(), Ok(once.as_str()));
    }
}
