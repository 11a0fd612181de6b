//! Built-in test persons. The numbers are synthetic (valid date, serial and
//! Luhn digit) and exist only in this simulator's memory.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestPerson {
    pub personal_number: &'static str,
    pub given_name: &'static str,
    pub surname: &'static str,
}

pub const TEST_PERSONS: &[TestPerson] = &[
    TestPerson {
        personal_number: "199001012385",
        given_name: "Anna",
        surname: "Andersson",
    },
    TestPerson {
        personal_number: "198112289874",
        given_name: "Erik",
        surname: "Eriksson",
    },
    TestPerson {
        personal_number: "198504121230",
        given_name: "Maria",
        surname: "Johansson",
    },
    TestPerson {
        personal_number: "197003154569",
        given_name: "Lars",
        surname: "Karlsson",
    },
    TestPerson {
        personal_number: "200002292340",
        given_name: "Sara",
        surname: "Nilsson",
    },
    TestPerson {
        personal_number: "199212317896",
        given_name: "Johan",
        surname: "Larsson",
    },
];

const GIVEN: &[&str] = &[
    "Karin", "Nils", "Elsa", "Oskar", "Ingrid", "Gustav", "Astrid", "Olof",
];
const SURNAMES: &[&str] = &[
    "Lindqvist",
    "Berg",
    "Holm",
    "Sjöberg",
    "Ek",
    "Lund",
    "Strand",
    "Wall",
];

/// Given name and surname for any personal number: the built-in name if it
/// is a test person, otherwise a stable synthesised one.
pub fn name_for(personal_number: &str) -> (String, String) {
    if let Some(p) = TEST_PERSONS
        .iter()
        .find(|p| p.personal_number == personal_number)
    {
        return (p.given_name.into(), p.surname.into());
    }
    let seed: usize = personal_number
        .bytes()
        .map(|b| usize::from(b.wrapping_sub(b'0')))
        .fold(7, |acc, d| acc.wrapping_mul(31).wrapping_add(d));
    (
        GIVEN[seed % GIVEN.len()].into(),
        SURNAMES[(seed / GIVEN.len()) % SURNAMES.len()].into(),
    )
}
