//! The hub's route table: the one list the router is built from and the OpenAPI document
//! is checked against.
//!
//! axum cannot list the routes of a built router, so a route added straight to the
//! router would be invisible to any documentation check. Every hub route therefore goes
//! through [`table`]; the tests below fail when the table and the OpenAPI document
//! disagree in either direction.

#[cfg(test)]
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::extract::RequiredScope;
use super::health::Readiness;
use super::{AppState, audit, bulk, callers, events, flags, health, indicators, matches, openapi};
use crate::members::Scope;

/// The methods the hub serves. Kept to the ones in use so a route's method is known
/// without parsing it out of a `MethodRouter`, which axum does not expose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verb {
    Get,
    Post,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }

    /// The key of this method in an OpenAPI path item.
    #[cfg(test)]
    fn openapi_key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }
}

pub(crate) struct Route {
    /// Already applied to `handler`; kept so the documentation checks can read it.
    pub verb: Verb,
    pub path: &'static str,
    /// The scope a member's key needs; `None` for public routes. Stated only here: the
    /// `Caller` extractor enforces it and the tests hold the OpenAPI document to it.
    pub scope: Option<Scope>,
    pub handler: MethodRouter<AppState>,
}

fn route<H, T>(verb: Verb, path: &'static str, scope: Option<Scope>, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let handler = on(verb.filter(), handler);
    Route {
        verb,
        path,
        scope,
        handler: match scope {
            Some(s) => handler.layer(Extension(RequiredScope(s))),
            None => handler,
        },
    }
}

/// Every hub route. `readiness` is per router (not global) so that two hubs in one
/// process never share a cached readiness answer.
pub(crate) fn table(readiness: &Arc<Readiness>) -> Vec<Route> {
    let readiness = readiness.clone();
    use Scope::{
        AgentsManage, AuditRead, CallersVerify, EventsRead, FlagsRead, FlagsWrite, IndicatorsRead,
        IndicatorsWrite, MatchesRead, WatchlistWrite, WebhooksManage,
    };
    use Verb::{Get, Post};
    vec![
        route(Post, "/v1/flags", Some(FlagsWrite), flags::place),
        route(Get, "/v1/flags/{id}", Some(FlagsRead), flags::get),
        route(Post, "/v1/flags/{id}/lift", Some(FlagsWrite), flags::lift),
        route(Post, "/v1/matches", Some(MatchesRead), matches::run),
        route(Post, "/v1/matches/bulk", Some(MatchesRead), bulk::run),
        route(
            Post,
            "/v1/indicators",
            Some(IndicatorsWrite),
            indicators::publish,
        ),
        route(
            Get,
            "/v1/indicators",
            Some(IndicatorsRead),
            indicators::list,
        ),
        route(
            Get,
            "/v1/indicators/{id}",
            Some(IndicatorsRead),
            indicators::get,
        ),
        route(
            Post,
            "/v1/indicators/{id}/revoke",
            Some(IndicatorsWrite),
            indicators::revoke,
        ),
        route(
            Post,
            "/v1/indicators/{id}/uphold",
            Some(IndicatorsWrite),
            indicators::uphold,
        ),
        route(
            Post,
            "/v1/indicators/{id}/sightings",
            Some(IndicatorsWrite),
            indicators::sighting,
        ),
        route(
            Post,
            "/v1/indicators/{id}/false-positive-reports",
            Some(IndicatorsWrite),
            indicators::false_positive,
        ),
        route(
            Post,
            "/v1/indicators/disputes",
            Some(IndicatorsWrite),
            indicators::dispute,
        ),
        route(
            Post,
            "/v1/caller-verifications",
            Some(CallersVerify),
            callers::start,
        ),
        route(
            Get,
            "/v1/caller-verifications/{id}",
            Some(CallersVerify),
            callers::get,
        ),
        route(
            Post,
            "/v1/caller-verifications/{id}/cancel",
            Some(CallersVerify),
            callers::cancel,
        ),
        route(Post, "/v1/agents", Some(AgentsManage), callers::enrol),
        route(Get, "/v1/agents", Some(AgentsManage), callers::list),
        route(
            Post,
            "/v1/agents/{id}/disable",
            Some(AgentsManage),
            callers::disable,
        ),
        route(Post, "/v1/watchlist", Some(WatchlistWrite), events::watch),
        route(Get, "/v1/watchlist", Some(WatchlistWrite), events::list),
        route(
            Post,
            "/v1/watchlist/remove",
            Some(WatchlistWrite),
            events::unwatch,
        ),
        route(
            Post,
            "/v1/watchlist/bulk",
            Some(WatchlistWrite),
            events::bulk,
        ),
        route(Get, "/v1/events", Some(EventsRead), events::feed),
        route(Post, "/v1/webhooks", Some(WebhooksManage), events::register),
        route(
            Get,
            "/v1/webhooks",
            Some(WebhooksManage),
            events::list_webhooks,
        ),
        route(
            Post,
            "/v1/webhooks/{id}/rotate-secret",
            Some(WebhooksManage),
            events::rotate,
        ),
        route(
            Post,
            "/v1/webhooks/{id}/replay",
            Some(WebhooksManage),
            events::replay,
        ),
        route(
            Get,
            "/v1/webhooks/{id}/deliveries",
            Some(WebhooksManage),
            events::deliveries,
        ),
        route(Get, "/v1/audit/checkpoint", None, audit::checkpoint),
        route(Get, "/v1/audit/public-key", None, audit::public_key),
        route(Get, "/v1/audit/entries", Some(AuditRead), audit::entries),
        route(
            Get,
            "/v1/audit/entries/{leaf_index}/inclusion",
            Some(AuditRead),
            audit::inclusion,
        ),
        route(
            Get,
            "/v1/audit/consistency",
            Some(AuditRead),
            audit::consistency,
        ),
        route(Get, "/v1/openapi.json", None, openapi::serve),
        route(Get, "/healthz", None, health::live),
        route(
            Get,
            "/readyz",
            None,
            move |State(state): State<AppState>| health::ready(state, readiness),
        ),
    ]
}

/// One served operation as the outside sees it: method, path template and the scope a
/// member's key needs (`None`: public).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub scope: Option<&'static str>,
}

/// Every operation the router serves from the route table, for inventory checks from
/// outside the crate (the OWASP API9 test compares it with the served OpenAPI document).
/// The BankID simulator's device surface and the web pages are not part of it.
pub fn inventory() -> Vec<Operation> {
    let readiness = Arc::new(Readiness::new(health::READY_WINDOW));
    table(&readiness)
        .into_iter()
        .map(|r| Operation {
            method: match r.verb {
                Verb::Get => "GET",
                Verb::Post => "POST",
            },
            path: r.path,
            scope: r.scope.map(Scope::as_str),
        })
        .collect()
}

/// (method, path) pairs of an OpenAPI document serialised as JSON.
#[cfg(test)]
fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    doc.get("paths")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| ((*m).to_string(), path.clone()))
        })
        .collect()
}

/// (method, path) pairs of a route table, in the same shape as [`documented`].
#[cfg(test)]
fn routed(table: &[Route]) -> BTreeSet<(String, String)> {
    table
        .iter()
        .map(|r| (r.verb.openapi_key().to_string(), r.path.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use utoipa::OpenApi;

    use super::*;
    use crate::api::openapi::ApiDoc;

    fn doc() -> serde_json::Value {
        serde_json::to_value(ApiDoc::openapi()).expect("document serialises")
    }

    fn table_now() -> Vec<Route> {
        table(&Arc::new(Readiness::new(Duration::from_secs(1))))
    }

    #[test]
    fn every_routed_operation_is_documented() {
        let undocumented: Vec<_> = routed(&table_now())
            .difference(&documented(&doc()))
            .cloned()
            .collect();
        assert!(
            undocumented.is_empty(),
            "routed but missing from the OpenAPI document: {undocumented:?}"
        );
    }

    #[test]
    fn each_route_documents_exactly_the_scope_it_enforces() {
        let doc = doc();
        for r in table_now() {
            let op = &doc["paths"][r.path][r.verb.openapi_key()];
            let documented: Vec<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["bearer"].as_array())
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .collect();
            let enforced: Vec<&str> = r.scope.map(Scope::as_str).into_iter().collect();
            assert_eq!(documented, enforced, "{} {}", r.verb.openapi_key(), r.path);
        }
    }

    #[test]
    fn every_documented_operation_is_routed() {
        let unrouted: Vec<_> = documented(&doc())
            .difference(&routed(&table_now()))
            .cloned()
            .collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn the_comparison_sees_a_route_added_without_documentation() {
        // Guards the two tests above against comparing two empty sets.
        let mut table = table_now();
        assert!(routed(&table).len() >= 12);
        table.push(route(Verb::Post, "/v1/undocumented", None, || async {}));
        let missing: Vec<_> = routed(&table)
            .difference(&documented(&doc()))
            .cloned()
            .collect();
        assert_eq!(
            missing,
            [("post".to_string(), "/v1/undocumented".to_string())]
        );
    }

    #[test]
    fn the_comparison_sees_a_method_documented_on_a_routed_path_but_not_routed() {
        let mut doc = doc();
        doc["paths"]["/v1/matches"]["get"] = serde_json::json!({"responses": {}});
        let extra: Vec<_> = documented(&doc)
            .difference(&routed(&table_now()))
            .cloned()
            .collect();
        assert_eq!(extra, [("get".to_string(), "/v1/matches".to_string())]);
    }
}
