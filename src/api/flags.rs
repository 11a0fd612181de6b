//! `/v1/flags`: members place, read and lift flags on personal numbers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::extract::{ApiPath, RequestId, parse_json};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::clock::{from_millis, to_millis};
use crate::flags::{FlagKind, check_member_flag};
use crate::identifiers::IdentifierKind;
use crate::members::{Caller, Scope};
use crate::store::{FlagRow, Idempotency, IdempotentOutcome, NewFlag, StoreError};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceFlagRequest {
    pub identifier: IdentifierInput,
    pub kind: FlagKind,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
    /// 30, 365 (default) or 730; up to 1826 with a police report reference.
    pub duration_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    pub id: String,
    pub kind: String,
    /// `active`, `lifted` or `expired`.
    pub status: &'static str,
    pub since: String,
    pub expires: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<String>,
    pub consent_reference: Option<String>,
    pub police_report_reference: Option<String>,
}

impl FlagView {
    fn from_row(row: &FlagRow, now: i64) -> Self {
        let status = match row.lifted_at {
            Some(_) => "lifted",
            None if row.expires_at <= now => "expired",
            None => "active",
        };
        FlagView {
            id: row.id.clone(),
            kind: row.kind.clone(),
            status,
            since: from_millis(row.created_at).to_rfc3339(),
            expires: from_millis(row.expires_at).to_rfc3339(),
            lifted_at: row.lifted_at.map(|t| from_millis(t).to_rfc3339()),
            consent_reference: row.consent_reference.clone(),
            police_report_reference: row.police_report_reference.clone(),
        }
    }
}

const IDEMPOTENCY_KEY_MAX: usize = 128;

#[utoipa::path(post, path = "/v1/flags", request_body = PlaceFlagRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = FlagView), (status = "4XX", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:write"])))]
pub async fn place(
    State(state): State<AppState>,
    caller: Caller,
    request_id: RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<FlagView>), ApiError> {
    caller.require(Scope::FlagsWrite)?;
    let req: PlaceFlagRequest = parse_json(&headers, &body)?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            // Wiped when the request ends: the key ties retries of a request about a
            // person together.
            Ok(k) if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_MAX => {
                Some(Zeroizing::new(k.to_string()))
            }
            _ => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 128 visible ASCII characters",
                ));
            }
        },
    };
    let now = state.clock.now();
    if req.identifier.kind != IdentifierKind::SePersonalNumber {
        return Err(ApiError::invalid(
            "identifier.kind",
            "flags are placed on se_personal_number identifiers",
        ));
    }
    let subject = req.identifier.normalise("identifier", now)?;
    let expires = check_member_flag(
        req.kind,
        req.consent_reference.as_deref(),
        req.police_report_reference.as_deref(),
        req.duration_days,
        now,
    )
    .map_err(|e| ApiError::invalid(e.field, e.reason))?;
    let token = state.pseudonymiser.token(&subject);
    let id = format!("flg_{}", hex::encode(rand::random::<[u8; 12]>()));
    let fingerprint = state.pseudonymiser.fingerprint(&body);
    let new = NewFlag {
        id: &id,
        member_id: caller.member.id,
        subject_token: &token.bytes,
        key_version: token.version,
        kind: req.kind.as_str(),
        consent_reference: req.consent_reference.as_deref().map(str::trim),
        police_report_reference: req.police_report_reference.as_deref().map(str::trim),
        created_at: to_millis(now),
        expires_at: to_millis(expires),
    };
    // Only a keyed hash of the member's key is stored: members choose keys freely and
    // some put case numbers or personal numbers in them.
    let key_hash = idempotency_key.as_deref().map(|k| {
        state
            .pseudonymiser
            .idempotency_key_hash(caller.member.id, k)
    });
    let idem = key_hash.as_ref().map(|h| Idempotency {
        key_hash: h,
        fingerprint: &fingerprint,
        forgotten_at_or_before: state
            .settings
            .retention
            .idempotency_forgotten_at_or_before(now),
    });
    let audit = state.audit_context(&caller, now, &request_id);
    let created = audit.row("flag.place", None, Some(token), "created");
    // A new flag commits together with its audit entry; a replay is audited on its own.
    let flag_id = match state.store.insert_flag(&new, idem.as_ref(), &created).await {
        Ok(IdempotentOutcome::Created) => id,
        Ok(IdempotentOutcome::Replayed { flag_id }) => {
            let entry = audit.row("flag.place", None, Some(token), "replayed");
            state.audit.record(vec![entry]).await?;
            flag_id
        }
        Err(StoreError::Conflict(why)) => return Err(ApiError::invalid("Idempotency-Key", why)),
        Err(e) => return Err(e.into()),
    };
    let row = state.store.member_flag(caller.member.id, &flag_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(FlagView::from_row(&row, to_millis(now))),
    ))
}

#[utoipa::path(get, path = "/v1/flags/{id}", params(("id" = String, Path)),
    responses((status = 200, body = FlagView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:write"])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    request_id: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlagView>, ApiError> {
    caller.require(Scope::FlagsWrite)?;
    let now = state.clock.now();
    let row = state.store.member_flag(caller.member.id, &id).await?;
    let token = row_token(&row);
    let entry = state
        .audit_context(&caller, now, &request_id)
        .row("flag.read", None, token, "ok");
    state.audit.record(vec![entry]).await?;
    Ok(Json(FlagView::from_row(&row, to_millis(now))))
}

#[utoipa::path(post, path = "/v1/flags/{id}/lift", params(("id" = String, Path)),
    responses((status = 200, body = FlagView), (status = 404, body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["flags:write"])))]
pub async fn lift(
    State(state): State<AppState>,
    caller: Caller,
    request_id: RequestId,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FlagView>, ApiError> {
    caller.require(Scope::FlagsWrite)?;
    let now = state.clock.now();
    let audit = state.audit_context(&caller, now, &request_id);
    let entry = |flag: &FlagRow| audit.row("flag.lift", None, row_token(flag), "lifted");
    let (row, lifted) = state
        .store
        .lift_flag(caller.member.id, &id, to_millis(now), entry)
        .await?;
    if !lifted {
        let again = audit.row("flag.lift", None, row_token(&row), "already_lifted");
        state.audit.record(vec![again]).await?;
    }
    Ok(Json(FlagView::from_row(&row, to_millis(now))))
}

fn row_token(row: &FlagRow) -> Option<crate::pseudonym::Token> {
    let bytes = <[u8; 32]>::try_from(row.subject_token.as_slice()).ok()?;
    Some(crate::pseudonym::Token {
        version: row.key_version,
        bytes,
    })
}
