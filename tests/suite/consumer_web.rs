//! The consumer's pages over HTTP, on both database engines, with the BankID simulator
//! over mutual TLS playing the person's app: login, own flags confirmed by signature,
//! who checked me, export, sessions, CSRF, headers and limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use fraudhub::tlog::{Blake3, Checkpoint, Hash, verify_inclusion};
use serde_json::Value;

use crate::common::{TEST_ORIGIN, TestHub, test_signer};
use crate::web_support::{
    ANNA, ANNA_NAME, ERIK, WebClient, act_on_pending, approve_pending, device, pending_orders,
};

/// Anna's number in the dashed form a member sends.
const ANNA_DASHED: &str = "19900101-2385";

async fn logged_in(hub: &TestHub) -> WebClient {
    let mut web = WebClient::new(hub);
    let my = web.login(hub, ANNA).await;
    assert_eq!(my.status, 200, "{}", my.body);
    web
}

async fn place_own_flag(hub: &TestHub, web: &mut WebClient, days: &str) -> Value {
    web.sign(hub, "/my/flags", &[("duration_days", days)], ANNA)
        .await
}

#[tokio::test]
async fn logging_in_issues_a_new_session_id_and_shows_the_name_bankid_returned() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    web.start_login().await;
    let before = web.session_cookie().expect("a session before login");
    approve_pending(&hub, ANNA).await;
    assert_eq!(web.status().await["next"], "/my");
    let after = web.session_cookie().expect("a session after login");
    assert_ne!(before, after, "login must issue a new session id");
    let my = web.get("/my").await;
    assert_eq!(my.status, 200);
    assert!(my.body.contains(ANNA_NAME), "{}", my.body);
    assert!(
        !my.body.contains(ANNA),
        "the personal number is never shown"
    );
    // The pre-login id is gone server-side.
    web.cookies.insert("__Host-fh_session".into(), before);
    assert_eq!(web.get("/my").await.location(), Some("/login"));
}

#[tokio::test]
async fn a_flag_placed_on_my_page_makes_a_members_match_say_flagged_at_once() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    let (_, before) = hub.match_one(&key, ANNA_DASHED).await;
    assert_eq!(before["results"][0]["flagged"], false, "{before}");
    let mut web = logged_in(&hub).await;
    let done = place_own_flag(&hub, &mut web, "365").await;
    assert_eq!(done["next"], "/my/done", "{done}");
    let (_, after) = hub.match_one(&key, ANNA_DASHED).await;
    assert_eq!(after["results"][0]["flagged"], true, "{after}");
    let page = web.get("/my/done").await;
    assert!(
        page.body.contains("2027-11-25"),
        "one year from now: {}",
        page.body
    );
    let my = web.get("/my").await;
    assert!(my.body.contains("id=\"active-flags\""), "{}", my.body);
}

#[tokio::test]
async fn the_flag_is_audited_as_the_persons_action_with_the_sign_orders_reference() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let my = web.get("/my").await;
    web.post(
        "/my/flags",
        &[("csrf", &my.csrf()), ("duration_days", "30")],
    )
    .await;
    let order = approve_pending(&hub, ANNA).await;
    assert_eq!(web.status().await["next"], "/my/done");
    let entries = hub.store.audit_page(None, 0, 100).await.unwrap();
    let placed: Vec<_> = entries
        .iter()
        .map(|e| e.entry().unwrap().clone())
        .filter(|e| e.action.as_str() == "flag.place")
        .collect();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].actor.label(), "person");
    assert_eq!(placed[0].member_id, None);
    assert_eq!(
        placed[0].key_id.as_deref(),
        Some(format!("bankid:{}", order["orderRef"].as_str().unwrap()).as_str())
    );
}

#[tokio::test]
async fn the_signature_states_what_is_signed_in_the_pages_language() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let my = web.get("/my").await;
    web.post(
        "/my/flags",
        &[
            ("csrf", &my.csrf()),
            ("duration_days", "730"),
            ("police_report_reference", " 5000-k123456-24 "),
        ],
    )
    .await;
    let orders = pending_orders(&hub).await;
    assert_eq!(orders[0]["kind"], "sign");
    let text = orders[0]["userVisibleText"].as_str().unwrap();
    assert!(text.starts_with("Jag spärrar mitt personnummer"), "{text}");
    assert!(
        text.contains("2028-11-24"),
        "two years from 2026-11-25: {text}"
    );
    assert!(text.contains("5000-K123456-24"), "normalised: {text}");
    act_on_pending(&hub, "cancel").await;

    web.lang = Some("en");
    let my = web.get("/my").await;
    web.post(
        "/my/flags",
        &[("csrf", &my.csrf()), ("duration_days", "30")],
    )
    .await;
    let orders = pending_orders(&hub).await;
    let text = orders[0]["userVisibleText"].as_str().unwrap();
    assert!(text.starts_with("I flag my personal number"), "{text}");
    assert!(text.contains("2026-12-25"), "{text}");
}

#[tokio::test]
async fn a_person_renews_and_lifts_their_own_flag_and_is_told_whom_to_ask_about_a_members() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    let (status, _) = hub.place_flag(&key, ANNA_DASHED).await;
    assert_eq!(status, 201);
    let mut web = logged_in(&hub).await;
    place_own_flag(&hub, &mut web, "30").await;
    let my = web.get("/my").await;
    // The member's flag: named, and no renew or lift form for it.
    assert!(my.body.contains("bank-a"), "{}", my.body);
    assert_eq!(
        my.body.matches("/lift\"").count(),
        1,
        "only the own flag can be lifted"
    );
    let own_id = {
        let at = my.body.find("/my/flags/flg_").unwrap() + "/my/flags/".len();
        my.body[at..at + 28].to_string()
    };
    let renewed = web
        .sign(
            &hub,
            &format!("/my/flags/{own_id}/renew"),
            &[("duration_days", "730")],
            ANNA,
        )
        .await;
    assert_eq!(renewed["next"], "/my/done", "{renewed}");
    assert!(web.get("/my/done").await.body.contains("2028-11-24"));
    let lifted = web
        .sign(&hub, &format!("/my/flags/{own_id}/lift"), &[], ANNA)
        .await;
    assert_eq!(lifted["next"], "/my/done", "{lifted}");
    let my = web.get("/my").await;
    assert!(my.body.contains("id=\"past-flags\""), "{}", my.body);
    // The member's flag still flags the number.
    let (_, m) = hub.match_one(&key, ANNA_DASHED).await;
    assert_eq!(m["results"][0]["flagged"], true);
    // A member's flag cannot be lifted through the pages, even by a hand-made post.
    let flags = hub
        .store
        .subject_flags(&[fraudhub_token(&hub)])
        .await
        .unwrap();
    let members_id = flags
        .iter()
        .find(|(f, _)| f.member_id.is_some())
        .unwrap()
        .0
        .id
        .clone();
    let my = web.get("/my").await;
    let refused = web
        .post(
            &format!("/my/flags/{members_id}/lift"),
            &[("csrf", &my.csrf())],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        pending_orders(&hub).await.is_empty(),
        "no signature was asked for"
    );
}

fn fraudhub_token(_hub: &TestHub) -> fraudhub::pseudonym::Token {
    let p = fraudhub::pseudonym::Pseudonymiser::new(
        &fraudhub::pseudonym::MasterKey::from_bytes([42; 32]),
        1,
    );
    let n = fraudhub::identifiers::normalise(
        fraudhub::identifiers::IdentifierKind::SePersonalNumber,
        ANNA,
        crate::common::start_time().date_naive(),
    )
    .unwrap();
    p.token(&n)
}

#[tokio::test]
async fn who_checked_me_names_the_member_purpose_and_answer_newest_first_in_pages() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    let (_, other) = hub.member("pay-b").await;
    for _ in 0..30 {
        hub.match_one(&key, ANNA_DASHED).await;
    }
    hub.match_one(&other, ANNA_DASHED).await;
    hub.match_one(&key, "19811228-9874").await; // someone else: not Anna's
    let mut web = logged_in(&hub).await;
    let page = web.get("/my/lookups").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let rows = page.body.matches("<tr><td>").count();
    assert_eq!(rows, 25, "one page");
    let first_row = &page.body[page.body.find("<tr><td>").unwrap()..];
    assert!(
        first_row.starts_with("<tr><td>2026-11-25 13:00</td><td>pay-b</td>"),
        "{first_row}"
    );
    assert!(first_row.contains("Öppna konto"));
    assert!(first_row.contains("Inte spärrat"));
    let older = page.body.find("id=\"older\" href=\"").unwrap();
    let href = &page.body[older + 17..];
    let href = href[..href.find('"').unwrap()].to_string();
    let next = web.get(&href.replace("&amp;", "&")).await;
    assert_eq!(
        next.body.matches("<tr><td>").count(),
        6,
        "31 lookups in all"
    );
    assert!(!next.body.contains("id=\"older\""));
}

fn hash(v: &Value) -> Hash {
    Hash::from_slice(&B64.decode(v.as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn the_export_proves_each_lookup_against_the_signed_checkpoint() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    for _ in 0..5 {
        hub.match_one(&key, ANNA_DASHED).await;
    }
    hub.match_one(&key, "19811228-9874").await;
    let mut web = logged_in(&hub).await;
    place_own_flag(&hub, &mut web, "365").await;
    let file = web.get("/my/export").await;
    assert_eq!(file.status, 200);
    assert!(
        file.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert!(!file.body.contains(ANNA));
    let export: Value = serde_json::from_str(&file.body).unwrap();
    assert_eq!(export["name"], ANNA_NAME);
    assert_eq!(export["flags"].as_array().unwrap().len(), 1);
    let lookups = export["lookups"].as_array().unwrap();
    assert_eq!(lookups.len(), 6, "five matches and the own flag: {export}");
    let cp = Checkpoint::open(
        export["checkpoint"]["note"].as_str().unwrap().as_bytes(),
        TEST_ORIGIN,
        &[test_signer().verifier()],
    )
    .unwrap();
    for l in lookups {
        let index = l["leaf_index"].as_u64().unwrap();
        let proof: Vec<Hash> = l["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        verify_inclusion::<Blake3>(index, cp.size, &hash(&l["leaf_hash"]), &proof, &cp.root)
            .unwrap();
    }
    assert_eq!(lookups[1]["member"], "bank-a");
    assert_eq!(lookups[1]["purpose"], "account_opening");
    assert_eq!(lookups[1]["outcome"], "clear");
    // A tampered entry no longer verifies.
    let l = &lookups[2];
    let proof: Vec<Hash> = l["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    assert!(
        verify_inclusion::<Blake3>(
            l["leaf_index"].as_u64().unwrap() + 1,
            cp.size,
            &hash(&l["leaf_hash"]),
            &proof,
            &cp.root
        )
        .is_err()
    );
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_site_are_refused_and_change_nothing() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let csrf = web.get("/my").await.csrf();
    let no_token = web.post("/my/flags", &[("duration_days", "365")]).await;
    assert_eq!(
        no_token.status, 422,
        "a form without the field is malformed: {}",
        no_token.body
    );
    let wrong = web
        .post("/my/flags", &[("csrf", "00"), ("duration_days", "365")])
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("<html lang=\"sv\""));
    let cross = web
        .post_with(
            "/my/flags",
            &[("csrf", &csrf), ("duration_days", "365")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(cross.status, 403);
    let other_origin = web
        .post_with(
            "/logout",
            &[("csrf", &csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other_origin.status, 403);
    assert!(
        pending_orders(&hub).await.is_empty(),
        "no order was started"
    );
    assert_eq!(web.get("/my").await.status, 200, "still logged in");
    // Another session's token is not this session's.
    let mut other = WebClient::new(&hub);
    let other_csrf = other.get("/login").await.csrf();
    let swapped = web.post("/logout", &[("csrf", &other_csrf)]).await;
    assert_eq!(swapped.status, 403);
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_secure_httponly_and_samesite() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    let page = web.get("/login").await;
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-fh_session="), "{cookie}");
    for attr in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
    let id = web.session_cookie().unwrap();
    assert_eq!(id.len(), 64, "256 random bits");
    // Only a hash of the id is stored.
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT id_hash FROM web_sessions")
        .fetch_all(hub_pool(&hub).await.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(hex::encode(&rows[0].0), id);
}

async fn hub_pool(hub: &TestHub) -> Option<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&hub.db.url).await.ok()
}

#[tokio::test]
async fn every_page_sends_the_security_headers_and_hsts_only_over_tls() {
    let hub = TestHub::start_web(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let mut web = logged_in(&hub).await;
    for path in [
        "/",
        "/login",
        "/my",
        "/my/lookups",
        "/bankid/result",
        "/lang/en?to=/",
        "/static/site.css",
    ] {
        let page = web.get(path).await;
        let csp = page.header("content-security-policy").unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") || csp.starts_with("default-src 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            page.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert!(page.header("permissions-policy").is_some(), "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert!(
            page.header("strict-transport-security").is_none(),
            "{path}: plain HTTP"
        );
    }
    let req = reqwest::Client::new()
        .get(format!("{}/", hub.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        req.headers().get("strict-transport-security").is_some(),
        "behind a trusted TLS proxy"
    );
}

#[tokio::test]
async fn an_idle_session_ends_after_fifteen_minutes() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    hub.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(
        web.get("/my").await.status,
        200,
        "activity restarts the idle clock"
    );
    hub.clock.advance(chrono::Duration::minutes(14));
    assert_eq!(web.get("/my").await.status, 200);
    hub.clock.advance(chrono::Duration::minutes(15));
    let page = web.get("/my").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), Some("/login"));
}

#[tokio::test]
async fn any_session_ends_twelve_hours_after_login() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    for _ in 0..71 {
        hub.clock.advance(chrono::Duration::minutes(10));
        assert_eq!(web.get("/my").await.status, 200);
    }
    hub.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(web.get("/my").await.location(), Some("/login"));
}

#[tokio::test]
async fn logout_deletes_the_session_so_its_cookie_no_longer_works() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let cookie = web.session_cookie().unwrap();
    let csrf = web.get("/my").await.csrf();
    let out = web.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    web.cookies.insert("__Host-fh_session".into(), cookie);
    assert_eq!(
        web.get("/my").await.location(),
        Some("/login"),
        "a replayed cookie is dead"
    );
}

#[tokio::test]
async fn a_forged_session_cookie_is_treated_as_no_session() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let real = web.session_cookie().unwrap();
    let mut forged = real.clone().into_bytes();
    forged[0] = if forged[0] == b'a' { b'b' } else { b'a' };
    for value in [
        String::from_utf8(forged).unwrap(),
        "x".repeat(64),
        "%00".into(),
        String::new(),
    ] {
        web.cookies
            .insert("__Host-fh_session".into(), value.clone());
        assert_eq!(web.get("/my").await.location(), Some("/login"), "{value}");
    }
}

#[tokio::test]
async fn login_starts_beyond_the_per_address_limit_get_a_429_page_with_retry_after() {
    let hub = TestHub::start_web(|c| {
        c.web.rate_per_second = 1;
        c.web.burst = 3;
    })
    .await;
    let mut web = WebClient::new(&hub);
    let csrf = web.get("/login").await.csrf();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(web.post("/login", &[("csrf", &csrf)]).await);
    }
    let refused = statuses
        .iter()
        .find(|p| p.status == 429)
        .expect("a refusal");
    assert!(
        refused
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(
        refused.body.contains("<html lang=\"sv\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("För många försök"));
    assert!(statuses.iter().take(3).all(|p| p.status == 303));
}

#[tokio::test]
async fn flag_actions_beyond_the_per_person_limit_are_refused() {
    let hub = TestHub::start_web(|c| c.web.flag_actions_per_hour = 2).await;
    let mut web = logged_in(&hub).await;
    for _ in 0..2 {
        let csrf = web.get("/my").await.csrf();
        let ok = web
            .post("/my/flags", &[("csrf", &csrf), ("duration_days", "30")])
            .await;
        assert_eq!(ok.status, 303);
    }
    let csrf = web.get("/my").await.csrf();
    let refused = web
        .post("/my/flags", &[("csrf", &csrf), ("duration_days", "30")])
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn cancelling_in_the_bankid_app_ends_the_login_with_bankids_message() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    web.start_login().await;
    act_on_pending(&hub, "cancel").await;
    let s = web.status().await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["next"], "/bankid/result");
    let result = web.get("/bankid/result").await;
    assert!(
        result.body.contains("Åtgärden avbruten."),
        "RFA6: {}",
        result.body
    );
    assert!(web.session_cookie().is_some());
    assert_eq!(
        web.get("/my").await.location(),
        Some("/login"),
        "not logged in"
    );
}

#[tokio::test]
async fn an_order_that_expires_ends_with_bankids_message() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    web.lang = Some("en");
    web.start_login().await;
    act_on_pending(&hub, "expire").await;
    // Without scripts: the refresh link collects and lands on the result.
    let page = web.get("/bankid").await;
    assert_eq!(page.location(), Some("/bankid/result"));
    let result = web.get("/bankid/result").await;
    assert!(
        result.body.contains("The BankID app is not responding"),
        "RFA8: {}",
        result.body
    );
}

#[tokio::test]
async fn cancelling_on_the_page_cancels_the_order_at_bankid() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    let page = web.start_login().await;
    assert_eq!(pending_orders(&hub).await.len(), 1);
    let out = web.post("/bankid/cancel", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.location(), Some("/bankid/result"));
    assert!(pending_orders(&hub).await.is_empty());
    assert!(
        web.get("/bankid/result")
            .await
            .body
            .contains("Åtgärden avbruten.")
    );
}

#[tokio::test]
async fn a_second_login_while_one_is_pending_replaces_the_first_order() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    web.start_login().await;
    let first = pending_orders(&hub).await[0]["orderRef"].clone();
    web.start_login().await;
    let orders = pending_orders(&hub).await;
    assert_eq!(orders.len(), 1, "the first order was cancelled: {orders:?}");
    assert_ne!(orders[0]["orderRef"], first);
    approve_pending(&hub, ANNA).await;
    assert_eq!(web.status().await["next"], "/my");
}

#[tokio::test]
async fn a_signature_by_another_person_changes_nothing() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    let mut web = logged_in(&hub).await;
    let s = web
        .sign(&hub, "/my/flags", &[("duration_days", "365")], ERIK)
        .await;
    assert_eq!(s["status"], "failed", "{s}");
    let result = web.get("/bankid/result").await;
    assert!(result.body.contains("ett annat BankID"), "{}", result.body);
    let (_, m) = hub.match_one(&key, ANNA_DASHED).await;
    assert_eq!(m["results"][0]["flagged"], false);
    let (_, m) = hub.match_one(&key, "19811228-9874").await;
    assert_eq!(m["results"][0]["flagged"], false);
}

#[tokio::test]
async fn bankid_errors_give_a_clear_error_page_not_a_server_error() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    let csrf = web.get("/login").await.csrf();
    device(
        &hub,
        "/api/faults",
        serde_json::json!({"kind": "maintenance", "endpoint": "auth"}),
    )
    .await;
    let page = web.post("/login", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 502);
    assert!(
        page.body.contains("Internt tekniskt fel"),
        "RFA5: {}",
        page.body
    );
    // A failing collect ends the order with a message instead of hanging.
    web.post("/login", &[("csrf", &csrf)]).await;
    device(
        &hub,
        "/api/faults",
        serde_json::json!({"kind": "internalError", "endpoint": "collect"}),
    )
    .await;
    let s = web.status().await;
    assert_eq!(s["status"], "failed");
    assert!(
        web.get("/bankid/result")
            .await
            .body
            .contains("Internt tekniskt fel")
    );
}

#[tokio::test]
async fn an_invalid_police_report_number_or_duration_is_refused_before_bankid_is_asked() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = logged_in(&hub).await;
    let csrf = web.get("/my").await.csrf();
    let bad = web
        .post(
            "/my/flags",
            &[
                ("csrf", &csrf),
                ("duration_days", "365"),
                ("police_report_reference", "K123-24"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("5000-K123456-24"), "{}", bad.body);
    let five_years = web
        .post("/my/flags", &[("csrf", &csrf), ("duration_days", "1826")])
        .await;
    assert_eq!(five_years.status, 422, "5 years needs a police report");
    let nonsense = web
        .post("/my/flags", &[("csrf", &csrf), ("duration_days", "many")])
        .await;
    assert_eq!(nonsense.status, 422);
    assert!(pending_orders(&hub).await.is_empty());
}

#[tokio::test]
async fn swedish_is_the_default_and_english_follows_accept_language_and_the_switch() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    let sv = web.get("/").await;
    assert!(sv.body.contains("<html lang=\"sv\">"));
    assert!(sv.body.contains("Spärra ditt personnummer"));
    web.lang = Some("en-GB,en;q=0.9,sv;q=0.5");
    let en = web.get("/").await;
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("Flag your personal number"));
    assert!(!en.body.contains("Spärra"), "no mixed page");
    web.lang = None;
    let switch = web.get("/lang/en?to=/login").await;
    assert_eq!(switch.location(), Some("/login"));
    assert!(web.get("/login").await.body.contains("<html lang=\"en\">"));
    let open_redirect = web.get("/lang/sv?to=//evil.example").await;
    assert_eq!(open_redirect.location(), Some("/"));
}

#[tokio::test]
async fn the_qr_code_is_an_svg_image_that_changes_every_second() {
    let hub = TestHub::start_web(|_| {}).await;
    let mut web = WebClient::new(&hub);
    let page = web.start_login().await;
    assert!(page.body.contains("<img id=\"qr\" src=\"/bankid/qr.svg\""));
    assert!(page.body.contains("bankid:///?autostarttoken="));
    let first = web.get("/bankid/qr.svg").await;
    assert_eq!(first.header("content-type"), Some("image/svg+xml"));
    assert!(first.body.contains("<svg"));
    assert_eq!(
        web.get("/bankid/qr.svg").await.body,
        first.body,
        "same second, same code"
    );
    hub.clock.advance(chrono::Duration::seconds(1));
    assert_ne!(web.get("/bankid/qr.svg").await.body, first.body);
    assert!(!first.body.contains("qrStartSecret") && !page.body.contains("secret"));
}

/// A person's lookups in a sealed segment of the subject index are found through its
/// filter, and those in the newest (unsealed) segment without one.
#[tokio::test]
async fn who_checked_me_finds_lookups_on_both_sides_of_a_sealed_segment() {
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    hub.match_one(&key, ANNA_DASHED).await;
    hub.match_one(&key, "19811228-9874").await; // someone else: not Anna's
    hub.seal_the_current_segment().await;
    let built = fraudhub::audit::segments::build_filters(&hub.store, 64)
        .await
        .unwrap();
    assert_eq!(built, 1, "the sealed segment got its filter");
    hub.clock.advance(chrono::Duration::minutes(5));
    let (_, other) = hub.member("pay-b").await;
    hub.match_one(&other, ANNA_DASHED).await;

    let mut web = logged_in(&hub).await;
    let page = web.get("/my/lookups").await;
    assert_eq!(page.status, 200);
    let rows: Vec<&str> = page.body.split("<tr><td>").skip(1).collect();
    assert_eq!(rows.len(), 2, "one lookup in each segment: {}", page.body);
    assert!(rows[0].contains("pay-b"), "newest first: {}", rows[0]);
    assert!(rows[1].contains("bank-a"), "{}", rows[1]);
}
