//! The OWASP API Security Top 10 (2023), one item at a time: each test performs the
//! attack against a real hub over HTTP (or the CLI, where that is the interface) and
//! shows that it fails with the exact status and problem type, and that nothing leaked
//! or changed. Where a neighbouring test already proves a part in depth, it is named.
//! docs/security.md maps each item to its test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::web_support::{ANNA, ERIK, WebClient, approve_pending, device, pending_orders};

/// Every scope a member key can hold.
const ALL_SCOPES: [&str; 11] = [
    "flags:write",
    "flags:read",
    "matches:read",
    "indicators:write",
    "indicators:read",
    "audit:read",
    "callers:verify",
    "agents:manage",
    "watchlist:write",
    "events:read",
    "webhooks:manage",
];

const ANNA_DASHED: &str = "19900101-2385";
const NOTE: &str = "case 4711: customer lost 80 000 kr";

fn all_scopes() -> String {
    ALL_SCOPES.join(",")
}

/// Asserts a problem+json answer of `status` and problem type `slug` (the content type
/// itself is checked by `split`).
fn assert_problem(got: (u16, &Value), status: u16, slug: &str, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert_eq!(
        got.1["type"],
        format!("https://fraudhub.se/problems/{slug}"),
        "{what}: {}",
        got.1
    );
    assert_eq!(got.1["status"], status, "{what}: {}", got.1);
}

/// A hub with BankID (callers, agents, consumer pages) whose webhooks may call the
/// test's own loopback receivers.
async fn web_hub(tune: impl FnOnce(&mut fraudhub::config::Config)) -> TestHub {
    TestHub::start_web(|c| {
        c.webhooks.allowed_hosts = vec!["127.0.0.1".into()];
        c.bankid.poll_interval_ms = 20;
        c.auth_failure_burst = 10_000;
        c.auth_failures_per_minute = 10_000;
        tune(c);
    })
    .await
}

fn indicator(value: &str) -> Value {
    json!({
        "identifier": {"kind": "phone", "value": value},
        "category": "money_mule",
        "police_report_reference": "5000-k123456-24",
        "confidence": "medium",
        "note": NOTE,
    })
}

async fn created(hub: &TestHub, key: &str, path: &str, body: Value) -> Value {
    let (status, made) = hub.post(path, key, &body).await;
    assert_eq!(status, 201, "{path}: {made}");
    made
}

/// `method path` with an optional JSON body, bearer `key`.
async fn call(hub: &TestHub, method: &str, path: &str, key: &str) -> (u16, Value) {
    match method {
        "GET" => hub.get(path, key).await,
        _ => hub.post(path, key, &json!({})).await,
    }
}

/// A loopback HTTP receiver that counts requests and answers with `answer`.
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(answer: axum::routing::MethodRouter) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let hits = Arc::new(Mutex::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route("/hook", answer)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    *counted.lock().unwrap() += 1;
                    next.run(req)
                },
            ));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, hits }
    }

    fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

/// Waits (advancing the hub's clock past any backoff) until `hook` of `key` has a
/// recorded delivery attempt; returns the first.
async fn first_delivery(hub: &TestHub, key: &str, hook: &str) -> Value {
    for _ in 0..150 {
        let (status, log) = hub
            .get(&format!("/v1/webhooks/{hook}/deliveries"), key)
            .await;
        assert_eq!(status, 200, "{log}");
        if let Some(first) = log["deliveries"].as_array().and_then(|d| d.first()) {
            return first.clone();
        }
        hub.clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no delivery attempt recorded for {hook}");
}

// ---------------------------------------------------------------------------------------
// API1:2023 Broken Object Level Authorization
// ---------------------------------------------------------------------------------------

/// Member B holds every scope and knows the ids of member A's objects; each one is
/// "not found" for B (not 403: B does not even learn that it exists), stays as it was
/// for A, and none of A's objects shows up in B's lists. Deeper per-object tests:
/// `flags_and_matching::another_members_flag_does_not_exist_for_you`,
/// `callers::a_verification_exists_only_for_the_member_that_started_it`,
/// `events::watchlists_webhooks_and_feeds_are_each_members_own`,
/// `indicators::only_the_publisher_reads_revokes_or_sees_the_note_and_it_cannot_vouch_for_itself`,
/// `audit_log::a_member_never_sees_another_members_entries_or_proofs`.
#[tokio::test]
async fn api1_broken_object_level_authorization_another_members_objects_are_404_and_untouched() {
    let hub = web_hub(|_| {}).await;
    let (a_id, a) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    let (_, b) = hub
        .member_with("bank-b", &all_scopes(), 10_000, 10_000)
        .await;
    let flag = created(&hub, &a, "/v1/flags", flag_body(ANNA_DASHED)).await;
    let ind = created(&hub, &a, "/v1/indicators", indicator("070-123 45 67")).await;
    let cv = created(
        &hub,
        &a,
        "/v1/caller-verifications",
        json!({"personal_number": ANNA_DASHED, "call_initiator": "user"}),
    )
    .await;
    let hook = created(
        &hub,
        &a,
        "/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let agent = created(
        &hub,
        &a,
        "/v1/agents",
        json!({"personal_number": ERIK, "display_name": "Erik Agent"}),
    )
    .await;
    created(
        &hub,
        &a,
        "/v1/watchlist",
        json!({"identifier": {"kind": "se_personal_number", "value": ANNA_DASHED}, "reference": "a-ref"}),
    )
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let (flag, ind, cv, hook, agent) = (id(&flag), id(&ind), id(&cv), id(&hook), id(&agent));

    let attacks = [
        ("GET", format!("/v1/flags/{flag}"), json!({})),
        ("POST", format!("/v1/flags/{flag}/lift"), json!({})),
        ("GET", format!("/v1/indicators/{ind}"), json!({})),
        ("POST", format!("/v1/indicators/{ind}/revoke"), json!({})),
        ("POST", format!("/v1/indicators/{ind}/uphold"), json!({})),
        ("GET", format!("/v1/caller-verifications/{cv}"), json!({})),
        (
            "POST",
            format!("/v1/caller-verifications/{cv}/cancel"),
            json!({}),
        ),
        ("GET", format!("/v1/webhooks/{hook}/deliveries"), json!({})),
        (
            "POST",
            format!("/v1/webhooks/{hook}/rotate-secret"),
            json!({}),
        ),
        (
            "POST",
            format!("/v1/webhooks/{hook}/replay"),
            json!({"after": "0"}),
        ),
        ("POST", format!("/v1/agents/{agent}/disable"), json!({})),
    ];
    for (method, path, body) in &attacks {
        let answer = match *method {
            "GET" => hub.get(path, &b).await,
            _ => hub.post(path, &b, body).await,
        };
        assert_problem((answer.0, &answer.1), 404, "not-found", path);
    }

    // Nothing changed for A.
    assert_eq!(
        hub.get(&format!("/v1/flags/{flag}"), &a).await.1["status"],
        "active"
    );
    let (_, own_ind) = hub.get(&format!("/v1/indicators/{ind}"), &a).await;
    assert_eq!(own_ind["status"], "active", "{own_ind}");
    assert_eq!(
        hub.get(&format!("/v1/caller-verifications/{cv}"), &a)
            .await
            .1["status"],
        "pending"
    );
    let hooks = hub.store.member_webhooks(a_id).await.unwrap();
    assert!(hooks[0].previous_secret.is_none(), "secret not rotated");
    let (_, agents) = hub.get("/v1/agents", &a).await;
    assert_eq!(agents["agents"][0]["active"], true, "{agents}");

    // A's objects are in none of B's lists, and B cannot prove A's audit entries.
    assert_eq!(hub.get("/v1/webhooks", &b).await.1["webhooks"], json!([]));
    assert_eq!(hub.get("/v1/agents", &b).await.1["agents"], json!([]));
    assert_eq!(
        hub.get("/v1/indicators", &b).await.1["indicators"],
        json!([])
    );
    assert_eq!(
        hub.get("/v1/watchlist?reference=a-ref", &b).await.1["watched"],
        json!([])
    );
    assert_eq!(
        hub.get("/v1/events?after=0", &b).await.1["events"],
        json!([])
    );
    let (_, a_entries) = hub.get("/v1/audit/entries", &a).await;
    let a_leaf = a_entries[0]["leaf_index"].as_i64().unwrap();
    let (_, b_entries) = hub.get("/v1/audit/entries", &b).await;
    let b_leaves: Vec<i64> = b_entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["leaf_index"].as_i64().unwrap())
        .collect();
    assert!(!b_leaves.contains(&a_leaf), "{b_entries}");
    let path = format!("/v1/audit/entries/{a_leaf}/inclusion");
    let answer = hub.get(&path, &b).await;
    assert_problem((answer.0, &answer.1), 404, "not-found", &path);
}

// ---------------------------------------------------------------------------------------
// API2:2023 Broken Authentication
// ---------------------------------------------------------------------------------------

/// Missing, malformed, unknown, forged (right key id, wrong secret), revoked and
/// misplaced keys are all 401 `unauthorized`; the three that name a real key id get the
/// same answer, so a guesser learns nothing from it. A suspended member's good key is
/// 403. Nothing is looked up or audited for any of them. See also `auth_and_limits` and
/// `client_limits::guessing_keys_blocks_the_client_from_authenticating_even_with_a_good_key`.
#[tokio::test]
async fn api2_broken_authentication_bad_missing_revoked_and_forged_keys_are_401_alike() {
    let hub = web_hub(|_| {}).await;
    let (a_id, key) = hub.member("bank-a").await;
    let (suspended_id, suspended) = hub.member("bank-s").await;
    hub.store
        .set_member_status(suspended_id, fraudhub::members::MemberStatus::Suspended)
        .await
        .unwrap();
    let scopes = fraudhub::members::parse_scopes("matches:read").unwrap();
    let revoked = fraudhub::members::issue_key(&hub.store, a_id, &scopes, start_time())
        .await
        .unwrap()
        .token;
    let revoked_id = revoked.split('_').nth(1).unwrap();
    hub.store
        .revoke_api_key(revoked_id, start_time())
        .await
        .unwrap();
    let key_id = key.split('_').nth(1).unwrap();
    let forged = format!("fh_{key_id}_{}", "0".repeat(64));
    let unknown = format!("fh_{}_{}", "f".repeat(key_id.len()), "0".repeat(64));
    let before = hub.audit_count().await;

    let url = format!("{}/v1/matches", hub.base);
    let attempts = [
        ("no header", hub.http.post(&url)),
        (
            "empty bearer",
            hub.http.post(&url).header("authorization", "Bearer "),
        ),
        ("garbage", hub.http.post(&url).bearer_auth("garbage")),
        (
            "basic scheme",
            hub.http.post(&url).basic_auth(&key, None::<&str>),
        ),
        (
            "key in the query",
            hub.http.post(format!("{url}?access_token={key}")),
        ),
        (
            "key in a cookie",
            hub.http.post(&url).header("cookie", format!("token={key}")),
        ),
        ("unknown key", hub.http.post(&url).bearer_auth(&unknown)),
        ("forged secret", hub.http.post(&url).bearer_auth(&forged)),
        ("revoked key", hub.http.post(&url).bearer_auth(&revoked)),
    ];
    let mut details = BTreeSet::new();
    for (what, req) in attempts {
        let resp = req.json(&match_body(&[PN])).send().await.unwrap();
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{what}"
        );
        let (status, problem) = split(resp).await;
        assert_problem((status, &problem), 401, "unauthorized", what);
        if ["unknown key", "forged secret", "revoked key"].contains(&what) {
            details.insert(problem["detail"].to_string());
        }
        assert!(!problem.to_string().contains(key_id), "{what}: {problem}");
    }
    assert_eq!(details.len(), 1, "distinguishable refusals: {details:?}");

    let answer = hub.match_one(&suspended, PN).await;
    assert_problem((answer.0, &answer.1), 403, "forbidden", "suspended member");
    assert_eq!(hub.audit_count().await, before, "nothing looked up");
    // The good key still works: the refusals above were about the keys, not the client.
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
}

/// The consumer pages authenticate with BankID only: without a completed order there is
/// no session to act with, a forged cookie is no session, and a started but unanswered
/// login does not open "my page" or let a flag be placed. Deeper:
/// `consumer_web::a_forged_session_cookie_is_treated_as_no_session`,
/// `consumer_web::logging_in_issues_a_new_session_id_and_shows_the_name_bankid_returned`.
#[tokio::test]
async fn api2_broken_authentication_the_bankid_login_cannot_be_skipped_or_forged() {
    let hub = web_hub(|_| {}).await;
    let (_, member) = hub.member("bank-a").await;
    let mut web = WebClient::new(&hub);
    web.start_login().await;
    assert_eq!(pending_orders(&hub).await.len(), 1);
    // The order is started but nobody approved it in the app.
    let status = web.status().await;
    assert_ne!(status["next"], "/my", "{status}");
    assert_eq!(web.get("/my").await.location(), Some("/login"));
    let csrf = web.get("/login").await.csrf();
    let skipped = web
        .post("/my/flags", &[("csrf", &csrf), ("duration_days", "365")])
        .await;
    assert_eq!(skipped.status, 303, "{}", skipped.body);
    assert_eq!(skipped.location(), Some("/login"), "not to a signature");
    for forged in ["0".repeat(64), "a".repeat(64), "%00".to_string()] {
        web.cookies
            .insert("__Host-fh_session".into(), forged.clone());
        assert_eq!(web.get("/my").await.location(), Some("/login"), "{forged}");
    }
    // Only the first order ever existed: nothing was signed, no flag was placed.
    assert_eq!(pending_orders(&hub).await.len(), 1);
    assert_eq!(
        hub.match_one(&member, ANNA).await.1["results"][0]["flagged"],
        false
    );
}

// ---------------------------------------------------------------------------------------
// API3:2023 Broken Object Property Level Authorization
// ---------------------------------------------------------------------------------------

/// Mass assignment: a body that tries to set the owner, the id or the status of what it
/// creates is refused as a whole (unknown fields are 422 naming the object, never
/// echoing the key) and creates nothing.
#[tokio::test]
async fn api3_broken_object_property_level_authorization_extra_properties_cannot_be_assigned() {
    let hub = web_hub(|_| {}).await;
    let (_, a) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    let (b_id, b) = hub
        .member_with("bank-b", &all_scopes(), 10_000, 10_000)
        .await;
    let before = hub.audit_count().await;
    let with = |mut body: Value, extra: Value| {
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let attempts = [
        (
            "/v1/flags",
            with(flag_body(ANNA_DASHED), json!({"member_id": b_id})),
        ),
        (
            "/v1/flags",
            with(flag_body(ANNA_DASHED), json!({"id": "flg_chosen"})),
        ),
        (
            "/v1/flags",
            with(flag_body(ANNA_DASHED), json!({"status": "lifted"})),
        ),
        (
            "/v1/indicators",
            with(indicator("070-123 45 67"), json!({"publisher": "bank-b"})),
        ),
        (
            "/v1/indicators",
            with(indicator("070-123 45 67"), json!({"status": "upheld"})),
        ),
        (
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "member_id": b_id}),
        ),
        (
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "secret": "whsec_chosen"}),
        ),
        (
            "/v1/agents",
            json!({"personal_number": ERIK, "display_name": "E", "member_id": b_id}),
        ),
        (
            "/v1/agents",
            json!({"personal_number": ERIK, "display_name": "E", "status": "active"}),
        ),
    ];
    for (path, body) in &attempts {
        let answer = hub.post(path, &a, body).await;
        assert_problem((answer.0, &answer.1), 422, "invalid-field", path);
        assert_eq!(answer.1["field"], "body", "{path}: {}", answer.1);
    }
    assert_eq!(hub.audit_count().await, before, "nothing was created");
    assert_eq!(
        hub.match_one(&b, ANNA).await.1["results"][0]["flagged"],
        false
    );
    for key in [&a, &b] {
        assert_eq!(hub.get("/v1/webhooks", key).await.1["webhooks"], json!([]));
        assert_eq!(hub.get("/v1/agents", key).await.1["agents"], json!([]));
        assert_eq!(
            hub.get("/v1/indicators", key).await.1["indicators"],
            json!([])
        );
    }
}

/// Excessive data exposure: what member B is told about member A's flag, A's indicator
/// and a watched person (match result, event, own audit entries) names neither A nor
/// the person, carries no hub-wide token, and never the publisher's private note.
#[tokio::test]
async fn api3_broken_object_property_level_authorization_answers_expose_no_other_members_data() {
    let hub = web_hub(|_| {}).await;
    let (_, a) = hub
        .member_with("bank-alpha-secret", &all_scopes(), 10_000, 10_000)
        .await;
    let (_, b) = hub
        .member_with("bank-b", &all_scopes(), 10_000, 10_000)
        .await;
    let phone = "070-123 45 67";
    created(
        &hub,
        &b,
        "/v1/watchlist",
        json!({"identifier": {"kind": "se_personal_number", "value": ANNA_DASHED}, "reference": "b-ref"}),
    )
    .await;
    let flag = created(&hub, &a, "/v1/flags", flag_body(ANNA_DASHED)).await;
    created(&hub, &a, "/v1/indicators", indicator(phone)).await;
    let (_, matched) = hub
        .post(
            "/v1/matches",
            &b,
            &json!({"purpose": "payment", "identifiers": [
                {"kind": "se_personal_number", "value": ANNA_DASHED},
                {"kind": "phone", "value": phone},
            ]}),
        )
        .await;
    assert_eq!(matched["results"][0]["flagged"], true, "{matched}");
    assert_eq!(
        matched["results"][1]["indicators"]["reported_by_members"],
        1
    );
    let (_, events) = hub.get("/v1/events?after=0", &b).await;
    assert_eq!(events["events"][0]["type"], "flag.placed", "{events}");
    let (_, entries) = hub.get("/v1/audit/entries", &b).await;
    let (_, own_flag) = hub
        .get(&format!("/v1/flags/{}", flag["id"].as_str().unwrap()), &a)
        .await;

    let stored = hub.store.audit_page(None, 0, 50).await.unwrap();
    let hub_tokens: BTreeSet<String> = stored
        .iter()
        .filter_map(|e| {
            e.entry
                .as_ref()
                .ok()?
                .subject_token
                .as_deref()
                .map(hex::encode)
        })
        .collect();
    assert!(!hub_tokens.is_empty());
    for (what, body) in [
        ("match", &matched),
        ("events", &events),
        ("audit entries", &entries),
        ("own flag", &own_flag),
    ] {
        let text = body.to_string();
        for secret in [
            ANNA,
            ANNA_DASHED,
            "900101-2385",
            "0701234567",
            "070-123 45 67",
        ] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
        for token in &hub_tokens {
            assert!(
                !text.contains(token.as_str()),
                "{what} shows a hub-wide token"
            );
        }
        if what != "own flag" {
            assert!(
                !text.contains("bank-alpha-secret"),
                "{what} names A: {text}"
            );
            assert!(!text.contains("4711"), "{what} shows A's note: {text}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// API4:2023 Unrestricted Resource Consumption
// ---------------------------------------------------------------------------------------

/// A body over the limit is 413 and a batch over `max_match_identifiers` is 422 naming
/// `identifiers`; neither looks anything up. See `bad_input::an_oversize_batch_and_an_oversize_body_are_refused`.
#[tokio::test]
async fn api4_unrestricted_resource_consumption_oversized_bodies_and_batches_are_refused() {
    let hub = TestHub::start_with(|c| {
        c.body_limit_bytes = 4096;
        c.max_match_identifiers = 3;
    })
    .await;
    let (_, key) = hub.member("bank-a").await;
    let huge = json!({"purpose": "payment", "identifiers": [], "pad": "x".repeat(8192)});
    let answer = hub
        .post_raw("/v1/matches", &key, "application/json", huge.to_string())
        .await;
    assert_problem(
        (answer.0, &answer.1),
        413,
        "payload-too-large",
        "8 KiB body",
    );
    let four: Vec<String> = (1..=4).map(|s| pn("19800101", s)).collect();
    let refs: Vec<&str> = four.iter().map(String::as_str).collect();
    let answer = hub.post("/v1/matches", &key, &match_body(&refs)).await;
    assert_problem(
        (answer.0, &answer.1),
        422,
        "invalid-field",
        "four identifiers",
    );
    assert_eq!(answer.1["field"], "identifiers");
    assert_eq!(hub.audit_count().await, 0, "nothing was looked up");
}

/// Each member has a quota (charged per identifier); past it the answer is 429
/// `rate-limited` with a Retry-After, and nothing is looked up. See
/// `auth_and_limits::exceeding_the_members_quota_gets_429_with_retry_after` and
/// `enumeration::a_match_is_charged_one_unit_per_identifier`.
#[tokio::test]
async fn api4_unrestricted_resource_consumption_a_member_past_its_quota_gets_429() {
    let hub = TestHub::start().await;
    let (_, key) = hub.member_with("bank-a", "matches:read", 1, 2).await;
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    assert_eq!(hub.match_one(&key, PN).await.0, 200);
    let resp = hub
        .http
        .post(format!("{}/v1/matches", hub.base))
        .bearer_auth(&key)
        .json(&match_body(&[PN]))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (status, problem) = split(resp).await;
    assert_problem((status, &problem), 429, "rate-limited", "third match");
    assert_eq!(hub.audit_count().await, 2);
}

/// Anonymous routes are limited per client address before anything else runs (the
/// review found this untested on the public routes). See
/// `client_limits::anonymous_requests_beyond_the_per_client_limit_get_429`.
#[tokio::test]
async fn api4_unrestricted_resource_consumption_an_anonymous_flood_is_limited_per_address() {
    let hub = TestHub::start_with(|c| {
        c.ip_rate_per_second = 1;
        c.ip_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for path in [
        "/v1/audit/checkpoint",
        "/v1/audit/public-key",
        "/v1/openapi.json",
        "/v1/audit/checkpoint",
        "/v1/openapi.json",
    ] {
        let resp = hub
            .http
            .get(format!("{}{path}", hub.base))
            .send()
            .await
            .unwrap();
        let retry_after = resp.headers().get("retry-after").cloned();
        let (status, body) = split(resp).await;
        if status == 429 {
            assert_problem((status, &body), 429, "rate-limited", path);
            assert!(retry_after.is_some(), "{path}");
        }
        statuses.push(status);
    }
    // A token may refill between the requests on a slow machine; the burst cannot.
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
}

/// A client that trickles its body (slow POST) holds a handler only until the request
/// timeout: it then gets 503 `timeout` long before its body is complete, and nothing
/// is looked up. Slow request heads and unread responses: `slow_clients`.
#[tokio::test]
async fn api4_unrestricted_resource_consumption_a_trickled_body_is_cut_off_at_the_request_timeout()
{
    let hub = TestHub::start_with(|c| c.request_timeout_ms = 500).await;
    let (_, key) = hub.member("bank-a").await;
    let addr = hub.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = match_body(&[PN]).to_string();
    let head = format!(
        "POST /v1/matches HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms would take the whole body several seconds.
    let trickle = async {
        for b in body.as_bytes() {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut answer))
        .await
        .expect("the hub answered")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(
        text.contains("https://fraudhub.se/problems/timeout"),
        "{text}"
    );
    assert_eq!(hub.audit_count().await, 0, "nothing was looked up");
}

/// Anonymous clients cannot make the hub sign or write: the public checkpoint only
/// reads (before the fix every anonymous GET on a grown log signed and stored a
/// checkpoint). See `audit_log::anonymous_checkpoint_reads_never_make_the_hub_sign`.
#[tokio::test]
async fn api4_unrestricted_resource_consumption_anonymous_reads_never_make_the_hub_sign_or_write() {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    // The start-up checkpoint is written as the hub starts; wait for it.
    let mut checkpoints = 0;
    for _ in 0..100 {
        checkpoints = hub.store.checkpoints().await.unwrap().len();
        if checkpoints > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(checkpoints, 1, "the start-up checkpoint");
    for serial in 1..=3 {
        assert_eq!(hub.match_one(&key, &pn("19800101", serial)).await.0, 200);
    }
    let entries = hub.audit_count().await;
    for _ in 0..5 {
        for path in [
            "/v1/audit/checkpoint",
            "/v1/audit/public-key",
            "/v1/openapi.json",
            "/healthz",
            "/readyz",
        ] {
            assert_eq!(hub.get(path, "").await.0, 200, "{path}");
        }
    }
    assert_eq!(hub.store.checkpoints().await.unwrap().len(), checkpoints);
    // What anonymous clients read is still the start-up checkpoint of the empty log.
    let note = hub
        .http
        .get(format!("{}/v1/audit/checkpoint", hub.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(note.lines().nth(1), Some("0"), "{note}");
    assert_eq!(hub.audit_count().await, entries);
}

// ---------------------------------------------------------------------------------------
// API5:2023 Broken Function Level Authorization
// ---------------------------------------------------------------------------------------

/// The scope each member route needs, written out here as the specification; the test
/// fails when the router serves an operation this table does not state.
const SCOPE_TABLE: &[(&str, &str, Option<&str>)] = &[
    ("POST", "/v1/flags", Some("flags:write")),
    ("GET", "/v1/flags/{id}", Some("flags:read")),
    ("POST", "/v1/flags/{id}/lift", Some("flags:write")),
    ("POST", "/v1/matches", Some("matches:read")),
    ("POST", "/v1/matches/bulk", Some("matches:read")),
    ("POST", "/v1/indicators", Some("indicators:write")),
    ("GET", "/v1/indicators", Some("indicators:read")),
    ("GET", "/v1/indicators/{id}", Some("indicators:read")),
    (
        "POST",
        "/v1/indicators/{id}/revoke",
        Some("indicators:write"),
    ),
    (
        "POST",
        "/v1/indicators/{id}/uphold",
        Some("indicators:write"),
    ),
    (
        "POST",
        "/v1/indicators/{id}/sightings",
        Some("indicators:write"),
    ),
    (
        "POST",
        "/v1/indicators/{id}/false-positive-reports",
        Some("indicators:write"),
    ),
    ("POST", "/v1/indicators/disputes", Some("indicators:write")),
    ("POST", "/v1/caller-verifications", Some("callers:verify")),
    (
        "GET",
        "/v1/caller-verifications/{id}",
        Some("callers:verify"),
    ),
    (
        "POST",
        "/v1/caller-verifications/{id}/cancel",
        Some("callers:verify"),
    ),
    ("POST", "/v1/agents", Some("agents:manage")),
    ("GET", "/v1/agents", Some("agents:manage")),
    ("POST", "/v1/agents/{id}/disable", Some("agents:manage")),
    ("POST", "/v1/watchlist", Some("watchlist:write")),
    ("GET", "/v1/watchlist", Some("watchlist:write")),
    ("POST", "/v1/watchlist/remove", Some("watchlist:write")),
    ("POST", "/v1/watchlist/bulk", Some("watchlist:write")),
    ("GET", "/v1/events", Some("events:read")),
    ("POST", "/v1/webhooks", Some("webhooks:manage")),
    ("GET", "/v1/webhooks", Some("webhooks:manage")),
    (
        "POST",
        "/v1/webhooks/{id}/rotate-secret",
        Some("webhooks:manage"),
    ),
    ("POST", "/v1/webhooks/{id}/replay", Some("webhooks:manage")),
    (
        "GET",
        "/v1/webhooks/{id}/deliveries",
        Some("webhooks:manage"),
    ),
    ("GET", "/v1/audit/entries", Some("audit:read")),
    (
        "GET",
        "/v1/audit/entries/{leaf_index}/inclusion",
        Some("audit:read"),
    ),
    ("GET", "/v1/audit/consistency", Some("audit:read")),
    ("GET", "/v1/audit/checkpoint", None),
    ("GET", "/v1/audit/public-key", None),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
];

/// A concrete URL for a route template (ids that exist nowhere, valid query strings).
fn concrete(path: &str) -> String {
    let path = path
        .replace("{id}", "x_does_not_exist")
        .replace("{leaf_index}", "0");
    match path.as_str() {
        "/v1/audit/consistency" => format!("{path}?from=0&to=0"),
        "/v1/audit/entries/0/inclusion" => format!("{path}?tree_size=1"),
        _ => path,
    }
}

/// Every route of the router, attacked with a key that holds every scope except the
/// one the route needs (and except the write scope that implies a read scope): each is
/// 403 `forbidden`; anonymously each is 401. The same request with a
/// key holding just the needed scope gets past authorization, so the 403s are the
/// scope check's and not some other refusal. Covers what the review found untested:
/// GET and lift of a flag, inclusion and consistency proofs.
#[tokio::test]
async fn api5_broken_function_level_authorization_every_route_refuses_a_key_lacking_its_scope() {
    let hub = web_hub(|_| {}).await;
    let served: BTreeSet<(String, String, Option<String>)> = fraudhub::route_inventory()
        .into_iter()
        .map(|o| {
            (
                o.method.to_string(),
                o.path.to_string(),
                o.scope.map(str::to_string),
            )
        })
        .collect();
    let specified: BTreeSet<(String, String, Option<String>)> = SCOPE_TABLE
        .iter()
        .map(|(m, p, s)| (m.to_string(), p.to_string(), s.map(str::to_string)))
        .collect();
    assert_eq!(
        served, specified,
        "the router and this test's scope table disagree"
    );

    let mut refused = 0;
    for (method, path, scope) in &specified {
        let url = concrete(path);
        let Some(scope) = scope else {
            assert_eq!(call(&hub, method, &url, "").await.0, 200, "{method} {path}");
            continue;
        };
        let implying = match scope.as_str() {
            "flags:read" => "flags:write",
            "indicators:read" => "indicators:write",
            other => other,
        };
        let lacking: Vec<&str> = ALL_SCOPES
            .iter()
            .copied()
            .filter(|s| s != scope && *s != implying)
            .collect();
        let name = format!("bank-{refused}");
        let (_, without) = hub
            .member_with(&name, &lacking.join(","), 10_000, 10_000)
            .await;
        let what = format!("{method} {path} without {scope}");
        let answer = call(&hub, method, &url, &without).await;
        assert_problem((answer.0, &answer.1), 403, "forbidden", &what);
        let anonymous = call(&hub, method, &url, "").await;
        assert_problem((anonymous.0, &anonymous.1), 401, "unauthorized", &what);
        let (_, only) = hub
            .member_with(&format!("{name}-only"), scope, 10_000, 10_000)
            .await;
        let allowed = call(&hub, method, &url, &only).await;
        assert!(
            ![401, 403].contains(&allowed.0),
            "{method} {path} with {scope}: {}",
            allowed.1
        );
        refused += 1;
    }
    assert_eq!(refused, 32);
}

/// Consumer, agent and member credentials each open only their own surface: a
/// consumer's session is no API key, a member's API key is no session, and an agent's
/// console session is not a consumer's "my page" (nor the other way round).
#[tokio::test]
async fn api5_broken_function_level_authorization_a_session_of_one_kind_does_not_open_another() {
    let hub = web_hub(|_| {}).await;
    let (_, key) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    let (_, placed) = hub.place_flag(&key, ANNA_DASHED).await;
    let flag = placed["id"].as_str().unwrap();
    created(
        &hub,
        &key,
        "/v1/agents",
        json!({"personal_number": ERIK, "display_name": "Erik Agent"}),
    )
    .await;

    let mut consumer = WebClient::new(&hub);
    assert_eq!(consumer.login(&hub, ANNA).await.status, 200);
    let cookie = consumer.session_cookie().unwrap();
    let resp = hub
        .http
        .get(format!("{}/v1/flags/{flag}", hub.base))
        .header("cookie", format!("__Host-fh_session={cookie}"))
        .send()
        .await
        .unwrap();
    let (status, problem) = split(resp).await;
    assert_problem(
        (status, &problem),
        401,
        "unauthorized",
        "consumer cookie on the API",
    );
    assert_eq!(
        consumer.get("/agent/console").await.location(),
        Some("/agent"),
        "a consumer is not an agent"
    );
    let csrf = consumer.get("/my").await.csrf();
    let attempt = consumer
        .post(
            "/agent/verifications",
            &[
                ("csrf", csrf.as_str()),
                ("personal_number", ANNA_DASHED),
                ("call_initiator", "user"),
            ],
        )
        .await;
    assert_eq!(attempt.location(), Some("/agent"), "{}", attempt.body);
    assert!(pending_orders(&hub).await.is_empty(), "no call was started");

    let mut agent = WebClient::new(&hub);
    let page = agent.get("/agent").await;
    let started = agent.post("/agent/login", &[("csrf", &page.csrf())]).await;
    assert_eq!(started.location(), Some("/bankid"));
    approve_pending(&hub, ERIK).await;
    assert_eq!(agent.status().await["next"], "/agent/console");
    assert_eq!(agent.get("/agent/console").await.status, 200);
    assert_eq!(
        agent.get("/my").await.location(),
        Some("/login"),
        "an agent session is not a consumer session"
    );

    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/my", hub.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/login",
        "an API key is no session"
    );
}

// ---------------------------------------------------------------------------------------
// API6:2023 Unrestricted Access to Sensitive Business Flows
// ---------------------------------------------------------------------------------------

/// Enumeration: a member walking the serials of one birth date is refused as a sweep
/// (429 `enumeration-suspected`), stays refused, and the refused lookups are not made;
/// a member past its daily budget of distinct subjects gets 429
/// `subject-budget-exhausted`. Deeper: `enumeration`.
#[tokio::test]
async fn api6_unrestricted_access_to_sensitive_business_flows_an_enumeration_sweep_is_stopped() {
    let hub = TestHub::start_with(|c| {
        c.sweep_same_birth_date_max = 5;
        c.sweep_window_secs = 600;
    })
    .await;
    let (_, sweeper) = hub.member("bank-a").await;
    for serial in 1..=5 {
        assert_eq!(
            hub.match_one(&sweeper, &pn("19850615", serial)).await.0,
            200
        );
    }
    let looked_up = hub.audit_count().await;
    for serial in 6..=20 {
        let answer = hub.match_one(&sweeper, &pn("19850615", serial)).await;
        assert_problem((answer.0, &answer.1), 429, "enumeration-suspected", "sweep");
    }
    let answer = hub.match_one(&sweeper, &pn("19600101", 123)).await;
    assert_problem(
        (answer.0, &answer.1),
        429,
        "enumeration-suspected",
        "after the trip",
    );
    assert_eq!(
        hub.audit_count().await,
        looked_up,
        "no refused lookup was made"
    );

    let (budgeted_id, budgeted) = hub.member("bank-b").await;
    hub.store
        .set_member_subject_budget(budgeted_id, Some(2))
        .await
        .unwrap();
    assert_eq!(hub.match_one(&budgeted, &pn("19700101", 11)).await.0, 200);
    assert_eq!(hub.match_one(&budgeted, &pn("19710202", 22)).await.0, 200);
    let answer = hub.match_one(&budgeted, &pn("19720303", 33)).await;
    assert_problem(
        (answer.0, &answer.1),
        429,
        "subject-budget-exhausted",
        "budget",
    );
}

/// Mass flagging: one person placing flag after flag on the consumer pages is refused
/// past `flag_actions_per_hour` (429 with Retry-After) before any BankID signature is
/// asked for. See `consumer_web::flag_actions_beyond_the_per_person_limit_are_refused`.
#[tokio::test]
async fn api6_unrestricted_access_to_sensitive_business_flows_mass_flagging_is_refused() {
    let hub = web_hub(|c| c.web.flag_actions_per_hour = 2).await;
    let mut web = WebClient::new(&hub);
    assert_eq!(web.login(&hub, ANNA).await.status, 200);
    for _ in 0..2 {
        let csrf = web.get("/my").await.csrf();
        let ok = web
            .post("/my/flags", &[("csrf", &csrf), ("duration_days", "30")])
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        // Abandon the signature, as a script hammering the button would.
        let _ = web.post("/bankid/cancel", &[("csrf", &csrf)]).await;
    }
    let orders_before = pending_orders(&hub).await.len();
    for _ in 0..3 {
        let csrf = web.get("/my").await.csrf();
        let refused = web
            .post("/my/flags", &[("csrf", &csrf), ("duration_days", "30")])
            .await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.header("retry-after").is_some());
    }
    assert_eq!(
        pending_orders(&hub).await.len(),
        orders_before,
        "no signature was asked for"
    );
}

// ---------------------------------------------------------------------------------------
// API7:2023 Server Side Request Forgery
// ---------------------------------------------------------------------------------------

/// Webhook URLs that reach the hub's own network are refused at registration, in every
/// spelling (names that resolve to loopback, decimal, hex and short IPv4, IPv4-mapped
/// IPv6, link-local, unique-local, metadata); nothing is registered. See also
/// `events::webhook_urls_that_reach_internal_addresses_are_refused`.
#[tokio::test]
async fn api7_server_side_request_forgery_internal_webhook_urls_are_refused_in_every_spelling() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    for url in [
        "http://localhost/hook",
        "http://localhost./hook",
        "http://LOCALHOST:8080/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://0x7f.0.0.1/hook",
        "http://127.1/hook",
        "http://017700000001/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://169.254.169.254/latest/meta-data/iam",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://192.168.0.1/hook",
        "http://172.16.0.1/hook",
        "http://10.255.255.255/hook",
        "https://127.0.0.1:443/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ] {
        let answer = hub.post("/v1/webhooks", &key, &json!({"url": url})).await;
        assert_problem((answer.0, &answer.1), 422, "invalid-field", url);
        assert_eq!(answer.1["field"], "url", "{url}");
    }
    assert_eq!(hub.get("/v1/webhooks", &key).await.1["webhooks"], json!([]));
}

/// A receiver that answers with a redirect does not move the hub: the hub records the
/// 307 as a failed delivery and never calls the redirect's target.
#[tokio::test]
async fn api7_server_side_request_forgery_a_webhook_redirect_is_not_followed() {
    let hub = web_hub(|c| c.webhooks.retry_base_ms = 60_000).await;
    let (_, key) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    let target = Receiver::start(axum::routing::any(|| async { StatusCode::NO_CONTENT })).await;
    let location = target.url.clone();
    let redirecting = Receiver::start(axum::routing::post(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    }))
    .await;
    let hook = created(&hub, &key, "/v1/webhooks", json!({"url": redirecting.url})).await;
    created(
        &hub,
        &key,
        "/v1/watchlist",
        json!({"identifier": {"kind": "se_personal_number", "value": ANNA_DASHED}, "reference": "r"}),
    )
    .await;
    hub.place_flag(&key, ANNA_DASHED).await;
    let first = first_delivery(&hub, &key, hook["id"].as_str().unwrap()).await;
    assert_eq!(first["ok"], false, "{first}");
    assert_eq!(first["status_code"], 307, "{first}");
    assert!(redirecting.hits() >= 1);
    assert_eq!(target.hits(), 0, "the redirect was followed");
}

// ---------------------------------------------------------------------------------------
// API8:2023 Security Misconfiguration
// ---------------------------------------------------------------------------------------

/// Every kind of answer (success, 401, 404, 405, 413) carries the hardening headers and
/// no server banner; TRACE and other unrouted methods are 405 without echoing the
/// request; a cross-origin preflight gets no CORS grant; errors say nothing of the
/// implementation. HSTS over TLS: `https::serve_speaks_https_with_tls_1_2_and_1_3_only_and_sends_hsts`;
/// the pages' policy: `consumer_web::every_page_sends_the_security_headers_and_hsts_only_over_tls`.
#[tokio::test]
async fn api8_security_misconfiguration_headers_methods_cors_and_errors_are_locked_down() {
    let hub = TestHub::start_with(|c| c.body_limit_bytes = 1024).await;
    let (_, key) = hub.member("bank-a").await;
    let url = |p: &str| format!("{}{p}", hub.base);
    let probe = "x-probe-4f1d";
    let requests = [
        (
            "200",
            hub.http
                .post(url("/v1/matches"))
                .bearer_auth(&key)
                .json(&match_body(&[PN])),
        ),
        (
            "401",
            hub.http.post(url("/v1/matches")).json(&match_body(&[PN])),
        ),
        ("404", hub.http.get(url("/v1/admin"))),
        (
            "405 TRACE",
            hub.http
                .request(reqwest::Method::TRACE, url("/v1/matches"))
                .header(probe, "echo-me"),
        ),
        (
            "405 PUT",
            hub.http.put(url("/v1/flags/x")).bearer_auth(&key),
        ),
        (
            "405 DELETE",
            hub.http.delete(url("/v1/flags/x")).bearer_auth(&key),
        ),
        (
            "413",
            hub.http
                .post(url("/v1/matches"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("x".repeat(4096)),
        ),
        (
            "400",
            hub.http
                .post(url("/v1/matches"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("{\"purpose\": "),
        ),
    ];
    for (what, req) in requests {
        let resp = req
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        let h = resp.headers().clone();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
        assert_eq!(
            header("cache-control").as_deref(),
            Some("no-store"),
            "{what}"
        );
        assert!(header("x-request-id").is_some(), "{what}");
        for banner in [
            "server",
            "x-powered-by",
            "access-control-allow-origin",
            "access-control-allow-credentials",
        ] {
            assert!(
                header(banner).is_none(),
                "{what}: {banner}: {:?}",
                header(banner)
            );
        }
        assert!(
            header("strict-transport-security").is_none(),
            "{what}: plain HTTP"
        );
        let (status, body) = split(resp).await;
        let expected: u16 = what[..3].parse().unwrap();
        assert_eq!(status, expected, "{what}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("echo-me"),
            "{what} echoes the request: {text}"
        );
        for internal in [
            "serde",
            "sqlx",
            "axum",
            "hyper",
            "src/",
            ".rs",
            "panicked",
            "backtrace",
        ] {
            assert!(
                !text.to_lowercase().contains(internal),
                "{what} leaks {internal}: {text}"
            );
        }
        match status {
            405 => assert_problem((status, &body), 405, "method-not-allowed", what),
            413 => assert_problem((status, &body), 413, "payload-too-large", what),
            404 => assert_problem((status, &body), 404, "not-found", what),
            400 => assert_problem((status, &body), 400, "bad-request", what),
            _ => {}
        }
    }
    let preflight = hub
        .http
        .request(reqwest::Method::OPTIONS, url("/v1/matches"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "CORS grant: {:?}",
        preflight.headers()
    );
    let (status, body) = split(preflight).await;
    assert_problem((status, &body), 405, "method-not-allowed", "preflight");
}

/// Production refuses to serve plain HTTP unless told it is behind a trusted TLS proxy
/// (and names the setting), so a forgotten TLS set-up cannot ship keys in clear text.
#[tokio::test]
async fn api8_security_misconfiguration_production_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new().await;
    let serve = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fraudhub"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("FRAUDHUB_PRODUCTION", "true")
            .env("FRAUDHUB_DATA_DIR", dir.path())
            .env("FRAUDHUB_DATABASE_URL", &db.url)
            .env("FRAUDHUB_MASTER_KEY_FILE", dir.path().join("master.key"))
            .env(
                "FRAUDHUB_AUDIT_SIGNING_KEY_FILE",
                dir.path().join("signing.key"),
            )
            .env("FRAUDHUB_BANKID__MODE", "external")
            .env(
                "FRAUDHUB_BANKID__BASE_URL",
                "https://appapi2.test.bankid.com/rp/v6.0/",
            )
            .env("FRAUDHUB_BANKID__PKCS12_FILE", dir.path().join("rp.p12"))
            .env("FRAUDHUB_BANKID__ROOT_CA_FILE", dir.path().join("root.pem"))
            .env_remove("FRAUDHUB_MASTER_KEY");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = serve(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("production refuses plain HTTP"), "{stderr}");
    // "Behind a proxy" alone is not enough: the proxy must be a trusted address.
    let out = serve(&[("FRAUDHUB_BEHIND_TLS_PROXY", "true")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("trusted_proxies"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// API9:2023 Improper Inventory Management
// ---------------------------------------------------------------------------------------

/// The served OpenAPI document lists exactly the operations the router serves (with the
/// scope each enforces), every one of them is reachable at its documented method, and
/// the shadow APIs an attacker looks for (old versions, admin, debug, metrics, member
/// management, a second document) do not exist. The route table's own check against the
/// compiled document: `src/api/routes.rs` unit tests.
#[tokio::test]
async fn api9_improper_inventory_management_the_served_document_is_exactly_the_router() {
    let hub =
        TestHub::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let doc: Value = hub
        .http
        .get(format!("{}/v1/openapi.json", hub.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ![
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            let scope = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .next()
                .map(str::to_string);
            documented.insert((method.to_uppercase(), path.clone(), scope));
        }
    }
    let routed: BTreeSet<(String, String, Option<String>)> = fraudhub::route_inventory()
        .into_iter()
        .map(|o| (o.method.into(), o.path.into(), o.scope.map(Into::into)))
        .collect();
    assert_eq!(documented, routed, "document and router disagree");

    // Every operation is served at its documented method: scoped ones ask for a key,
    // public ones answer.
    for (method, path, scope) in &routed {
        let (status, body) = call(&hub, method, &concrete(path), "").await;
        let expected = if scope.is_some() { 401 } else { 200 };
        assert_eq!(status, expected, "{method} {path}: {body}");
    }
    // Shadow and forgotten APIs.
    let (_, key) = hub
        .member_with("bank-a", &all_scopes(), 10_000, 10_000)
        .await;
    for path in [
        "/v0/matches",
        "/v2/matches",
        "/v1/admin",
        "/admin",
        "/v1/debug",
        "/debug/pprof",
        "/v1/members",
        "/v1/keys",
        "/v1/members/1/keys",
        "/metrics",
        "/v1/metrics",
        "/v1/openapi.yaml",
        "/openapi.json",
        "/swagger-ui",
        "/v1/docs",
        "/v1/audit/checkpoints",
        "/v1/flags",
        "/.env",
        "/v1/flags/../../etc/passwd",
    ] {
        for method in ["GET", "POST"] {
            if (method, path) == ("POST", "/v1/flags") {
                continue;
            }
            let (status, body) = call(&hub, method, path, &key).await;
            let what = format!("{method} {path}");
            if status == 405 {
                // A documented path with another method: the method is refused, the
                // path is not a hidden second API.
                assert_problem((status, &body), 405, "method-not-allowed", &what);
                assert!(routed.iter().any(|(_, p, _)| p == path), "{what}");
            } else {
                assert_problem((status, &body), 404, "not-found", &what);
            }
        }
    }
    // Metrics live only on their own listener.
    let metrics = hub.metrics_base.as_deref().unwrap();
    assert_eq!(
        reqwest::get(format!("{metrics}/metrics"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

// ---------------------------------------------------------------------------------------
// API10:2023 Unsafe Consumption of APIs
// ---------------------------------------------------------------------------------------

/// BankID's answers are untrusted input: an oversized answer or an unexpected error
/// while a login is pending ends the login cleanly (failed, error page) instead of
/// logging anyone in or hanging. Client-level mapping: `bankid_errors`.
#[tokio::test]
async fn api10_unsafe_consumption_of_apis_a_malformed_bankid_answer_logs_nobody_in() {
    let hub = web_hub(|_| {}).await;
    for fault in ["oversizedBody", "unauthorized", "internalError"] {
        let mut web = WebClient::new(&hub);
        web.start_login().await;
        device(
            &hub,
            "/api/faults",
            json!({"kind": fault, "endpoint": "collect"}),
        )
        .await;
        let started = Instant::now();
        let status = web.status().await;
        assert!(started.elapsed() < Duration::from_secs(5), "{fault}");
        assert_eq!(status["status"], "failed", "{fault}: {status}");
        assert_ne!(status["next"], "/my", "{fault}: {status}");
        let result = web.get("/bankid/result").await;
        assert!(result.status < 500, "{fault}: {}", result.status);
        assert_eq!(web.get("/my").await.location(), Some("/login"), "{fault}");
        // Whatever is left of the order at BankID is not this test's concern any more.
        for order in pending_orders(&hub).await {
            let r = order["orderRef"].as_str().unwrap();
            device(&hub, &format!("/api/orders/{r}/cancel"), json!({})).await;
        }
    }
}

/// Webhook receivers are untrusted too: one that never answers or streams an endless
/// body holds the delivery worker only for the delivery timeout — the attempt is
/// recorded as failed or done, and another member's receiver still gets its event.
#[tokio::test]
async fn api10_unsafe_consumption_of_apis_a_hanging_or_endless_receiver_does_not_stall_delivery() {
    let hub = web_hub(|c| {
        c.webhooks.timeout_ms = 300;
        c.webhooks.retry_base_ms = 60_000;
    })
    .await;
    let hanging = Receiver::start(axum::routing::post(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        StatusCode::NO_CONTENT
    }))
    .await;
    let endless = Receiver::start(axum::routing::post(|| async {
        let chunks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'a'; 64 * 1024]))
        });
        axum::body::Body::from_stream(chunks)
    }))
    .await;
    let good = Receiver::start(axum::routing::post(|| async { StatusCode::NO_CONTENT })).await;
    let mut hooks = Vec::new();
    for (name, receiver) in [
        ("bank-h", &hanging),
        ("bank-e", &endless),
        ("bank-g", &good),
    ] {
        let (_, key) = hub.member_with(name, &all_scopes(), 10_000, 10_000).await;
        let hook = created(&hub, &key, "/v1/webhooks", json!({"url": receiver.url})).await;
        created(
            &hub,
            &key,
            "/v1/watchlist",
            json!({"identifier": {"kind": "se_personal_number", "value": ANNA_DASHED}, "reference": "r"}),
        )
        .await;
        hooks.push((key, hook["id"].as_str().unwrap().to_string()));
    }
    let started = Instant::now();
    hub.place_flag(&hooks[0].0, ANNA_DASHED).await;
    let hung = first_delivery(&hub, &hooks[0].0, &hooks[0].1).await;
    assert_eq!(hung["ok"], false, "{hung}");
    assert_eq!(hung["error"], "timed out", "{hung}");
    let streamed = first_delivery(&hub, &hooks[1].0, &hooks[1].1).await;
    assert_eq!(streamed["ok"], true, "{streamed}");
    let delivered = first_delivery(&hub, &hooks[2].0, &hooks[2].1).await;
    assert_eq!(delivered["ok"], true, "{delivered}");
    assert_eq!(good.hits(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
