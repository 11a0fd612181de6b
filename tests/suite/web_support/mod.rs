//! A browser-like HTTP client for the consumer pages: keeps cookies (the `__Host-`
//! session cookie included), never follows redirects, sends the Origin a browser sends
//! with a form post, and reads the CSRF token out of the page the way a form carries it.
//! Plus the user's side of BankID through the simulator's device surface on the hub.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common::TestHub;

/// Anna, one of the simulator's test persons.
pub const ANNA: &str = "199001012385";
pub const ANNA_NAME: &str = "Anna Andersson";
/// Erik, another of them.
pub const ERIK: &str = "198112289874";

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The value of the first hidden `csrf` input.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').expect("end of value")].to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct WebClient {
    pub base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub lang: Option<&'static str>,
}

impl WebClient {
    pub fn new(hub: &TestHub) -> WebClient {
        WebClient {
            base: hub.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            lang: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header("cookie", self.cookie_header());
        if let Some(lang) = self.lang {
            req = req.header("accept-language", lang);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = resp.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A form post as a browser sends it from one of our pages.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("origin", self.base.clone())
            .header("sec-fetch-site", "same-origin")
            .form(form);
        self.send(req).await
    }

    /// A form post with whatever headers the caller chooses (cross-site attempts).
    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("__Host-fh_session").cloned()
    }

    /// Opens the login page and presses "log in with BankID"; returns the order page.
    pub async fn start_login(&mut self) -> Page {
        let login = self.get("/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let started = self.post("/login", &[("csrf", &login.csrf())]).await;
        assert_eq!(started.status, 303, "{}", started.body);
        assert_eq!(started.location(), Some("/bankid"));
        self.get("/bankid").await
    }

    /// The status the page script polls.
    pub async fn status(&mut self) -> Value {
        let page = self.get("/bankid/status").await;
        assert_eq!(page.status, 200, "{}", page.body);
        serde_json::from_str(&page.body).unwrap()
    }

    /// Logs in as `pn` through the simulator; ends on my page.
    pub async fn login(&mut self, hub: &TestHub, pn: &str) -> Page {
        self.start_login().await;
        approve_pending(hub, pn).await;
        let s = self.status().await;
        assert_eq!(s["next"], "/my", "{s}");
        self.get("/my").await
    }

    /// Submits a form of my page (found by its action) and approves the signature.
    pub async fn sign(
        &mut self,
        hub: &TestHub,
        path: &str,
        form: &[(&str, &str)],
        pn: &str,
    ) -> Value {
        let my = self.get("/my").await;
        let mut fields = vec![("csrf", my.csrf())];
        fields.extend(form.iter().map(|(k, v)| (*k, v.to_string())));
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let started = self.post(path, &refs).await;
        assert_eq!(started.status, 303, "{}", started.body);
        approve_pending(hub, pn).await;
        self.status().await
    }
}

/// The simulator's pending orders, as its device surface lists them.
pub async fn pending_orders(hub: &TestHub) -> Vec<Value> {
    reqwest::get(format!("{}/bankid-sim/api/orders", hub.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The user approves the only pending order in their BankID app as `pn`.
pub async fn approve_pending(hub: &TestHub, pn: &str) -> Value {
    act(hub, "approve", json!({ "personalNumber": pn })).await
}

/// A device-surface action (`cancel`, `expire`, …) on the only pending order.
pub async fn act_on_pending(hub: &TestHub, action: &str) -> Value {
    act(hub, action, json!({})).await
}

async fn act(hub: &TestHub, action: &str, body: Value) -> Value {
    let orders = pending_orders(hub).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = orders[0].clone();
    let order_ref = order["orderRef"].as_str().unwrap();
    device(hub, &format!("/api/orders/{order_ref}/{action}"), body).await;
    order
}

pub async fn device(hub: &TestHub, path: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/bankid-sim{path}", hub.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "{path}: {}",
        resp.text().await.unwrap()
    );
}
