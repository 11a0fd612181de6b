//! The BankID simulator's device page in a real browser: headless Chromium, driven over
//! the W3C WebDriver protocol (chromedriver), approves an order by clicking its button.
//!
//! Needs `chromium` and `chromedriver` (Debian packages `chromium`, `chromium-driver`);
//! `scripts/test.sh` installs them and sets `FRAUDHUB_TEST_REQUIRE_BROWSER=1`, which turns a
//! missing browser into a failure instead of a skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fraudhub::bankid::{CollectStatus, OrderRequest};
use serde_json::{Value, json};

use crate::bankid_support::{TestResult, start};

/// W3C WebDriver's key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        resp["value"].clone()
    }
}

fn find_chromedriver() -> Option<String> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_string)
}

async fn start_driver() -> Option<Driver> {
    let Some(binary) = find_chromedriver() else {
        assert!(
            std::env::var("FRAUDHUB_TEST_REQUIRE_BROWSER").is_err(),
            "FRAUDHUB_TEST_REQUIRE_BROWSER is set but chromedriver is not installed"
        );
        eprintln!("skipped: chromedriver not installed (scripts/test.sh installs it)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..100 {
        if let Ok(r) = driver
            .http
            .get(format!("{}/status", driver.base))
            .send()
            .await
            && r.status().is_success()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not come up");
}

#[tokio::test]
async fn a_person_approves_an_order_by_clicking_approve_on_the_device_page() -> TestResult {
    let Some(driver) = start_driver().await else {
        return Ok(());
    };
    let env = start().await?;
    let order = env.client.auth(&OrderRequest::new("127.0.0.1")).await?;
    let profile = tempfile::tempdir()?;
    let session = driver
        .call(
            reqwest::Method::POST,
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--no-first-run", "--disable-dev-shm-usage",
                             format!("--user-data-dir={}", profile.path().display())]
                }
            }}})),
        )
        .await;
    let id = session["sessionId"].as_str().expect("session").to_string();
    let s = |p: &str| format!("/session/{id}{p}");

    driver
        .call(
            reqwest::Method::POST,
            &s("/url"),
            Some(json!({"url": format!("{}/", env.device_url)})),
        )
        .await;
    let title = driver.call(reqwest::Method::GET, &s("/title"), None).await;
    assert_eq!(title, "BankID simulator device");
    let selector = format!(
        "form[action$='/ui/orders/{}/approve'] button",
        order.order_ref
    );
    let button = driver
        .call(
            reqwest::Method::POST,
            &s("/element"),
            Some(json!({"using": "css selector", "value": selector})),
        )
        .await;
    let button_id = button[ELEMENT]
        .as_str()
        .unwrap_or_else(|| panic!("approve button on the page: {button}"))
        .to_string();
    driver
        .call(
            reqwest::Method::POST,
            &s(&format!("/element/{button_id}/click")),
            Some(json!({})),
        )
        .await;

    // The form posts, the page redirects back and no longer lists the order as pending.
    let mut after = String::new();
    for _ in 0..50 {
        after = driver
            .call(reqwest::Method::GET, &s("/source"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string();
        if !after.contains(&order.order_ref) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !after.contains(&order.order_ref),
        "order still pending after the click"
    );
    let done = env.client.collect(&order.order_ref).await?;
    assert_eq!(done.status, CollectStatus::Complete);
    driver.call(reqwest::Method::DELETE, &s(""), None).await;
    Ok(())
}
