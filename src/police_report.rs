//! Swedish police report numbers ("diarienummer"), the one rule both flags and indicators
//! use: a 4-digit unit code, `K` and a 1–7 digit running number, then a 2-digit year,
//! e.g. `5000-K123456-24`. Surrounding whitespace and a lower-case `k` are accepted;
//! the normalised form is trimmed with an upper-case `K`.

/// The normalised reference, or `None` when `text` is not one.
pub fn normalise(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [unit, number, year] = parts.as_slice() else {
        return None;
    };
    let digits = |x: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    let number = number
        .strip_prefix('K')
        .or_else(|| number.strip_prefix('k'))?;
    (digits(unit, 4, 4) && digits(number, 1, 7) && digits(year, 2, 2))
        .then(|| format!("{unit}-K{number}-{year}"))
}

pub fn is_valid(text: &str) -> bool {
    normalise(text).is_some()
}

/// What an error message says is accepted.
pub const EXPECTED: &str = "expected a Swedish police report number such as 5000-K123456-24";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_the_swedish_format() {
        assert_eq!(
            normalise(" 5000-k123456-24 ").as_deref(),
            Some("5000-K123456-24")
        );
        assert!(is_valid("1400-K1-99"));
        for bad in [
            "5000-123456-24",
            "500-K1-24",
            "5000-K12345678-24",
            "5000-K1-2024",
            "5000-K-24",
            "x",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
