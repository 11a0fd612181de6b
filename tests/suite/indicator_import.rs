//! `fraudhub indicator import`: a member's past police-reported indicators from a CSV file,
//! checked like `POST /v1/indicators`, stored whole or not at all, and matched by every
//! other member; no raw identifier in what the command prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use chrono::{DateTime, Duration, Utc};
use fraudhub::audit::entry::{Action, Actor, Outcome};
use fraudhub::members::MemberStatus;
use serde_json::{Value, json};

use crate::common::*;

const SCOPES: &str = "indicators:write,matches:read";
const HEADER: &str =
    "kind,value,category,police_report_reference,confidence,valid_until,disclose_member,note";

const IBAN: &str = "SE45 5000 0000 0583 9825 7466";
const PHONE: &str = "070-123 45 67";
const BANKGIRO: &str = "5050-1055";
/// Distinctive runs of each identifier: none may appear in anything the command prints.
const RAW: [&str; 6] = [
    "5839825",
    "0583 9825",
    "123 45 67",
    "1234567",
    "5050-1055",
    "50501055",
];

/// Runs the binary as an operator would, with the master key the test hubs use
/// (`MasterKey::from_bytes([42; 32])`), so its tokens are the hub's. Awaited, not blocked
/// on: the hub shares this test's runtime thread and must be able to finish a write
/// transaction it has open, or the CLI would wait on SQLite's lock and fail.
async fn fraudhub(db: &TestDb, dir: &Path, args: &[&str]) -> Output {
    let mut command = cli_command(db, dir, args);
    command.env("FRAUDHUB_MASTER_KEY", "2a".repeat(32));
    tokio::process::Command::from(command)
        .env("USER", "olle")
        .env_remove("SUDO_USER")
        .output()
        .await
        .expect("run fraudhub")
}

async fn import(db: &TestDb, dir: &Path, member: i64, file: &Path) -> Output {
    fraudhub(
        db,
        dir,
        &[
            "indicator",
            "import",
            "--member",
            &member.to_string(),
            file.to_str().unwrap(),
        ],
    )
    .await
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_raw_identifier(out: &Output) {
    let text = printed(out);
    for raw in RAW {
        assert!(!text.contains(raw), "{raw} printed: {text}");
    }
}

/// The CLI stamps rows with the real time; the hub's clock is brought up to it.
fn catch_up(hub: &TestHub) {
    let behind = Utc::now() - start_time();
    if behind > Duration::zero() {
        hub.clock.advance(behind);
    }
}

fn write(dir: &Path, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join("reports.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

fn good_rows(until: &str) -> Vec<String> {
    vec![
        format!(
            "iban,{IBAN},money_mule,5000-k123456-24,medium,,TRUE,\"case 4711, customer lost\n80 000 kr\""
        ),
        format!("phone,{PHONE},vishing,5000-K1-25,low,{until},false,"),
        format!("se_bankgiro,{BANKGIRO},invoice_fraud, 1400-K77-24 ,high,,,"),
    ]
}

async fn matched(hub: &TestHub, key: &str, kind: &str, value: &str) -> Value {
    let body = json!({"purpose": "payment", "identifiers": [{"kind": kind, "value": value}]});
    let (status, answer) = hub.post("/v1/matches", key, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["results"][0].clone()
}

async fn own_indicators(hub: &TestHub, key: &str) -> Vec<Value> {
    let (status, page) = hub.get("/v1/indicators?limit=500", key).await;
    assert_eq!(status, 200, "{page}");
    page["indicators"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_valid_file_is_imported_in_one_go_and_other_members_match_it() -> TestResult {
    let hub = TestHub::start().await;
    catch_up(&hub);
    let (a_id, a) = hub.member_with("bank-a", SCOPES, 10_000, 10_000).await;
    let (_, b) = hub.member_with("bank-b", SCOPES, 10_000, 10_000).await;
    let dir = tempfile::tempdir()?;
    let until = (Utc::now() + Duration::days(30)).to_rfc3339();
    let rows = good_rows(&until);
    // A spreadsheet's byte order mark before the header, CRLF line ends, a blank last line.
    let file = dir.path().join("reports.csv");
    std::fs::write(
        &file,
        format!("\u{feff}{HEADER}\n{}\n\n", rows.join("\r\n")),
    )?;
    let log_before = hub.audit_count().await;

    let out = import(&hub.db, dir.path(), a_id, &file).await;
    let text = ok(&out);
    assert!(
        text.contains("3 rows checked: 3 accepted, 0 refused"),
        "{text}"
    );
    assert!(text.contains("imported 3 indicators for member"), "{text}");
    assert_no_raw_identifier(&out);

    let iban = matched(&hub, &b, "iban", IBAN).await;
    assert_eq!(iban["indicators"]["reported_by_members"], 1, "{iban}");
    assert_eq!(iban["indicators"]["categories"], json!(["money_mule"]));
    assert_eq!(iban["indicators"]["disclosed_members"], json!(["bank-a"]));
    assert_eq!(iban["advice"], "hold_payment");
    assert!(
        !iban.to_string().contains("4711"),
        "the note is A's: {iban}"
    );
    let phone = matched(&hub, &b, "phone", "+46701234567").await;
    assert_eq!(phone["indicators"]["categories"], json!(["vishing"]));
    assert_eq!(phone["indicators"]["highest_confidence"], "low");
    assert_eq!(phone["indicators"]["disclosed_members"], json!([]));
    let bankgiro = matched(&hub, &b, "se_bankgiro", "50501055").await;
    assert_eq!(bankgiro["advice"], "do_not_pay", "{bankgiro}");

    // The publisher sees its reports as if it had published them, note and all.
    let own = own_indicators(&hub, &a).await;
    assert_eq!(own.len(), 3);
    let by_kind = |kind: &str| {
        own.iter()
            .find(|i| i["identifier_kind"] == kind)
            .unwrap()
            .clone()
    };
    let iban = by_kind("iban");
    assert_eq!(iban["note"], "case 4711, customer lost\n80 000 kr");
    assert_eq!(iban["police_report_reference"], "5000-K123456-24");
    assert_eq!(iban["disclose_member"], true);
    let millis = |t: &Value| {
        DateTime::parse_from_rfc3339(t.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let phone = by_kind("phone");
    assert_eq!(
        millis(&phone["valid_until"]),
        millis(&Value::from(until.as_str()))
    );
    assert_eq!(
        millis(&iban["valid_until"]) - millis(&iban["created_at"]),
        Duration::days(365).num_milliseconds(),
        "one year by default"
    );
    assert_eq!(
        by_kind("se_bankgiro")["police_report_reference"],
        "1400-K77-24"
    );

    // One indicator.publish entry per row, by the operator for the member, about the
    // member's view of the subject, sharing the import's request id.
    let entries = hub.store.audit_page(None, log_before, 100).await?;
    let published: Vec<_> = entries
        .iter()
        .map(|e| e.entry().unwrap().clone())
        .filter(|e| e.action == Action::IndicatorPublish)
        .collect();
    assert_eq!(published.len(), 3);
    for e in &published {
        assert_eq!(e.actor, Actor::Operator("olle".into()));
        assert_eq!(e.member_id, Some(a_id));
        assert_eq!(e.outcome, Outcome::Created);
        assert!(e.subject_token.is_some() && e.subject_view.is_some());
        assert_eq!(e.request_id, published[0].request_id);
    }
    let report =
        fraudhub::audit::verify::verify_log(&hub.store, &test_signer().verifier(), TEST_ORIGIN)
            .await?;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    Ok(())
}

#[tokio::test]
async fn one_refused_row_stores_nothing_and_the_report_names_row_and_column() -> TestResult {
    let hub = TestHub::start().await;
    catch_up(&hub);
    let (a_id, a) = hub.member_with("bank-a", SCOPES, 10_000, 10_000).await;
    let (_, b) = hub.member_with("bank-b", SCOPES, 10_000, 10_000).await;
    let dir = tempfile::tempdir()?;
    let until = (Utc::now() + Duration::days(30)).to_rfc3339();
    let mut rows = good_rows(&until);
    rows.insert(
        1,
        "email,mule.account@@example.se,phishing,K123456,high,,,".to_string(),
    );
    let file = write(dir.path(), &rows);
    let log_before = hub.audit_count().await;

    let out = import(&hub.db, dir.path(), a_id, &file).await;
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The iban row's note spans two lines, so the second row starts on line 4.
    assert!(
        stdout.contains("refused: row 2 (line 4): value: invalid email"),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused: row 2 (line 4): police_report_reference: expected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 rows checked: 3 accepted, 1 refused"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing imported"),
        "{}",
        printed(&out)
    );
    assert_no_raw_identifier(&out);
    assert!(!printed(&out).contains("mule.account"), "{}", printed(&out));

    // Nothing of the file is stored: neither the good rows nor any audit entry.
    assert!(own_indicators(&hub, &a).await.is_empty());
    let iban = matched(&hub, &b, "iban", IBAN).await;
    assert_eq!(iban["indicators"]["reported_by_members"], 0, "{iban}");
    assert_eq!(iban["advice"], "none");
    let before_matches = hub.audit_count().await;
    assert_eq!(
        hub.store
            .audit_page(None, log_before, 100)
            .await?
            .iter()
            .filter(|e| e.entry().unwrap().action == Action::IndicatorPublish)
            .count(),
        0
    );

    // A dry run of the corrected file checks it and still stores nothing; then it imports.
    let file = write(dir.path(), &good_rows(&until));
    let dry = fraudhub(
        &hub.db,
        dir.path(),
        &[
            "indicator",
            "import",
            "--dry-run",
            "--member",
            &a_id.to_string(),
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok(&dry).contains("dry run: nothing imported"));
    assert!(own_indicators(&hub, &a).await.is_empty());
    assert_eq!(
        hub.audit_count().await,
        before_matches + 1,
        "the listing only"
    );
    ok(&import(&hub.db, dir.path(), a_id, &file).await);
    assert_eq!(own_indicators(&hub, &a).await.len(), 3);
    Ok(())
}

#[tokio::test]
async fn only_an_existing_active_member_gets_an_import_and_only_under_the_hubs_key() -> TestResult {
    let hub = TestHub::start().await;
    catch_up(&hub);
    let (a_id, a) = hub.member_with("bank-a", SCOPES, 10_000, 10_000).await;
    let dir = tempfile::tempdir()?;
    let until = (Utc::now() + Duration::days(30)).to_rfc3339();
    let file = write(dir.path(), &good_rows(&until));

    let out = import(&hub.db, dir.path(), 999, &file).await;
    assert!(!out.status.success());
    assert!(printed(&out).contains("member 999"), "{}", printed(&out));

    // Without a configured key and without the development key it would make new tokens
    // that never match: refused rather than generated.
    let out = cli_async(
        &hub.db,
        dir.path(),
        &[
            "indicator",
            "import",
            "--member",
            &a_id.to_string(),
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(printed(&out).contains("no master key"), "{}", printed(&out));
    assert!(!dir.path().join("dev-master.key").exists());

    hub.store
        .set_member_status(a_id, MemberStatus::Suspended)
        .await?;
    let out = import(&hub.db, dir.path(), a_id, &file).await;
    assert!(!out.status.success());
    assert!(printed(&out).contains("suspended"), "{}", printed(&out));
    hub.store
        .set_member_status(a_id, MemberStatus::Active)
        .await?;
    assert!(own_indicators(&hub, &a).await.is_empty());
    Ok(())
}

#[tokio::test]
async fn files_over_the_limits_are_refused_whole() -> TestResult {
    let hub = TestHub::start().await;
    let (a_id, a) = hub.member_with("bank-a", SCOPES, 10_000, 10_000).await;
    let dir = tempfile::tempdir()?;

    let rows: Vec<String> = (0..10_001)
        .map(|_| "domain,example.com,phishing,5000-K1-25,low,,,".to_string())
        .collect();
    let file = write(dir.path(), &rows);
    let out = import(&hub.db, dir.path(), a_id, &file).await;
    assert!(!out.status.success());
    assert!(
        printed(&out).contains("more than 10000 rows"),
        "{}",
        printed(&out)
    );

    let big = dir.path().join("big.csv");
    std::fs::File::create(&big)?.set_len(16 * 1024 * 1024 + 1)?;
    let out = import(&hub.db, dir.path(), a_id, &big).await;
    assert!(!out.status.success());
    assert!(
        printed(&out).contains("larger than 16 MiB"),
        "{}",
        printed(&out)
    );

    let unknown = dir.path().join("unknown.csv");
    std::fs::write(&unknown, format!("{HEADER},reported_by\n"))?;
    let out = import(&hub.db, dir.path(), a_id, &unknown).await;
    assert!(!out.status.success());
    assert!(
        printed(&out).contains("header column 9"),
        "{}",
        printed(&out)
    );
    assert!(own_indicators(&hub, &a).await.is_empty());
    Ok(())
}
