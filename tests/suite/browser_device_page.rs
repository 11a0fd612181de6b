//! The BankID simulator's device page in a real browser: headless Chromium, driven over
//! the W3C WebDriver protocol (chromedriver), approves an order by clicking its button.
//!
//! See `browser_support` for what the browser needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fraudhub::bankid::{CollectStatus, OrderRequest};
use serde_json::json;

use crate::bankid_support::{TestResult, start};
use crate::browser_support::{ELEMENT, start_driver};

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
