//! E-mail, IBAN, bankgiro, plusgiro, domain, IP and device identifiers.

use std::net::IpAddr;

use super::IdentifierError;
use super::personal_number::luhn_valid;

pub fn email(raw: &str) -> Result<String, IdentifierError> {
    let s = raw.trim();
    let (local, domain_part) = s
        .rsplit_once('@')
        .ok_or(IdentifierError::invalid("an e-mail address contains @"))?;
    if local.is_empty() || local.len() > 64 || s.len() > 254 {
        return Err(IdentifierError::invalid(
            "the e-mail address has a bad length",
        ));
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err(IdentifierError::invalid(
            "the local part of the e-mail address contains forbidden characters",
        ));
    }
    let host = hostname(domain_part)?;
    // Mailbox names are case-insensitive in practice at every provider fraud rings use;
    // lower-casing makes `Bob@X.se` and `bob@x.se` one indicator.
    let local = local.to_lowercase();
    // The canonical form must keep to the limits too, or normalising it again would
    // refuse it: lower-casing can lengthen a local part (Ⱥ is two bytes, ⱥ three) and
    // IDNA a domain.
    let address = format!("{local}@{host}");
    if local.len() > 64 || address.len() > 254 {
        return Err(IdentifierError::invalid(
            "the e-mail address has a bad length",
        ));
    }
    Ok(address)
}

pub fn iban(raw: &str) -> Result<String, IdentifierError> {
    let s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(IdentifierError::invalid(
            "an IBAN has 15 to 34 letters and digits",
        ));
    }
    let (country, check) = (&s[0..2], &s[2..4]);
    if !country.chars().all(|c| c.is_ascii_uppercase())
        || !check.chars().all(|c| c.is_ascii_digit())
    {
        return Err(IdentifierError::invalid(
            "an IBAN starts with a country code and two check digits",
        ));
    }
    // ISO 13616: move the first four characters to the end, letters become 10..35,
    // and the number must be 1 modulo 97. Folding digit by digit avoids big integers.
    let mut remainder = 0u32;
    for c in s[4..].chars().chain(s[..4].chars()) {
        let v = c
            .to_digit(36)
            .ok_or(IdentifierError::invalid("bad IBAN character"))?;
        remainder = if v < 10 {
            (remainder * 10 + v) % 97
        } else {
            (remainder * 100 + v) % 97
        };
    }
    if remainder != 1 {
        return Err(IdentifierError::invalid("the IBAN check digits are wrong"));
    }
    Ok(s)
}

fn giro_digits(raw: &str) -> Result<String, IdentifierError> {
    let mut digits = String::new();
    for c in raw.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => {
                return Err(IdentifierError::invalid(
                    "a giro number contains only digits",
                ));
            }
        }
    }
    Ok(digits)
}

pub fn bankgiro(raw: &str) -> Result<String, IdentifierError> {
    let d = giro_digits(raw)?;
    if !(7..=8).contains(&d.len()) {
        return Err(IdentifierError::invalid(
            "a bankgiro number has 7 or 8 digits",
        ));
    }
    if !luhn_valid(&d) {
        return Err(IdentifierError::invalid(
            "the bankgiro check digit is wrong",
        ));
    }
    Ok(d)
}

pub fn plusgiro(raw: &str) -> Result<String, IdentifierError> {
    let d = giro_digits(raw)?;
    if !(2..=8).contains(&d.len()) {
        return Err(IdentifierError::invalid(
            "a plusgiro number has 2 to 8 digits",
        ));
    }
    if !luhn_valid(&d) {
        return Err(IdentifierError::invalid(
            "the plusgiro check digit is wrong",
        ));
    }
    Ok(d)
}

/// A domain, or the host of a URL, lower-cased and in ASCII (punycode) form.
pub fn domain(raw: &str) -> Result<String, IdentifierError> {
    let s = raw.trim();
    if s.contains("://") {
        let url = url::Url::parse(s).map_err(|_| IdentifierError::invalid("not a valid URL"))?;
        let host = url
            .host_str()
            .ok_or(IdentifierError::invalid("the URL has no host"))?;
        return hostname(host);
    }
    hostname(s)
}

fn hostname(raw: &str) -> Result<String, IdentifierError> {
    let trimmed = raw.trim().trim_end_matches('.');
    // The url crate applies IDNA (UTS #46), so "Bånk.se" and "xn--bnk-ula.se" agree.
    let ascii = url::Host::parse(trimmed)
        .map_err(|_| IdentifierError::invalid("not a valid domain name"))?;
    let url::Host::Domain(host) = ascii else {
        return Err(IdentifierError::invalid(
            "expected a domain name, not an IP address",
        ));
    };
    let host = host.to_ascii_lowercase();
    let labels_ok = host.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok || !host.contains('.') || host.len() > 253 {
        return Err(IdentifierError::invalid("not a valid domain name"));
    }
    Ok(host)
}

pub fn ip(raw: &str) -> Result<String, IdentifierError> {
    let addr: IpAddr = raw
        .trim()
        .parse()
        .map_err(|_| IdentifierError::invalid("not a valid IPv4 or IPv6 address"))?;
    // An IPv4-mapped IPv6 address is the same host as the plain IPv4 address.
    Ok(addr.to_canonical().to_string())
}

pub fn device_id(raw: &str) -> Result<String, IdentifierError> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 256 {
        return Err(IdentifierError::invalid(
            "a device id has 1 to 256 characters",
        ));
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(IdentifierError::invalid(
            "a device id contains printable ASCII characters only",
        ));
    }
    // Opaque: kept case-sensitive, as SDKs emit them.
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_lowercases_and_validates() {
        assert_eq!(
            email(" Bob.Smith@Example.SE ").as_deref(),
            Ok("bob.smith@example.se")
        );
        for bad in [
            "bob",
            "@x.se",
            "bob@",
            "bo b@x.se",
            "bob@localhost",
            "bob@-x.se",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iban_checks_mod_97() {
        assert_eq!(
            iban("se45 5000 0000 0583 9825 7466").as_deref(),
            Ok("SE4550000000058398257466")
        );
        assert_eq!(
            iban("GB82 WEST 1234 5698 7654 32").as_deref(),
            Ok("GB82WEST12345698765432")
        );
        assert!(iban("SE4550000000058398257467").is_err());
        assert!(iban("SE45").is_err());
        assert!(iban("1145500000000583982574").is_err());
    }

    #[test]
    fn giro_numbers_check_luhn() {
        assert_eq!(bankgiro("5050-1055").as_deref(), Ok("50501055"));
        assert_eq!(bankgiro("991-2346").as_deref(), Ok("9912346"));
        assert!(bankgiro("5050-1056").is_err());
        assert!(bankgiro("12").is_err());
        assert_eq!(plusgiro("4 77 11-7").as_deref(), Ok("477117"));
        assert!(plusgiro("4 77 11-0").is_err());
        assert!(plusgiro("abc").is_err());
    }

    #[test]
    fn domains_and_urls_reduce_to_the_lowercase_host() {
        assert_eq!(
            domain("https://Login.EXAMPLE-bank.se/path?q=1").as_deref(),
            Ok("login.example-bank.se")
        );
        assert_eq!(domain("Example.se.").as_deref(), Ok("example.se"));
        assert_eq!(domain("bånk.se").as_deref(), Ok("xn--bnk-ula.se"));
        for bad in ["", "localhost", "http://10.0.0.1/", "exa mple.se", "-x.se"] {
            assert!(domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ips_are_canonical() {
        assert_eq!(ip("::ffff:192.0.2.1").as_deref(), Ok("192.0.2.1"));
        assert_eq!(ip("2001:DB8:0:0::1").as_deref(), Ok("2001:db8::1"));
        assert!(ip("256.1.1.1").is_err());
    }

    #[test]
    fn device_ids_are_opaque_but_printable() {
        assert_eq!(device_id(" AbC-123 ").as_deref(), Ok("AbC-123"));
        assert!(device_id("").is_err());
        assert!(device_id("a b").is_err());
    }
}
