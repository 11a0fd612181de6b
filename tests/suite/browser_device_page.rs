//! The BankID simulator's device page in a real browser: headless Chromium, driven over
//! the W3C WebDriver protocol (chromedriver), approves an order by clicking its button.
//!
//! See `browser_support` for what the browser needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fraudhub::bankid::{CollectStatus, OrderRequest};

use crate::bankid_support::{TestResult, start};
use crate::browser_support::start_driver;

#[tokio::test]
async fn a_person_approves_an_order_by_clicking_approve_on_the_device_page() -> TestResult {
    let Some(driver) = start_driver().await else {
        return Ok(());
    };
    let env = start().await?;
    let order = env.client.auth(&OrderRequest::new("127.0.0.1")).await?;
    let profile = tempfile::tempdir()?;
    let browser = driver.session(profile.path()).await;
    browser.goto(&format!("{}/", env.device_url)).await;
    let title = browser.call(reqwest::Method::GET, "/title", None).await;
    assert_eq!(title, "BankID simulator device");
    browser
        .click(&format!(
            "form[action$='/ui/orders/{}/approve'] button",
            order.order_ref
        ))
        .await;

    // The form posts, the page redirects back and no longer lists the order as pending.
    let mut after = String::new();
    for _ in 0..50 {
        after = browser.source().await;
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
    browser.close().await;
    Ok(())
}
