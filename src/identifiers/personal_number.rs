//! Swedish personal identity numbers (personnummer) and coordination numbers
//! (samordningsnummer).
//!
//! Every accepted spelling is normalised to the 12-digit form `YYYYMMDDNNNC`, so the
//! same person always yields the same token whichever form a member sends.

use chrono::{Datelike, NaiveDate};

use super::IdentifierError;

/// Coordination numbers add 60 to the day of birth.
const COORDINATION_DAY_OFFSET: u32 = 60;

/// Validates and normalises a personal or coordination number. `today` drives century
/// inference for the 10-digit forms, so callers pass the hub's (injectable) clock.
pub fn normalise(raw: &str, today: NaiveDate) -> Result<String, IdentifierError> {
    let (digits, separator) = split_separator(raw.trim())?;
    let twelve = match digits.len() {
        12 => {
            // A `+` only carries meaning with a two-digit year.
            if separator == Some('+') {
                return Err(IdentifierError::invalid(
                    "the + separator is only valid in the 10-digit form",
                ));
            }
            digits
        }
        10 => {
            let century = infer_century(&digits, separator == Some('+'), today)?;
            format!("{century:02}{digits}")
        }
        _ => {
            return Err(IdentifierError::invalid(
                "a personal number has 10 or 12 digits",
            ));
        }
    };
    validate_twelve(&twelve)?;
    Ok(twelve)
}

/// Is this normalised 12-digit number a coordination number?
pub fn is_coordination_number(twelve: &str) -> bool {
    twelve
        .get(6..8)
        .and_then(|d| d.parse::<u32>().ok())
        .is_some_and(|d| d > COORDINATION_DAY_OFFSET)
}

fn split_separator(s: &str) -> Result<(String, Option<char>), IdentifierError> {
    let mut separator = None;
    let mut digits = String::with_capacity(12);
    for (i, c) in s.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '+' if separator.is_none() => {
                // The separator always sits right before the last four digits.
                if s.len() - i - 1 != 4 {
                    return Err(IdentifierError::invalid(
                        "the separator must come right before the last four digits",
                    ));
                }
                separator = Some(c);
            }
            _ => {
                return Err(IdentifierError::invalid(
                    "a personal number contains only digits and one - or + separator",
                ));
            }
        }
    }
    Ok((digits, separator))
}

/// 10-digit forms omit the century: `-` means the person is under 100 (the most recent
/// century that does not put the birth date in the future), `+` means 100 or older.
fn infer_century(ten: &str, centenarian: bool, today: NaiveDate) -> Result<u32, IdentifierError> {
    let yy: i32 = parse(&ten[0..2])?;
    let mm: u32 = parse(&ten[2..4])?;
    let dd: u32 = parse(&ten[4..6])?;
    let day = if dd > COORDINATION_DAY_OFFSET {
        dd - COORDINATION_DAY_OFFSET
    } else {
        dd
    };
    let this_year = today.year();
    let mut year = this_year - (this_year - yy).rem_euclid(100);
    // If the birthday this year has not happened yet the person would be born in the
    // future; compare month/day loosely (invalid dates are rejected later).
    if year == this_year && (mm, day) > (today.month(), today.day()) {
        year -= 100;
    }
    if centenarian {
        year -= 100;
    }
    u32::try_from(year / 100).map_err(|_| IdentifierError::invalid("birth year out of range"))
}

fn validate_twelve(twelve: &str) -> Result<(), IdentifierError> {
    let year: i32 = parse(&twelve[0..4])?;
    let month: u32 = parse(&twelve[4..6])?;
    let mut day: u32 = parse(&twelve[6..8])?;
    if day > COORDINATION_DAY_OFFSET {
        day -= COORDINATION_DAY_OFFSET;
    }
    if !(1800..=2999).contains(&year) || NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return Err(IdentifierError::invalid(
            "the date of birth is not a valid date",
        ));
    }
    if &twelve[8..11] == "000" {
        return Err(IdentifierError::invalid(
            "serial number 000 is never issued",
        ));
    }
    if !luhn_valid(&twelve[2..]) {
        return Err(IdentifierError::invalid("the check digit is wrong"));
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(digits: &str) -> Result<T, IdentifierError> {
    digits
        .parse()
        .map_err(|_| IdentifierError::invalid("not a number"))
}

/// Luhn (mod 10) over a string of ASCII digits, rightmost digit being the check digit.
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b.wrapping_sub(b'0'));
        if d > 9 {
            return false;
        }
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap_or_default()
    }

    fn ok(raw: &str) -> String {
        normalise(raw, today()).unwrap_or_else(|e| panic!("{raw} rejected: {e}"))
    }

    /// Appends the Luhn check digit to a `YYMMDD-NNN` prefix.
    fn with_check(prefix: &str) -> String {
        (0..10)
            .map(|c| format!("{prefix}{c}"))
            .find(|s| luhn_valid(&s.replace('-', "")))
            .unwrap_or_default()
    }

    fn bad(raw: &str) {
        assert!(normalise(raw, today()).is_err(), "{raw} was accepted");
    }

    #[test]
    fn all_spellings_of_one_number_normalise_alike() {
        for raw in [
            "199001010017",
            "19900101-0017",
            "9001010017",
            "900101-0017",
            " 900101-0017 ",
        ] {
            assert_eq!(ok(raw), "199001010017", "{raw}");
        }
    }

    #[test]
    fn plus_separator_means_a_hundred_years_older() {
        assert_eq!(ok("900101+0017"), "189001010017");
    }

    #[test]
    fn ten_digit_form_picks_the_most_recent_past_century() {
        // Born 2012 (age 14), not 1912.
        assert_eq!(ok("121212-1212"), "201212121212");
        // A birthday later this year than today's date belongs to last century.
        assert_eq!(ok(&with_check("261231-001"))[..4], *"1926");
        assert_eq!(ok(&with_check("261124-001"))[..4], *"2026");
    }

    #[test]
    fn coordination_numbers_add_sixty_to_the_day() {
        let ten = with_check("900161-001");
        let n = ok(&ten);
        assert!(is_coordination_number(&n));
        assert_eq!(ok(&format!("19{ten}")), n);
        assert!(!is_coordination_number(&ok("19900101-0017")));
    }

    #[test]
    fn rejects_wrong_check_digit_bad_dates_serial_zero_and_junk() {
        bad("19900101-0018"); // check digit
        bad("19901301-0017"); // month 13
        bad(&format!("19{}", with_check("900230-001"))); // 30 February
        bad(&format!("19{}", with_check("900192-001"))); // coordination day 32
        bad(&format!("19{}", with_check("900101-000"))); // serial 000
        bad(&format!("19{}", with_check("901301-001"))); // month 13 with a valid check digit
        bad("1990010100"); // too short for 12, wrong luhn for 10
        bad("199001010017-"); // separator misplaced
        bad("1990-01010017");
        bad("900101--0017");
        bad("19900101+0017"); // + with 12 digits
        bad("");
        bad("abcdefghij");
        bad("９００１０１-００１７"); // full-width digits
        bad("19900101 0017");
        bad("1234567890123");
    }

    #[test]
    fn leap_day_is_valid_only_in_leap_years() {
        // 2000-02-29 exists; compute a valid check digit by search.
        let valid = (0..10)
            .map(|c| format!("20000229-002{c}"))
            .find(|s| normalise(s, today()).is_ok());
        assert!(valid.is_some());
        assert!(
            (0..10).all(|c| normalise(&format!("19000229-002{c}"), today()).is_err()),
            "1900 is not a leap year"
        );
    }

    #[test]
    fn luhn_matches_known_values() {
        assert!(luhn_valid("9001010017"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
    }
}
