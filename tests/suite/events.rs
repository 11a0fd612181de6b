//! Watchlists, the event feed and signed webhooks, on both database engines. Webhook
//! signatures are checked with the Standard Webhooks reference library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestDb, TestHub};
use crate::web_support::{ANNA, WebClient};

const SCOPES: &str =
    "watchlist:write,events:read,webhooks:manage,flags:write,matches:read,indicators:write";
const ANNA_DASHED: &str = "19900101-2385";

fn tune(c: &mut fraudhub::config::Config) {
    c.webhooks.allowed_hosts = vec!["127.0.0.1".into()];
    c.webhooks.retry_base_ms = 1000;
    c.checkpoint_interval_secs = 1;
}

async fn hub() -> TestHub {
    TestHub::start_web(tune).await
}

/// One request a receiver got: its headers and body.
type Received = (HeaderMap, Vec<u8>);

/// A webhook receiver: records every request, answers 500 to the first `fail_first`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
    url: String,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!(
                "http://127.0.0.1:{}/hook",
                listener.local_addr().unwrap().port()
            ),
            ..Receiver::default()
        };
        r.fail_first.store(fail_first, Ordering::SeqCst);
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let failing = state
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    state.got.lock().unwrap().push((headers, body.to_vec()));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// Waits (advancing the hub's clock past any backoff) until `n` deliveries arrived.
    async fn wait_for(&self, hub: &TestHub, n: usize) -> Vec<Value> {
        for _ in 0..120 {
            if self.got.lock().unwrap().len() >= n {
                return self.bodies();
            }
            hub.clock.advance(chrono::Duration::seconds(5));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "only {} of {n} deliveries arrived",
            self.got.lock().unwrap().len()
        );
    }
}

async fn register(hub: &TestHub, key: &str, url: &str) -> Value {
    let (code, hook) = hub.post("/v1/webhooks", key, &json!({"url": url})).await;
    assert_eq!(code, 201, "{hook}");
    hook
}

async fn watch(hub: &TestHub, key: &str, kind: &str, value: &str, reference: &str) {
    let body = json!({"identifier": {"kind": kind, "value": value}, "reference": reference});
    let (code, w) = hub.post("/v1/watchlist", key, &body).await;
    assert_eq!(code, 201, "{w}");
}

async fn feed(hub: &TestHub, key: &str, after: &str) -> Value {
    let (code, page) = hub.get(&format!("/v1/events?after={after}"), key).await;
    assert_eq!(code, 200, "{page}");
    page
}

fn types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_flag_a_person_places_reaches_a_watching_members_feed_and_webhook() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let receiver = Receiver::start(0).await;
    let hook = register(&hub, &key, &receiver.url).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    watch(&hub, &key, "se_personal_number", ANNA_DASHED, "customer-17").await;
    let mut web = WebClient::new(&hub);
    web.login(&hub, ANNA).await;
    web.sign(&hub, "/my/flags", &[("duration_days", "365")], ANNA)
        .await;

    let page = feed(&hub, &key, "0").await;
    assert_eq!(types(&page), ["flag.placed"]);
    let event = &page["events"][0];
    assert_eq!(event["reference"], "customer-17");
    assert_eq!(event["summary"]["flag"]["placed_by"], "person");
    assert_eq!(event["summary"]["flag"]["kind"], "consumer");
    assert!(!page.to_string().contains("2385"), "no raw identifier");

    let got = receiver.wait_for(&hub, 1).await;
    assert_eq!(got[0]["id"], event["id"]);
    let (headers, body) = receiver.got.lock().unwrap()[0].clone();
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&body, &headers)
        .unwrap();
    assert_eq!(headers["webhook-id"], event["id"].as_str().unwrap());
    // A wrong secret does not verify.
    let other = fraudhub::events::webhooks::new_secret();
    assert!(
        standardwebhooks::Webhook::new(&other)
            .unwrap()
            .verify(&body, &headers)
            .is_err()
    );
    // The secret is shown once.
    let (_, list) = hub.get("/v1/webhooks", &key).await;
    assert!(list["webhooks"][0].get("secret").is_none());
}

#[tokio::test]
async fn every_change_on_a_watched_identifier_is_an_event_in_order_for_every_watcher() {
    let hub = hub().await;
    let (_, a) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (_, b) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    let (_, c) = hub.member_with("bank-c", SCOPES, 1000, 1000).await;
    watch(&hub, &a, "se_personal_number", ANNA_DASHED, "a-1").await;
    watch(&hub, &a, "phone", "+46701234567", "a-phone").await;
    watch(&hub, &b, "se_personal_number", "199001012385", "b-9").await;
    // Placed by another member, lifted by it; a report on the phone, revoked; a report
    // on the number, disputed by the person; a flag that expires.
    let (_, flag) = hub.place_flag(&c, ANNA_DASHED).await;
    hub.post(
        &format!("/v1/flags/{}/lift", flag["id"].as_str().unwrap()),
        &c,
        &json!({}),
    )
    .await;
    let report = |kind: &str, value: &str| {
        json!({"identifier": {"kind": kind, "value": value},
        "category": "vishing", "police_report_reference": "5000-K1-24", "confidence": "high"})
    };
    let (_, phone_report) = hub
        .post("/v1/indicators", &c, &report("phone", "070-123 45 67"))
        .await;
    hub.post(
        &format!(
            "/v1/indicators/{}/revoke",
            phone_report["id"].as_str().unwrap()
        ),
        &c,
        &json!({}),
    )
    .await;
    hub.post(
        "/v1/indicators",
        &c,
        &report("se_personal_number", ANNA_DASHED),
    )
    .await;
    let (code, _) = hub
        .post(
            "/v1/indicators/disputes",
            &c,
            &json!({"personal_number": ANNA_DASHED, "case_reference": "c-1"}),
        )
        .await;
    assert_eq!(code, 200);
    let mut thirty = crate::common::flag_body(ANNA_DASHED);
    thirty["duration_days"] = json!(30);
    assert_eq!(hub.post("/v1/flags", &c, &thirty).await.0, 201);
    hub.clock.advance(chrono::Duration::days(31));
    let mut page = feed(&hub, &a, "0").await;
    for _ in 0..50 {
        if types(&page).last().map(String::as_str) == Some("flag.expired") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = feed(&hub, &a, "0").await;
    }
    assert_eq!(
        types(&page),
        [
            "flag.placed",
            "flag.lifted",
            "indicator.published",
            "indicator.revoked",
            "indicator.published",
            "indicator.disputed",
            "flag.placed",
            "flag.expired"
        ]
    );
    let cursors: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        cursors,
        (1..=8).collect::<Vec<_>>(),
        "dense and ordered per member"
    );
    assert_eq!(page["events"][2]["reference"], "a-phone");
    assert!(
        !page.to_string().contains("bank-c"),
        "the flagging or reporting member is not named"
    );
    // The other watcher has the number's events only, numbered in its own feed.
    let b_page = feed(&hub, &b, "0").await;
    assert_eq!(types(&b_page).len(), 6);
    assert_eq!(b_page["events"][0]["cursor"], "1");
    assert_eq!(b_page["events"][0]["reference"], "b-9");
    // Paging from a cursor; nothing for a member that watches nothing.
    assert_eq!(
        types(&feed(&hub, &a, "6").await),
        ["flag.placed", "flag.expired"]
    );
    assert_eq!(feed(&hub, &c, "0").await["events"], json!([]));
}

#[tokio::test]
async fn a_long_poll_on_the_feed_returns_when_an_event_arrives() {
    let hub = hub().await;
    let (_, a) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    watch(&hub, &a, "se_personal_number", ANNA_DASHED, "a-1").await;
    let (base, key) = (hub.base.clone(), a.clone());
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let page: Value = reqwest::Client::new()
            .get(format!("{base}/v1/events?after=0&wait=20"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (page, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    hub.place_flag(&a, ANNA_DASHED).await;
    let (page, took) = waiting.await.unwrap();
    assert_eq!(types(&page), ["flag.placed"]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (code, p) = hub.get("/v1/events?after=x", &a).await;
    assert_eq!(code, 422, "{p}");
}

#[tokio::test]
async fn a_receiver_down_for_several_attempts_loses_nothing_and_order_holds() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let receiver = Receiver::start(4).await;
    let hook = register(&hub, &key, &receiver.url).await;
    watch(&hub, &key, "se_personal_number", ANNA_DASHED, "a-1").await;
    for _ in 0..3 {
        let (_, flag) = hub.place_flag(&key, ANNA_DASHED).await;
        hub.post(
            &format!("/v1/flags/{}/lift", flag["id"].as_str().unwrap()),
            &key,
            &json!({}),
        )
        .await;
    }
    let got = receiver.wait_for(&hub, 6).await;
    let cursors: Vec<&str> = got.iter().map(|e| e["cursor"].as_str().unwrap()).collect();
    assert_eq!(
        cursors,
        ["1", "2", "3", "4", "5", "6"],
        "every event, in order"
    );
    let (_, log) = hub
        .get(
            &format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap()),
            &key,
        )
        .await;
    let failed = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["ok"] == false)
        .count();
    assert_eq!(failed, 4, "{log}");
    assert!(
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status_code"] == 500)
    );
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_the_member_told_and_replay_resumes() {
    let hub = TestHub::start_web(|c| {
        tune(c);
        c.webhooks.disable_after_secs = 60;
    })
    .await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let receiver = Receiver::start(usize::MAX).await;
    let hook = register(&hub, &key, &receiver.url).await;
    let id = hook["id"].as_str().unwrap().to_string();
    watch(&hub, &key, "se_personal_number", ANNA_DASHED, "a-1").await;
    hub.place_flag(&key, ANNA_DASHED).await;
    let mut disabled = false;
    for _ in 0..100 {
        hub.clock.advance(chrono::Duration::seconds(10));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = hub.get("/v1/webhooks", &key).await;
        if list["webhooks"][0]["active"] == false {
            disabled = true;
            break;
        }
    }
    assert!(disabled, "disabled after failing for the configured time");
    let page = feed(&hub, &key, "0").await;
    assert_eq!(types(&page), ["flag.placed", "webhook.disabled"]);
    assert_eq!(page["events"][1]["summary"]["webhook"]["id"], id);
    // The receiver recovers; replay from the start delivers everything again.
    receiver.fail_first.store(0, Ordering::SeqCst);
    let (code, replayed) = hub
        .post(
            &format!("/v1/webhooks/{id}/replay"),
            &key,
            &json!({"after": "0"}),
        )
        .await;
    assert_eq!(code, 200, "{replayed}");
    assert_eq!(replayed["active"], true);
    let got = receiver.wait_for(&hub, 2).await;
    assert_eq!(got[0]["type"], "flag.placed");
    assert_eq!(got[1]["type"], "webhook.disabled");
}

#[tokio::test]
async fn a_hub_restart_during_delivery_loses_nothing() {
    let first = hub().await;
    let (_, key) = first.member_with("bank-a", SCOPES, 1000, 1000).await;
    let receiver = Receiver::start(2).await;
    register(&first, &key, &receiver.url).await;
    watch(&first, &key, "se_personal_number", ANNA_DASHED, "a-1").await;
    for _ in 0..5 {
        let (_, flag) = first.place_flag(&key, ANNA_DASHED).await;
        first
            .post(
                &format!("/v1/flags/{}/lift", flag["id"].as_str().unwrap()),
                &key,
                &json!({}),
            )
            .await;
    }
    // Stop while the receiver is still refusing: nothing or part of it is delivered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let db: TestDb = first.stop().await;
    let second = TestHub::start_on(db, tune).await;
    let got = receiver.wait_for(&second, 10).await;
    let mut cursors: Vec<i64> = got
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    let in_order = cursors.windows(2).all(|w| w[0] <= w[1]);
    assert!(in_order, "{cursors:?}");
    cursors.dedup();
    assert_eq!(
        cursors,
        (1..=10).collect::<Vec<_>>(),
        "every event at least once"
    );
}

#[tokio::test]
async fn webhook_urls_that_reach_internal_addresses_are_refused() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://localhost:9/hook",
        "http://user:pw@93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "not a url",
    ] {
        let (code, p) = hub.post("/v1/webhooks", &key, &json!({"url": url})).await;
        assert_eq!(code, 422, "{url}: {p}");
        assert!(p.to_string().contains("url"), "{p}");
    }
    let prod = TestHub::start_web(|c| c.production = true).await;
    let (_, key) = prod.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (code, p) = prod
        .post(
            "/v1/webhooks",
            &key,
            &json!({"url": "http://93.184.216.34/hook"}),
        )
        .await;
    assert_eq!(code, 422);
    assert!(p.to_string().contains("https"), "{p}");
}

#[tokio::test]
async fn watchlists_webhooks_and_feeds_are_each_members_own() {
    let hub = hub().await;
    let (_, a) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let (_, b) = hub.member_with("bank-b", SCOPES, 1000, 1000).await;
    let (_, reader) = hub.member_with("bank-r", "matches:read", 1000, 1000).await;
    let receiver = Receiver::start(0).await;
    let hook = register(&hub, &a, &receiver.url).await;
    let id = hook["id"].as_str().unwrap();
    watch(&hub, &a, "se_personal_number", ANNA_DASHED, "shared-ref").await;
    assert_eq!(
        hub.get(&format!("/v1/webhooks/{id}/deliveries"), &b)
            .await
            .0,
        404
    );
    assert_eq!(
        hub.post(&format!("/v1/webhooks/{id}/rotate-secret"), &b, &json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        hub.post(
            &format!("/v1/webhooks/{id}/replay"),
            &b,
            &json!({"after": "0"})
        )
        .await
        .0,
        404
    );
    assert_eq!(hub.get("/v1/webhooks", &b).await.1["webhooks"], json!([]));
    assert_eq!(
        hub.get("/v1/watchlist?reference=shared-ref", &b).await.1["watched"],
        json!([])
    );
    assert_eq!(
        hub.get("/v1/watchlist?reference=shared-ref", &a).await.1["watched"][0]["kind"],
        "se_personal_number"
    );
    hub.place_flag(&a, ANNA_DASHED).await;
    assert_eq!(feed(&hub, &b, "0").await["events"], json!([]));
    for (path, body) in [
        (
            "/v1/watchlist",
            json!({"identifier": {"kind": "phone", "value": "0701234567"}, "reference": "x"}),
        ),
        ("/v1/webhooks", json!({"url": receiver.url})),
    ] {
        assert_eq!(hub.post(path, &reader, &body).await.0, 403, "{path}");
    }
    assert_eq!(hub.get("/v1/events", &reader).await.0, 403);
    // Removing stops the events.
    let (_, removed) = hub
        .post(
            "/v1/watchlist/remove",
            &a,
            &json!({"identifier": {"kind": "se_personal_number", "value": ANNA_DASHED}}),
        )
        .await;
    assert_eq!(removed["removed"], true);
    hub.place_flag(&a, ANNA_DASHED).await;
    assert_eq!(types(&feed(&hub, &a, "0").await), ["flag.placed"]);
}

#[tokio::test]
async fn a_rotated_secret_and_the_old_one_both_sign_during_the_overlap() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let receiver = Receiver::start(0).await;
    let hook = register(&hub, &key, &receiver.url).await;
    let old = hook["secret"].as_str().unwrap().to_string();
    let (code, rotated) = hub
        .post(
            &format!(
                "/v1/webhooks/{}/rotate-secret",
                hook["id"].as_str().unwrap()
            ),
            &key,
            &json!({}),
        )
        .await;
    assert_eq!(code, 200);
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    watch(&hub, &key, "se_personal_number", ANNA_DASHED, "a-1").await;
    hub.place_flag(&key, ANNA_DASHED).await;
    receiver.wait_for(&hub, 1).await;
    let (headers, body) = receiver.got.lock().unwrap()[0].clone();
    for secret in [&old, &new] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&body, &headers)
            .unwrap();
    }
}

#[tokio::test]
async fn a_bulk_watchlist_change_answers_every_line_and_names_bad_ones() {
    let hub = hub().await;
    let (_, key) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let mut body = String::new();
    for i in 0..3000u32 {
        let pn = crate::common::pn(&format!("198001{:02}", 1 + i / 100), 2 + (i % 100) * 2);
        body.push_str(&json!({"identifier": {"kind": "se_personal_number", "value": pn}, "reference": format!("c-{i}")}).to_string());
        body.push('\n');
    }
    body.push_str("{not json\n");
    body.push_str(
        &json!({"identifier": {"kind": "se_personal_number", "value": "1"}, "reference": "x"})
            .to_string(),
    );
    body.push('\n');
    body.push_str(&json!({"identifier": {"kind": "phone", "value": "0701234567"}}).to_string());
    body.push('\n');
    body.push_str(&format!("{}\n", "x".repeat(5000)));
    body.push_str(&json!({"identifier": {"kind": "se_personal_number", "value": crate::common::pn("19800101", 2)}, "remove": true}).to_string());
    let resp = hub
        .http
        .post(format!("{}/v1/watchlist/bulk", hub.base))
        .bearer_auth(&key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3006);
    assert_eq!(lines[3000]["error"]["field"], "line");
    assert_eq!(lines[3001]["error"]["field"], "identifier.value");
    assert_eq!(lines[3002]["error"]["field"], "reference");
    assert_eq!(lines[3003]["error"]["detail"], "longer than 4096 bytes");
    assert_eq!(lines[3004]["status"], "removed");
    assert_eq!(lines[3005]["summary"]["failed"], 4);
    assert!(!text.contains("19800101"), "no identifier echoed");
    let (_, listed) = hub.get("/v1/watchlist?reference=c-1", &key).await;
    assert_eq!(listed["watched"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_long_poll_longer_than_the_request_deadline_answers_an_empty_page_in_time() {
    let hub = TestHub::start_web(|c| {
        tune(c);
        c.request_timeout_ms = 1500;
    })
    .await;
    let (_, a) = hub.member_with("bank-a", SCOPES, 1000, 1000).await;
    let started = std::time::Instant::now();
    let (code, page) = hub.get("/v1/events?after=0&wait=30", &a).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["next"], "0");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}
