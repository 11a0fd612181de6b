//! Raw identifiers never reach the database or the logs.
//!
//! A test binary of its own, outside `tests/suite`: it installs the process-wide log
//! subscriber at TRACE (so that it also sees what the SQLite worker threads log); in the
//! shared process every other test would log into its buffer too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "suite/common/mod.rs"]
mod common;
#[path = "suite/web_support/mod.rs"]
mod web_support;

use common::*;
use fraudhub::store::Backend;
use serde_json::json;
use sqlx::Row;

/// Every spelling of the raw values used below; none may appear anywhere at rest.
const FORBIDDEN: &[&str] = &[
    "199001010017",
    "19900101-0017",
    "9001010017",
    "900101-0017",
    "+46701234567",
    "701234567",
    "fraud.victim@example.se",
    "SE4550000000058398257466",
    "46812345678",
    "812345678",
    "mule.account@example.se",
    "50501055",
    "5050-1055",
    // Anna, who logs in with BankID and flags herself on the consumer pages.
    "199001012385",
    "19900101-2385",
    "9001012385",
    "900101-2385",
];

#[tokio::test]
async fn raw_identifiers_never_reach_the_database_or_the_logs() -> TestResult {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    // A person logs in with BankID (the personal number arrives in completionData),
    // flags herself with a signature, is looked up, and reads every page about her.
    // A member watches a personal number and a phone (stored as tokens with its reference).
    let (_, watcher) = hub
        .member_with("bank-w", "watchlist:write,events:read", 1000, 1000)
        .await;
    for (kind, value) in [("se_personal_number", PN), ("phone", "+46701234567")] {
        let watch = json!({"identifier": {"kind": kind, "value": value}, "reference": "cust-1"});
        assert_eq!(hub.post("/v1/watchlist", &watcher, &watch).await.0, 201);
    }
    let mut web = web_support::WebClient::new(&hub);
    let mut pages = vec![web.login(&hub, web_support::ANNA).await.body];
    let signed = web
        .sign(
            &hub,
            "/my/flags",
            &[("duration_days", "365")],
            web_support::ANNA,
        )
        .await;
    assert_eq!(signed["next"], "/my/done");
    assert_eq!(hub.match_one(&key, "19900101-2385").await.0, 200);
    for path in ["/my/done", "/my", "/my/lookups", "/my/export"] {
        let page = web.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        pages.push(page.body);
    }
    assert_eq!(hub.place_flag(&key, PN).await.0, 201);
    // Indicators on several kinds, a dispute and a match on them.
    let (_, reporter) = hub
        .member_with("bank-b", "indicators:write,matches:read", 1000, 1000)
        .await;
    for (kind, value) in [
        ("phone", "08-123 456 78"),
        ("email", "Mule.Account@example.se"),
        ("se_bankgiro", "5050-1055"),
        ("se_personal_number", PN),
    ] {
        let report = json!({"identifier": {"kind": kind, "value": value},
            "category": "money_mule", "police_report_reference": "5000-K1-24",
            "confidence": "high"});
        assert_eq!(hub.post("/v1/indicators", &reporter, &report).await.0, 201);
    }
    let dispute = json!({"personal_number": PN_10, "case_reference": "c-1"});
    assert_eq!(
        hub.post("/v1/indicators/disputes", &reporter, &dispute)
            .await
            .0,
        200
    );
    let reported = json!({"purpose": "payment", "identifiers": [
        {"kind": "phone", "value": "+46812345678"},
        {"kind": "se_bankgiro", "value": "50501055"}]});
    assert_eq!(hub.post("/v1/matches", &reporter, &reported).await.0, 200);
    let body = json!({"purpose": "payment", "identifiers": [
        {"kind": "se_personal_number", "value": PN_10},
        {"kind": "phone", "value": "+46701234567"},
        {"kind": "email", "value": "fraud.victim@example.se"},
        {"kind": "iban", "value": "SE4550000000058398257466"}]});
    assert_eq!(hub.post("/v1/matches", &key, &body).await.0, 200);
    // A client that puts a personal number in its request id: not logged, not stored.
    let resp = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .bearer_auth(&key)
        .header("x-request-id", PN)
        .json(&match_body(&[PN]))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    // Rejected input must not be logged either.
    let mut bad = body.clone();
    bad["identifiers"][1]["value"] = json!(199001010017u64);
    assert_eq!(hub.post("/v1/matches", &key, &bad).await.0, 422);
    assert!(hub.audit_count().await >= 5, "the requests really ran");

    let at_rest = match hub.backend() {
        Backend::Sqlite => sqlite_bytes(&hub),
        Backend::Postgres => postgres_text(&hub).await,
    };
    hub.stop().await;
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(logs.contains("/v1/matches"), "logs were captured");
    let pages = pages.join("\n");
    assert!(pages.contains("Anna Andersson"), "pages were captured");
    for raw in FORBIDDEN {
        assert!(!pages.contains(raw), "{raw} found in a page");
        assert!(!at_rest.contains(raw), "{raw} found in the database");
        assert!(!logs.contains(raw), "{raw} found in the logs");
    }
    Ok(())
}

/// The SQLite database file plus its WAL, read as raw bytes.
fn sqlite_bytes(hub: &TestHub) -> String {
    let path = hub.db.sqlite_path.clone().unwrap();
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
            all.extend(bytes);
        }
    }
    assert!(all.len() > 4096, "database file read");
    String::from_utf8_lossy(&all).to_string()
}

/// Every row of every table in the public schema, rendered as text.
async fn postgres_text(hub: &TestHub) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&hub.db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("t"))
    .collect();
    assert!(tables.iter().any(|t| t == "flags"));
    assert!(tables.iter().any(|t| t == "indicators"));
    assert!(tables.iter().any(|t| t == "web_sessions"));
    assert!(tables.iter().any(|t| t == "watchlist"));
    let mut out = String::new();
    for t in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT x::text AS row FROM {t} x"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for r in rows {
            out.push_str(&r.get::<String, _>("row"));
            out.push('\n');
        }
    }
    out
}
