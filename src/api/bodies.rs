//! Every JSON body the API reads, taken in as its handler takes it before any use case
//! runs: parsed by the extractor's parser and its identifiers normalised. The handlers'
//! body types stay private to the API; this is the public way to drive their parsing
//! (the fuzz targets in `fuzz/` do) without a hub, a database or a key.

use chrono::{DateTime, Utc};

use super::IdentifierInput;
use super::extract::parse_json_line;
use super::problem::ApiError;
use super::{bulk, callers, events, flags, indicators, matches};
use crate::identifiers::IdentifierKind::{self, SePersonalNumber};
use crate::identifiers::normalise;

/// A request body the API reads, by the operation that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// `POST /v1/flags`
    PlaceFlag,
    /// `POST /v1/matches`
    Match,
    /// One line of `POST /v1/matches/bulk` (NDJSON).
    BulkMatchLine,
    /// `POST /v1/indicators`
    PublishIndicator,
    /// `POST /v1/indicators/{id}/sightings` and `…/false-positive-reports`
    IndicatorReport,
    /// `POST /v1/indicators/disputes`
    Dispute,
    /// `POST /v1/caller-verifications`
    StartVerification,
    /// `POST /v1/agents`
    EnrolAgent,
    /// `POST /v1/watchlist`
    Watch,
    /// `POST /v1/watchlist/remove`
    Unwatch,
    /// One line of `POST /v1/watchlist/bulk` (NDJSON).
    BulkWatchLine,
    /// `POST /v1/webhooks`
    Webhook,
    /// `POST /v1/webhooks/{id}/replay`
    WebhookReplay,
}

impl RequestBody {
    pub const ALL: [RequestBody; 13] = [
        Self::PlaceFlag,
        Self::Match,
        Self::BulkMatchLine,
        Self::PublishIndicator,
        Self::IndicatorReport,
        Self::Dispute,
        Self::StartVerification,
        Self::EnrolAgent,
        Self::Watch,
        Self::Unwatch,
        Self::BulkWatchLine,
        Self::Webhook,
        Self::WebhookReplay,
    ];
}

/// Parses `bytes` as the body of `body` and normalises the identifiers it carries,
/// refusing as the handler does: the same status and the same field.
pub fn check_request_body(
    body: RequestBody,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let input = |id: &IdentifierInput, at: &str| id.normalise(at, now).map(drop);
    // The routes that take a bare personal number or phone name the field itself.
    let bare = |kind: IdentifierKind, value: &str, field: &'static str| {
        normalise(kind, value, now.date_naive())
            .map(drop)
            .map_err(|e| ApiError::invalid(field, format!("invalid {}: {e}", kind.as_str())))
    };
    match body {
        RequestBody::PlaceFlag => input(
            &parse_json_line::<flags::PlaceFlagRequest>(bytes)?.identifier,
            "identifier",
        ),
        RequestBody::Match => {
            let req = parse_json_line::<matches::MatchRequest>(bytes)?;
            for (i, id) in req.identifiers.iter().enumerate() {
                input(id, &format!("identifiers[{i}]"))?;
            }
            Ok(())
        }
        RequestBody::BulkMatchLine => {
            let line = parse_json_line::<bulk::BulkLine>(bytes)?;
            bare(line.kind, &line.value, "value")
        }
        RequestBody::PublishIndicator => input(
            &parse_json_line::<indicators::PublishRequest>(bytes)?.identifier,
            "identifier",
        ),
        RequestBody::IndicatorReport => {
            parse_json_line::<indicators::ReportRequest>(bytes).map(drop)
        }
        RequestBody::Dispute => {
            let req = parse_json_line::<indicators::DisputeRequest>(bytes)?;
            bare(SePersonalNumber, &req.personal_number, "personal_number")
        }
        RequestBody::StartVerification => {
            let req = parse_json_line::<callers::StartVerification>(bytes)?;
            bare(SePersonalNumber, &req.personal_number, "personal_number")?;
            match req.caller_phone {
                Some(phone) => bare(IdentifierKind::Phone, &phone, "caller_phone"),
                None => Ok(()),
            }
        }
        RequestBody::EnrolAgent => {
            let req = parse_json_line::<callers::EnrolAgent>(bytes)?;
            bare(SePersonalNumber, &req.personal_number, "personal_number")
        }
        RequestBody::Watch => input(
            &parse_json_line::<events::WatchRequest>(bytes)?.identifier,
            "identifier",
        ),
        RequestBody::Unwatch => input(
            &parse_json_line::<events::UnwatchRequest>(bytes)?.identifier,
            "identifier",
        ),
        RequestBody::BulkWatchLine => input(
            &parse_json_line::<events::BulkWatchLine>(bytes)?.identifier,
            "identifier",
        ),
        RequestBody::Webhook => parse_json_line::<events::WebhookRequest>(bytes).map(drop),
        RequestBody::WebhookReplay => parse_json_line::<events::ReplayRequest>(bytes).map(drop),
    }
}
