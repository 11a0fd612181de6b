//! Headless Chromium over the W3C WebDriver protocol (chromedriver), for tests of pages
//! in a real browser.
//!
//! Needs `chromium` and `chromedriver` (Debian packages `chromium`, `chromium-driver`);
//! `scripts/test.sh` installs them and sets `FRAUDHUB_TEST_REQUIRE_BROWSER=1`, which turns a
//! missing browser into a failure instead of a skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// W3C WebDriver's key for element references.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    /// A new browser window with a profile of its own.
    pub async fn session(&self, profile: &std::path::Path) -> Session<'_> {
        let session = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": ["--headless", "--no-sandbox", "--disable-gpu",
                                 "--disable-background-networking", "--no-first-run",
                                 "--disable-dev-shm-usage", "--window-size=1000,1400",
                                 format!("--user-data-dir={}", profile.display())]
                    }
                }}})),
            )
            .await;
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("session: {session}"))
            .to_string();
        Session { driver: self, id }
    }
}

fn find_chromedriver() -> Option<String> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_string)
}

/// chromedriver on a free port, or `None` (a skip) when it is not installed and the
/// browser is not required.
pub async fn start_driver() -> Option<Driver> {
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

/// One browser window.
pub struct Session<'d> {
    driver: &'d Driver,
    pub id: String,
}

impl Session<'_> {
    fn path(&self, p: &str) -> String {
        format!("/session/{}{p}", self.id)
    }

    pub async fn call(&self, method: reqwest::Method, p: &str, body: Option<Value>) -> Value {
        self.driver.call(method, &self.path(p), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element a CSS selector finds; panics when there is none.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// PNG of the whole window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("png")
    }

    /// PNG of one element.
    pub async fn element_screenshot(&self, css: &str) -> Vec<u8> {
        let el = self.find(css).await;
        let b64 = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{el}/screenshot"),
                None,
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("png")
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn execute_async(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits (up to 15 s) until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let mut now = String::new();
        for _ in 0..300 {
            now = self.url().await;
            if url::Url::parse(&now).is_ok_and(|u| u.path() == path) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {path}; at {now}");
    }

    pub async fn close(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

/// axe-core's script, or `None` (a skip) when it is not installed and the browser is not
/// required (`scripts/test.sh` installs it into `target/axe`).
pub fn axe_source() -> Option<String> {
    let path = std::env::var("FRAUDHUB_TEST_AXE_JS").map_or_else(
        |_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/axe/node_modules/axe-core/axe.min.js")
        },
        std::path::PathBuf::from,
    );
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) => {
            assert!(
                std::env::var("FRAUDHUB_TEST_REQUIRE_BROWSER").is_err(),
                "FRAUDHUB_TEST_REQUIRE_BROWSER is set but axe-core is missing at {}",
                path.display()
            );
            eprintln!("skipped: axe-core not installed (scripts/test.sh installs it)");
            None
        }
    }
}

impl Session<'_> {
    /// Runs axe-core on the current page and returns its serious and critical
    /// violations (`[]` when there are none).
    pub async fn axe_violations(&self, axe: &str) -> Value {
        self.execute(&format!("{axe};return true;")).await;
        self.execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']}).then(r => done(\
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                 .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
             .catch(e => done(['axe failed: ' + e]));",
        )
        .await
    }
}
