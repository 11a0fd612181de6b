//! The consumer's whole journey in headless Chromium, in Swedish and in English, with
//! the BankID simulator playing the person's phone: it scans the QR code the page shows
//! (a screenshot of it, decoded), then approves. Every page is checked with axe-core
//! (serious and critical violations fail the test), and screenshots are kept under
//! `target/tmp/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser_support::{Session, axe_source, start_driver};
use crate::common::TestHub;
use crate::web_support::{ANNA, ANNA_NAME};

struct Journey<'a> {
    browser: Session<'a>,
    hub: &'a TestHub,
    axe: &'a str,
    lang: &'static str,
    shots: PathBuf,
    step: u32,
}

impl Journey<'_> {
    async fn open(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.hub.base)).await;
    }

    /// Runs axe-core on the current page; any serious or critical violation fails.
    async fn accessible(&self, what: &str) {
        self.browser
            .execute(&format!("{};return true;", self.axe))
            .await;
        let violations = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(\
                   r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                     .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
                 .catch(e => done(['axe failed: ' + e]));",
            )
            .await;
        assert_eq!(violations, json!([]), "{}: {what}", self.lang);
    }

    async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.browser.screenshot().await;
        std::fs::write(
            self.shots.join(format!(
                "consumer-{}-{:02}-{name}.png",
                self.lang, self.step
            )),
            png,
        )
        .unwrap();
    }

    /// The phone scans the QR code on the screen and the person approves as `pn`.
    async fn scan_and_approve(&self, pn: &str) {
        let png = self.browser.element_screenshot("#qr").await;
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code on the screen");
        let (_, content) = grids[0].decode().unwrap();
        assert!(content.starts_with("bankid."), "{content}");
        let scanned: Value = reqwest::Client::new()
            .post(format!("{}/bankid-sim/api/scan", self.hub.base))
            .json(&json!({ "qr": content }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let order_ref = scanned["orderRef"]
            .as_str()
            .unwrap_or_else(|| panic!("{scanned}"));
        let approved = reqwest::Client::new()
            .post(format!(
                "{}/bankid-sim/api/orders/{order_ref}/approve",
                self.hub.base
            ))
            .json(&json!({ "personalNumber": pn }))
            .send()
            .await
            .unwrap();
        assert!(approved.status().is_success());
    }

    async fn text(&self) -> String {
        self.browser
            .execute("return document.body.innerText;")
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

struct Words {
    start: &'static str,
    done_placed: &'static str,
    purpose: &'static str,
    flagged: &'static str,
    lifted: &'static str,
    logged_out: &'static str,
}

const SV: Words = Words {
    start: "Spärra ditt personnummer mot bedrägeri",
    done_placed: "Ditt personnummer är spärrat",
    purpose: "Öppna konto",
    flagged: "Spärrat – kontrollera identiteten",
    lifted: "Spärren är borttagen.",
    logged_out: "Du är utloggad",
};

const EN: Words = Words {
    start: "Flag your personal number against fraud",
    done_placed: "Your personal number is flagged",
    purpose: "Opening an account",
    flagged: "Flagged – verify identity",
    lifted: "The flag is lifted.",
    logged_out: "You are logged out",
};

async fn journey(lang: &'static str, words: &Words) {
    let Some(driver) = start_driver().await else {
        return;
    };
    let Some(axe) = axe_source() else {
        return;
    };
    let hub = TestHub::start_web(|_| {}).await;
    let (_, key) = hub.member("bank-a").await;
    let profile = tempfile::tempdir().unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut j = Journey {
        browser: driver.session(profile.path()).await,
        hub: &hub,
        axe: &axe,
        lang,
        shots,
        step: 0,
    };

    // The start page in the browser's language (Chromium asks for en-US); the other
    // language through the switch, which then sticks.
    j.open("/").await;
    let shown = j
        .browser
        .execute("return document.documentElement.lang;")
        .await;
    if shown != lang {
        j.browser.click(&format!("a[hreflang='{lang}']")).await;
        j.browser.wait_for_path("/").await;
    }
    let html_lang = j
        .browser
        .execute("return document.documentElement.lang;")
        .await;
    assert_eq!(html_lang, lang);
    assert!(j.text().await.contains(words.start));
    j.accessible("start page").await;
    j.shot("start").await;

    // Log in: the login page, the QR page, the phone scans and approves.
    j.browser.click("a.button[href='/login']").await;
    j.browser.wait_for_path("/login").await;
    j.accessible("login page").await;
    j.browser.click("#login").await;
    j.browser.wait_for_path("/bankid").await;
    j.accessible("BankID page").await;
    j.shot("bankid-qr").await;
    j.scan_and_approve(ANNA).await;
    j.browser.wait_for_path("/my").await;
    assert!(j.text().await.contains(ANNA_NAME));
    j.accessible("my page").await;
    j.shot("my-page").await;

    // Place a one-year flag (the default choice) and sign it.
    j.browser.click("#place-button").await;
    j.browser.wait_for_path("/bankid").await;
    j.scan_and_approve(ANNA).await;
    j.browser.wait_for_path("/my/done").await;
    assert!(j.text().await.contains(words.done_placed));
    assert!(j.text().await.contains("2027-11-25"));
    j.accessible("confirmation").await;
    j.shot("flag-placed").await;

    // A member's match right after says flagged, and shows up in "who checked me".
    let (_, answer) = hub.match_one(&key, "19900101-2385").await;
    assert_eq!(answer["results"][0]["flagged"], true, "{answer}");
    j.open("/my/lookups").await;
    let text = j.text().await;
    assert!(text.contains("bank-a"), "{text}");
    assert!(text.contains(words.purpose), "{text}");
    assert!(text.contains(words.flagged), "{text}");
    j.accessible("who checked me").await;
    j.shot("who-checked-me").await;

    // The export, fetched as the download link would.
    let export = j
        .browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch('/my/export').then(r => r.json()).then(done).catch(e => done(String(e)));",
        )
        .await;
    assert_eq!(export["flags"].as_array().unwrap().len(), 1, "{export}");
    assert_eq!(export["lookups"][0]["member"], "bank-a");
    assert!(
        !export["lookups"][0]["inclusion_proof"]
            .as_array()
            .unwrap()
            .is_empty()
            || export["checkpoint"]["tree_size"] == 2
    );

    // Lift the flag, confirmed with a signature.
    j.open("/my").await;
    j.browser.click("button.lift").await;
    j.browser.wait_for_path("/bankid").await;
    j.scan_and_approve(ANNA).await;
    j.browser.wait_for_path("/my/done").await;
    assert!(j.text().await.contains(words.lifted));
    let (_, answer) = hub.match_one(&key, "19900101-2385").await;
    assert_eq!(answer["results"][0]["flagged"], false);

    // Log out: the session is gone, my page asks for a login again.
    j.browser.click("header form button").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(j.text().await.contains(words.logged_out));
    j.accessible("logged out").await;
    j.shot("logged-out").await;
    j.open("/my").await;
    j.browser.wait_for_path("/login").await;
    // No page keeps the personal number; the browser holds only the session cookie.
    let storage = j
        .browser
        .execute("return window.localStorage.length + window.sessionStorage.length;")
        .await;
    assert_eq!(storage, 0);
    j.browser.close().await;
}

#[tokio::test]
async fn the_whole_consumer_journey_works_in_a_real_browser_in_swedish() {
    journey("sv", &SV).await;
}

#[tokio::test]
async fn the_whole_consumer_journey_works_in_a_real_browser_in_english() {
    journey("en", &EN).await;
}
