//! Server-rendered HTML page of the device control surface: pending orders
//! with buttons, a QR "scan" box and the test persons. No scripts and no
//! inline styles (the stylesheet is a same-origin asset so the
//! Content-Security-Policy can forbid everything inline); forms post and
//! redirect back (POST-redirect-GET).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::persons::TEST_PERSONS;
use super::state::SimState;
use super::user::UserAction;
use crate::bankid::secret::PersonalNumber;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where this router is mounted, so links work under any `nest` prefix.
fn prefix(original: &Uri, local: &Uri) -> String {
    let full = original.path();
    let tail = local.path();
    let base = if tail == "/" {
        full
    } else {
        full.strip_suffix(tail).unwrap_or("")
    };
    base.trim_end_matches('/').to_owned()
}

fn back(prefix: &str, msg: &str) -> Response {
    let mut target = if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix.to_owned()
    };
    let encoded: String = msg
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    target.push_str("?msg=");
    target.push_str(&encoded);
    Redirect::to(&target).into_response()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
form{display:inline}.msg{background:#ffd;padding:.5em}code{font-size:.85em}";

pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

pub(crate) async fn index(
    State(s): State<Arc<SimState>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Html<String> {
    let p = prefix(&original, &uri);
    let orders = s.with_book(|b, now, cfg| b.pending_views(now, cfg));
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>BankID simulator device</title>\
         <link rel=stylesheet href=\"{p}/style.css\"></head><body><h1>BankID simulator: user's device</h1>\
         <p>This page plays the user's BankID app for the fraudhub simulator. <a href=\"{p}/\">Refresh</a></p>"
    );
    if let Some(msg) = q.get("msg") {
        let _ = write!(h, "<p class=msg>{}</p>", esc(msg));
    }
    let _ = write!(
        h,
        "<h2>Scan a QR code</h2><form method=post action=\"{p}/ui/scan\">\
         <input name=qr size=110 placeholder=\"bankid.&lt;qrStartToken&gt;.&lt;seconds&gt;.&lt;code&gt;\" required> \
         <button>Scan</button></form><h2>Pending orders</h2>"
    );
    if orders.is_empty() {
        h.push_str("<p>No pending orders.</p>");
    } else {
        h.push_str("<table><tr><th>orderRef</th><th>kind</th><th>hint</th><th>age (s)</th><th>user</th><th>actions</th></tr>");
        for o in &orders {
            let r = esc(&o.order_ref);
            let _ = write!(
                h,
                "<tr><td><code>{r}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form method=post action=\"{p}/ui/orders/{r}/approve\"><select name=personalNumber>\
                 <option value=\"\">(bound or default person)</option>",
                o.kind.as_str(),
                esc(&o.hint_code),
                o.age_secs,
                esc(o.personal_number_masked.as_deref().unwrap_or("-")),
            );
            for t in TEST_PERSONS {
                let _ = write!(
                    h,
                    "<option value=\"{}\">{} {}</option>",
                    t.personal_number, t.given_name, t.surname
                );
            }
            h.push_str("</select> <button>Approve</button></form> ");
            let mut actions = vec![("cancel", "Cancel"), ("expire", "Let expire")];
            if o.kind.is_phone() {
                actions.push(("confirm-call", "Confirm call"));
                actions.push(("decline-call", "Decline call"));
            }
            for (a, label) in actions {
                let _ = write!(
                    h,
                    "<form method=post action=\"{p}/ui/orders/{r}/{a}\"><button>{label}</button></form> "
                );
            }
            h.push_str("</td></tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Test persons</h2><ul>");
    for t in TEST_PERSONS {
        let _ = write!(
            h,
            "<li><code>{}</code> {} {}</li>",
            t.personal_number, t.given_name, t.surname
        );
    }
    h.push_str("</ul></body></html>");
    Html(h)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionForm {
    #[serde(default)]
    personal_number: Option<String>,
}

pub(crate) async fn form_action(
    State(s): State<Arc<SimState>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Path((order_ref, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let p = prefix(&original, &uri);
    let result = s.with_book(|b, now, cfg| {
        let user_action = match action.as_str() {
            "approve" => {
                let person = form
                    .personal_number
                    .filter(|v| !v.is_empty())
                    .map(PersonalNumber::new);
                return b.approve(&order_ref, person, now, cfg);
            }
            "cancel" => UserAction::Cancel,
            "expire" => UserAction::Expire,
            "confirm-call" => UserAction::ConfirmCall,
            "decline-call" => UserAction::DeclineCall,
            _ => return Err(super::orders::OrderError::Rejected("unknown action".into())),
        };
        b.act(&order_ref, user_action, now, cfg)
    });
    match result {
        Ok(()) => back(&p, &format!("{action}: done")),
        Err(e) => back(&p, &format!("{action}: {e}")),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScanForm {
    qr: String,
}

pub(crate) async fn form_scan(
    State(s): State<Arc<SimState>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    Form(form): Form<ScanForm>,
) -> Response {
    let p = prefix(&original, &uri);
    match s.with_book(|b, now, cfg| b.scan(&form.qr, now, cfg)) {
        Ok(_) => back(&p, "QR code accepted: order started"),
        Err(e) => back(&p, &format!("QR code rejected: {e}")),
    }
}
