//! The page templates (askama, compiled and checked at build time, HTML-escaped) and
//! the plain view models they render.

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::i18n::{Lang, Texts};
use crate::flags::own::PlacedFlag;
use crate::flags::{FlagKind, FlagStatus};

/// What every page shares: the texts, the `lang` attribute, the language switch and
/// the logout button.
pub struct Chrome {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub switch_href: String,
    pub logout_csrf: Option<String>,
    /// An agent console page: no link to the consumer's own pages.
    pub agent: bool,
}

impl Chrome {
    pub fn new(lang: Lang, path: &str, logout_csrf: Option<String>) -> Chrome {
        Chrome {
            t: lang.texts(),
            lang: lang.code(),
            other_lang: lang.other().code(),
            switch_href: format!("/lang/{}?to={}", lang.other().code(), safe_path(path)),
            logout_csrf,
            agent: false,
        }
    }

    pub fn for_agent(mut self) -> Chrome {
        self.agent = true;
        self
    }
}

/// A local path to return to after switching language: only our own page paths, so
/// the switch cannot be used as an open redirect.
pub fn safe_path(path: &str) -> &str {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if ok { path } else { "/" }
}

/// Renders a template as an HTML response.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A time as a person in Sweden reads it.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn local_date(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%d")
        .to_string()
}

#[derive(Template)]
#[template(path = "start.html")]
pub struct StartPage {
    pub c: Chrome,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "bankid.html")]
pub struct BankIdPage {
    pub c: Chrome,
    pub title: &'static str,
    pub message: &'static str,
    pub autostart: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub title: &'static str,
    pub message: &'static str,
    pub alert: bool,
    pub link: Option<(&'static str, &'static str)>,
}

/// A confirmation with a date after the message ("… valid until 2027-11-25").
#[derive(Template)]
#[template(path = "done.html")]
pub struct DonePage {
    pub c: Chrome,
    pub message: &'static str,
    pub until: Option<String>,
}

pub struct FlagView {
    pub id: String,
    pub kind: &'static str,
    pub since: String,
    pub until: String,
    pub placed_by: String,
    pub police_report: Option<String>,
    pub status: &'static str,
    pub own: bool,
}

impl FlagView {
    pub fn new(t: &Texts, f: &PlacedFlag, now: DateTime<Utc>) -> FlagView {
        let flag = &f.flag;
        FlagView {
            id: flag.id.clone(),
            kind: match flag.kind {
                FlagKind::Consumer => t.kind_consumer,
                FlagKind::IdentityTheft => t.kind_identity_theft,
                FlagKind::PoliceReport => t.kind_police_report,
            },
            since: local_date(flag.created_at),
            until: local_date(flag.lifted_at.unwrap_or(flag.expires_at)),
            placed_by: f
                .member_name
                .clone()
                .unwrap_or_else(|| t.placed_by_you.to_string()),
            police_report: flag.police_report_reference.clone(),
            status: match flag.status(now) {
                FlagStatus::Active => t.status_active,
                FlagStatus::Lifted => t.status_lifted,
                FlagStatus::Expired => t.status_expired,
            },
            own: f.is_own(),
        }
    }
}

#[derive(Template)]
#[template(path = "my.html")]
pub struct MyPage {
    pub c: Chrome,
    pub csrf: String,
    pub name: String,
    pub active: Vec<FlagView>,
    pub past: Vec<FlagView>,
}

pub struct LookupView {
    pub when: String,
    pub who: String,
    pub what: &'static str,
    pub why: &'static str,
    pub told: &'static str,
}

#[derive(Template)]
#[template(path = "lookups.html")]
pub struct LookupsPage {
    pub c: Chrome,
    pub rows: Vec<LookupView>,
    pub older: Option<String>,
    pub paged: bool,
}
