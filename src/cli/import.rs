//! `fraudhub indicator import`: a member's past police-reported indicators from a CSV file.
//!
//! Every row is parsed here (the file format, as `api::indicators` parses JSON) and checked
//! by the same domain functions as `POST /v1/indicators` (`identifiers::normalise`,
//! `indicators::prepare`, hence `rules::check_report`). The file is stored whole or not at
//! all, so it is read whole first: at most [`MAX_ROWS`] rows and [`MAX_BYTES`] bytes. A row
//! becomes its token as soon as it is checked; no cell is ever echoed in the report, because
//! cells hold identifiers and notes.

use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use strum::VariantNames;

use crate::identifiers::{IdentifierKind, Normalised, normalise};
use crate::indicators::rules::{Category, Confidence, Indicator, check_report};
use crate::indicators::{NewIndicator, prepare};
use crate::pseudonym::Pseudonymiser;

/// Rows in one file, not counting the header. The file's one transaction holds the audit
/// log's lock, so every instance's matches wait for it: 10,000 rows take about 1.7 s on
/// PostgreSQL and 0.7 s on SQLite (debug build, this 2-core machine), well under the
/// readiness probe's `audit_stall_ms` (5 s); 100,000 took 15 s.
pub const MAX_ROWS: u64 = 10_000;
/// Bytes in one file: room for 10,000 rows with long notes.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

const TOO_BIG: &str = "larger than 16 MiB: split it into several files";

const KIND: &str = "kind";
const VALUE: &str = "value";
const CATEGORY: &str = "category";
const REFERENCE: &str = "police_report_reference";
const CONFIDENCE: &str = "confidence";
const VALID_UNTIL: &str = "valid_until";
const DISCLOSE: &str = "disclose_member";
const NOTE: &str = "note";
const REQUIRED: [&str; 5] = [KIND, VALUE, CATEGORY, REFERENCE, CONFIDENCE];
const OPTIONAL: [&str; 3] = [VALID_UNTIL, DISCLOSE, NOTE];

/// Why one row was refused: its number (1 = the first row after the header), the line it
/// starts on, the column at fault, and a reason that never repeats the cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub row: u64,
    pub line: u64,
    pub column: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {} (line {}): {}: {}",
            self.row, self.line, self.column, self.reason
        )
    }
}

/// A whole file, checked: the reports to store when nothing was refused.
#[derive(Debug, Default)]
pub struct Checked {
    pub rows: u64,
    pub accepted: Vec<Indicator>,
    pub refused: Vec<Refusal>,
}

impl Checked {
    /// Rows with at least one refusal.
    pub fn refused_rows(&self) -> u64 {
        let mut rows: Vec<u64> = self.refused.iter().map(|r| r.row).collect();
        rows.dedup();
        rows.len() as u64
    }
}

/// Where each column is in the file.
struct Columns {
    count: usize,
    kind: usize,
    value: usize,
    category: usize,
    reference: usize,
    confidence: usize,
    valid_until: Option<usize>,
    disclose: Option<usize>,
    note: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::ByteRecord) -> anyhow::Result<Columns> {
        let mut names = Vec::with_capacity(header.len());
        for (i, cell) in header.iter().enumerate() {
            // A spreadsheet's UTF-8 byte order mark before the first name.
            let cell = if i == 0 {
                cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
            } else {
                cell
            };
            let name = std::str::from_utf8(cell)
                .ok()
                .filter(|n| REQUIRED.contains(n) || OPTIONAL.contains(n))
                .with_context(|| {
                    format!(
                        "header column {}: not one of {}",
                        i + 1,
                        [REQUIRED.as_slice(), OPTIONAL.as_slice()]
                            .concat()
                            .join(", ")
                    )
                })?;
            if names.contains(&name) {
                bail!("header column {}: {name} appears twice", i + 1);
            }
            names.push(name);
        }
        let at = |name: &str| names.iter().position(|n| *n == name);
        let need = |name: &'static str| {
            at(name).with_context(|| format!("the header has no {name} column"))
        };
        Ok(Columns {
            count: names.len(),
            kind: need(KIND)?,
            value: need(VALUE)?,
            category: need(CATEGORY)?,
            reference: need(REFERENCE)?,
            confidence: need(CONFIDENCE)?,
            valid_until: at(VALID_UNTIL),
            disclose: at(DISCLOSE),
            note: at(NOTE),
        })
    }
}

/// Reads and checks a whole file for `member_id` at `at`. A file that cannot be read as a
/// whole (no header, too big, not CSV) is an error; refused rows are in the result.
pub fn check_file(
    path: &Path,
    pseudonymiser: &Pseudonymiser,
    member_id: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<Checked> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > MAX_BYTES)
    {
        bail!("{}: {TOO_BIG}", path.display());
    }
    check(file.take(MAX_BYTES + 1), pseudonymiser, member_id, at)
        .with_context(|| format!("{}", path.display()))
}

fn check(
    input: impl Read,
    pseudonymiser: &Pseudonymiser,
    member_id: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<Checked> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.byte_headers().context("reading the header")?.clone();
    if header.is_empty() {
        bail!("the file is empty: it needs a header row and at least one row");
    }
    let columns = Columns::from_header(&header)?;
    let mut checked = Checked::default();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).context("reading")? {
        if reader.position().byte() > MAX_BYTES {
            bail!(TOO_BIG);
        }
        checked.rows += 1;
        if checked.rows > MAX_ROWS {
            bail!("more than {MAX_ROWS} rows: split it into several files");
        }
        let line = record.position().map_or(0, csv::Position::line);
        let mut row = Row {
            row: checked.rows,
            line,
            refused: &mut checked.refused,
        };
        if record.len() != columns.count {
            row.refuse(
                "fields",
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    columns.count
                ),
            );
            continue;
        }
        if let Some(indicator) = row.check(&record, &columns, pseudonymiser, member_id, at) {
            checked.accepted.push(indicator);
        }
    }
    if reader.position().byte() > MAX_BYTES {
        bail!(TOO_BIG);
    }
    if checked.rows == 0 {
        bail!("no rows after the header: nothing to import");
    }
    Ok(checked)
}

/// One row being checked, and where its refusals go.
struct Row<'a> {
    row: u64,
    line: u64,
    refused: &'a mut Vec<Refusal>,
}

impl Row<'_> {
    fn refuse(&mut self, column: &'static str, reason: impl Into<String>) {
        self.refused.push(Refusal {
            row: self.row,
            line: self.line,
            column,
            reason: reason.into(),
        });
    }

    /// A cell as text (empty when the column is absent), or its refusal.
    fn text<'r>(
        &mut self,
        record: &'r csv::ByteRecord,
        column: &'static str,
        at: Option<usize>,
    ) -> Option<&'r str> {
        let Some(i) = at else { return Some("") };
        match std::str::from_utf8(record.get(i).unwrap_or_default()) {
            Ok(text) => Some(text),
            Err(_) => {
                self.refuse(column, "not valid UTF-8");
                None
            }
        }
    }

    /// Checks every cell, refusing each one at fault; the report to store when none is.
    fn check(
        &mut self,
        record: &csv::ByteRecord,
        columns: &Columns,
        pseudonymiser: &Pseudonymiser,
        member_id: i64,
        at: DateTime<Utc>,
    ) -> Option<Indicator> {
        let kind = self
            .text(record, KIND, Some(columns.kind))
            .and_then(|t| self.kind(t));
        let value = self.text(record, VALUE, Some(columns.value));
        let subject = match (kind, value) {
            (Some(kind), Some(value)) => self.subject(kind, value, at),
            _ => None,
        };
        let category = self
            .text(record, CATEGORY, Some(columns.category))
            .and_then(|t| self.one_of::<Category>(CATEGORY, t));
        let confidence = self
            .text(record, CONFIDENCE, Some(columns.confidence))
            .and_then(|t| self.one_of::<Confidence>(CONFIDENCE, t));
        let valid_until = self
            .text(record, VALID_UNTIL, columns.valid_until)
            .and_then(|t| self.valid_until(t));
        let disclose = self
            .text(record, DISCLOSE, columns.disclose)
            .and_then(|t| self.disclose(t));
        let reference = self.text(record, REFERENCE, Some(columns.reference));
        let note = self
            .text(record, NOTE, columns.note)
            .map(|t| (!t.is_empty()).then(|| t.to_string()));
        let (Some(reference), Some(note)) = (reference, note) else {
            return None;
        };
        let (Some(subject), Some(category), Some(confidence), Some(valid_until), Some(disclose)) =
            (subject, category, confidence, valid_until, disclose)
        else {
            // Still tell the operator what the report rules say about this row.
            if let Err(e) = check_report(reference, valid_until.flatten(), note.as_deref(), at) {
                self.refuse(e.field, e.reason);
            }
            return None;
        };
        let new = NewIndicator {
            subject,
            category,
            police_report_reference: reference.to_string(),
            confidence,
            valid_until,
            disclose_member: disclose,
            note,
        };
        match prepare(pseudonymiser, member_id, new, at) {
            Ok(indicator) => Some(indicator),
            Err(e) => {
                self.refuse(e.field, e.reason);
                None
            }
        }
    }

    fn kind(&mut self, text: &str) -> Option<IdentifierKind> {
        match IdentifierKind::from_str(text) {
            Ok(kind) => Some(kind),
            Err(_) => {
                let known: Vec<&str> = IdentifierKind::ALL.iter().map(|k| k.as_str()).collect();
                self.refuse(KIND, format!("must be one of {}", known.join(", ")));
                None
            }
        }
    }

    /// The identifier, validated and normalised exactly as in the API; the refusal names
    /// the kind and the reason, never the value.
    fn subject(
        &mut self,
        kind: IdentifierKind,
        value: &str,
        at: DateTime<Utc>,
    ) -> Option<Normalised> {
        match normalise(kind, value, at.date_naive()) {
            Ok(subject) => Some(subject),
            Err(e) => {
                self.refuse(VALUE, format!("invalid {}: {e}", kind.as_str()));
                None
            }
        }
    }

    fn one_of<T: FromStr + VariantNames>(&mut self, column: &'static str, text: &str) -> Option<T> {
        match T::from_str(text) {
            Ok(v) => Some(v),
            Err(_) => {
                self.refuse(column, format!("must be one of {}", T::VARIANTS.join(", ")));
                None
            }
        }
    }

    /// RFC 3339, parsed as the API's JSON parses it; empty means the default.
    fn valid_until(&mut self, text: &str) -> Option<Option<DateTime<Utc>>> {
        if text.is_empty() {
            return Some(None);
        }
        match text.parse::<DateTime<Utc>>() {
            Ok(t) => Some(Some(t)),
            Err(_) => {
                self.refuse(
                    VALID_UNTIL,
                    "must be an RFC 3339 date and time, such as 2027-06-30T00:00:00Z, or empty",
                );
                None
            }
        }
    }

    fn disclose(&mut self, text: &str) -> Option<bool> {
        if text.is_empty() || text.eq_ignore_ascii_case("false") {
            Some(false)
        } else if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else {
            self.refuse(DISCLOSE, "must be true, false or empty");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pseudonym::MasterKey;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
    }

    fn run(text: &str) -> anyhow::Result<Checked> {
        let p = Pseudonymiser::new(&MasterKey::from_bytes([1; 32]), 1);
        check(text.as_bytes(), &p, 7, now())
    }

    const HEADER: &str =
        "kind,value,category,police_report_reference,confidence,valid_until,disclose_member,note\n";

    #[test]
    fn a_good_row_becomes_a_token_and_the_defaults_apply() -> anyhow::Result<()> {
        let checked = run(&format!(
            "\u{feff}{HEADER}phone, 070-123 45 67 ,vishing,5000-k123456-24,high,,,\n"
        ))?;
        assert!(checked.refused.is_empty(), "{:?}", checked.refused);
        let [one] = checked.accepted.as_slice() else {
            anyhow::bail!("one report expected");
        };
        assert_eq!(one.member_id, 7);
        assert_eq!(one.kind, IdentifierKind::Phone);
        assert_eq!(one.police_report_reference, "5000-K123456-24");
        assert_eq!(one.valid_until, now() + chrono::Duration::days(365));
        assert!(!one.disclose_member && one.note.is_none());
        Ok(())
    }

    #[test]
    fn every_fault_of_a_row_is_named_by_column_without_the_cell() -> anyhow::Result<()> {
        let checked = run(&format!(
            "{HEADER}phone,070-SECRET,swindle,Q9-77,sure,tomorrow,maybe,\niban,x\n"
        ))?;
        let faults: Vec<(u64, u64, &str)> = checked
            .refused
            .iter()
            .map(|r| (r.row, r.line, r.column))
            .collect();
        assert_eq!(
            faults,
            [
                (1, 2, "value"),
                (1, 2, "category"),
                (1, 2, "confidence"),
                (1, 2, "valid_until"),
                (1, 2, "disclose_member"),
                (1, 2, "police_report_reference"),
                (2, 3, "fields"),
            ]
        );
        assert_eq!(checked.refused_rows(), 2);
        let report: String = checked.refused.iter().map(|r| format!("{r}\n")).collect();
        for cell in ["SECRET", "swindle", "Q9-77", "sure", "tomorrow", "maybe"] {
            assert!(!report.contains(cell), "{report}");
        }
        Ok(())
    }

    #[test]
    fn a_stream_past_the_byte_limit_is_refused_whole() {
        let p = Pseudonymiser::new(&MasterKey::from_bytes([1; 32]), 1);
        let huge = format!(
            "{HEADER}domain,example.com,other,5000-K1-24,low,,,\"{}\"\n",
            "x".repeat(usize::try_from(MAX_BYTES).unwrap_or(usize::MAX))
        );
        let read = check(huge.as_bytes().take(MAX_BYTES + 1), &p, 7, now());
        assert!(read.is_err_and(|e| e.to_string() == TOO_BIG));
    }

    #[test]
    fn the_header_must_name_the_known_columns_once() {
        assert!(run("kind,value\nphone,1\n").is_err());
        assert!(run(&HEADER.replace("note", "kind")).is_err());
        assert!(run(&HEADER.replace("note", "comment")).is_err());
        assert!(run(HEADER).is_err(), "no rows");
        assert!(run("").is_err());
        // The optional columns may be left out, and the order is free.
        let short = "confidence,police_report_reference,category,value,kind\n\
                     low,5000-K1-24,other,example.com,domain\n";
        assert!(run(short).is_ok_and(|c| c.accepted.len() == 1 && c.refused.is_empty()));
    }
}
