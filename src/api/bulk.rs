//! `POST /v1/matches/bulk`: up to a million identifiers in one streamed request.
//!
//! NDJSON in, NDJSON out, as it goes: one input line `{"ref", "kind", "value"}` gives one
//! output line with the same `line` number and `ref`, either the match result or an
//! `error`; a `summary` line ends the stream. Lines are matched in batches through the
//! same use case and audit group commit as `POST /v1/matches`, so every lookup is audited
//! and its outcome is the answer. Memory is bounded: the input is read as the output is
//! written (a slow reader slows the reading), never whole.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiQuery, RequestId, media_type, parse_json_line};
use super::matches::{MatchResult, refused, result_of};
use super::problem::{ApiError, ProblemBody};
use super::{AppState, IdentifierInput};
use crate::identifiers::Normalised;
use crate::matching::{self, MatchError, Purpose};
use crate::members::Caller;

/// The most lines one request may carry.
pub const MAX_LINES: usize = 1_000_000;
/// The longest input line, in bytes.
pub const MAX_LINE: usize = 4096;
/// Identifiers per audit group commit. Larger batches rewrite fewer pages of the randomly
/// ordered subject index per entry (1,000 → 5,000 cut a 300k-line SQLite run from 13.9 s
/// to 8.9 s; 10,000 gave 8.4 s) but hold the writer longer for real-time matches.
const BATCH: usize = 5000;
/// Batches being matched while the next is read: parsing overlaps the commits.
const IN_FLIGHT: usize = 2;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Why the member asks, for every line.
    pub purpose: Purpose,
}

/// One input line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkLine {
    /// The member's own reference for the line, echoed back (at most 128 characters).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub kind: crate::identifiers::IdentifierKind,
    pub value: String,
}

/// One output line: a result or an error, for input line `line` (from 1).
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub line: usize,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub result: Option<MatchResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LineError>,
}

#[derive(Serialize, ToSchema)]
pub struct LineError {
    /// A problem type slug, as in problem+json (`invalid-field`, `subject-budget-exhausted`…).
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub detail: String,
}

/// The last line of a stream.
#[derive(Serialize, ToSchema, Default)]
pub struct BulkSummary {
    pub lines: usize,
    pub matched: usize,
    pub errors: usize,
    pub flagged: usize,
    pub reported: usize,
    /// Set when the stream stopped early; lines after it were not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Members with a bulk request running on this instance: one at a time per member.
#[derive(Debug, Default)]
pub struct BulkRunning(Mutex<HashSet<i64>>);

struct Slot {
    running: Arc<BulkRunning>,
    member: i64,
}

impl BulkRunning {
    fn claim(self: &Arc<Self>, member: i64) -> Option<Slot> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(member).then(|| Slot {
            running: Arc::clone(self),
            member,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut set = self.running.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.member);
    }
}

#[utoipa::path(post, path = "/v1/matches/bulk", params(BulkQuery),
    request_body(content = BulkLine, content_type = "application/x-ndjson",
        description = "One JSON object per line, at most 1,000,000 lines of at most 4096 bytes"),
    responses((status = 200, content_type = "application/x-ndjson", body = BulkResult,
        description = "One line per input line, then `{\"summary\": …}`"),
        (status = 409, description = "A bulk match is already running for this member", body = ProblemBody, content_type = "application/problem+json")),
    security(("bearer" = ["matches:read"])))]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    request: RequestId,
    ApiQuery(q): ApiQuery<BulkQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    if media_type(req.headers()).as_deref() != Some("application/x-ndjson") {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/x-ndjson",
        ));
    }
    let slot = state
        .bulk_running
        .claim(caller.member.id)
        .ok_or(ApiError::Conflict(
            "a bulk match is already running for this member",
        ))?;
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let body = req.into_body();
    tokio::spawn(async move {
        let _slot = slot;
        stream(state, caller, request, q.purpose, body, tx).await;
    });
    let out = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let mut response = Body::from_stream(out).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response.extensions_mut().insert(crate::server::StreamsBody);
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Lines read but not yet matched.
struct Pending {
    line: usize,
    reference: Option<String>,
    id: Normalised,
}

type Matched = (Vec<Pending>, Result<Vec<matching::Hit>, MatchError>);

struct Run {
    state: AppState,
    caller: Caller,
    request: RequestId,
    purpose: Purpose,
    tx: mpsc::Sender<Bytes>,
    out: Vec<u8>,
    summary: BulkSummary,
    in_flight: VecDeque<JoinHandle<Matched>>,
}

async fn stream(
    state: AppState,
    caller: Caller,
    request: RequestId,
    purpose: Purpose,
    body: Body,
    tx: mpsc::Sender<Bytes>,
) {
    let mut run = Run {
        state,
        caller,
        request,
        purpose,
        tx,
        out: Vec::with_capacity(64 * 1024),
        summary: BulkSummary::default(),
        in_flight: VecDeque::new(),
    };
    let mut input = body.into_data_stream();
    let mut lines = super::ndjson::Lines::new(MAX_LINE);
    let mut pending: Vec<Pending> = Vec::with_capacity(BATCH);
    // The connection stays busy while this runs, so a client that stops sending (or,
    // in `flush`, stops reading) for the request timeout ends the stream.
    let stall = run.state.settings.request_timeout;
    'read: loop {
        let chunk = match tokio::time::timeout(stall, input.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(_))) => {
                run.summary.stopped = Some("the request body could not be read".into());
                break;
            }
            Ok(None) => break,
            Err(_) => {
                run.summary.stopped = Some("the request body stalled".into());
                break;
            }
        };
        for (line, too_long) in lines.split(&chunk) {
            if !run.take_line(&line, too_long, &mut pending) {
                break 'read;
            }
            if pending.len() >= BATCH && !run.match_batch(&mut pending).await {
                break 'read;
            }
        }
    }
    // A last line without a newline.
    if run.summary.stopped.is_none()
        && let Some((line, too_long)) = lines.rest()
    {
        run.take_line(&line, too_long, &mut pending);
    }
    if run.summary.stopped.is_none() && !pending.is_empty() {
        run.match_batch(&mut pending).await;
    }
    while run.summary.stopped.is_none() && !run.in_flight.is_empty() {
        run.answer_oldest().await;
    }
    // After a stop, batches still in flight finish (their entries are audited) unanswered.
    run.in_flight.clear();
    let summary = std::mem::take(&mut run.summary);
    run.emit(&serde_json::json!({ "summary": summary }));
    run.flush().await;
}

impl Run {
    /// Parses one line into `pending` or answers it with an error line; `false` stops
    /// the stream (too many lines).
    fn take_line(&mut self, raw: &[u8], too_long: bool, pending: &mut Vec<Pending>) -> bool {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) && !too_long {
            return true;
        }
        if self.summary.lines == MAX_LINES {
            self.summary.stopped = Some(format!(
                "more than {MAX_LINES} lines; the rest was not read"
            ));
            return false;
        }
        self.summary.lines += 1;
        let line = self.summary.lines;
        if too_long {
            let problem = ApiError::invalid("line", format!("longer than {MAX_LINE} bytes"));
            self.error(line, None, (&problem).into());
            return true;
        }
        let parsed: BulkLine = match parse_json_line(text) {
            Ok(p) => p,
            Err(problem) => {
                // Malformed JSON is a bad line like any other, not a bad request.
                let problem = match problem {
                    ApiError::Invalid { .. } => problem,
                    other => ApiError::invalid("line", other.to_string()),
                };
                self.error(line, None, (&problem).into());
                return true;
            }
        };
        if parsed
            .reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > 128)
        {
            let problem = ApiError::invalid("ref", "at most 128 characters");
            self.error(line, None, (&problem).into());
            return true;
        }
        let input = IdentifierInput {
            kind: parsed.kind,
            value: parsed.value,
        };
        match input.normalise("", self.state.clock.now()) {
            Ok(id) => pending.push(Pending {
                line,
                reference: parsed.reference,
                id,
            }),
            // Named `value`, as on the line, not `.value` as the helper would.
            Err(ApiError::Invalid { detail, .. }) => {
                let problem = ApiError::invalid("value", detail);
                self.error(line, parsed.reference, (&problem).into());
            }
            Err(other) => self.error(line, parsed.reference, (&other).into()),
        }
        true
    }

    /// Starts matching the pending lines (after charging the member's quota, waiting for
    /// it rather than refusing); with enough batches in flight, first answers the oldest.
    /// `false` stops the stream.
    async fn match_batch(&mut self, pending: &mut Vec<Pending>) -> bool {
        if self.in_flight.len() >= IN_FLIGHT && !self.answer_oldest().await {
            return false;
        }
        let batch = std::mem::take(pending);
        self.state
            .limits
            .wait_for(&self.caller.member, batch.len())
            .await;
        let state = self.state.clone();
        let who = state.requester(&self.caller, self.request.clone());
        let budget = self.caller.member.daily_subject_budget;
        let purpose = self.purpose;
        self.in_flight.push_back(tokio::spawn(async move {
            let ids: Vec<Normalised> = batch.iter().map(|p| p.id.clone()).collect();
            let hits = matching::check(state.matching(), who, purpose, &ids, budget).await;
            (batch, hits)
        }));
        true
    }

    /// Waits for the oldest batch in flight and writes its lines; `false` stops the stream.
    async fn answer_oldest(&mut self) -> bool {
        let Some(task) = self.in_flight.pop_front() else {
            return true;
        };
        let (batch, hits) = match task.await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "bulk match: a batch task failed");
                self.summary.stopped = Some("the hub could not match a batch".into());
                return false;
            }
        };
        match hits {
            Ok(hits) => {
                for (p, hit) in batch.into_iter().zip(hits) {
                    self.summary.matched += 1;
                    self.summary.flagged += usize::from(hit.flagged());
                    self.summary.reported += usize::from(hit.summary.reported_by_members > 0);
                    self.emit(&BulkResult {
                        line: p.line,
                        reference: p.reference,
                        result: Some(result_of(hit)),
                        error: None,
                    });
                }
            }
            Err(refusal @ MatchError::Refused(_)) => {
                // Counted and logged as a refused `POST /v1/matches` is; one problem per line.
                let problem = refused(&self.caller, refusal);
                for p in batch {
                    self.error(p.line, p.reference, LineError::from(&problem));
                }
            }
            Err(MatchError::Audit(e)) => {
                tracing::error!(error = %crate::errors::Chain(&e), "bulk match: audit commit failed");
                self.summary.stopped = Some(
                    "the hub could not audit the lookups; nothing after this was matched".into(),
                );
                return false;
            }
        }
        self.flush().await
    }

    fn error(&mut self, line: usize, reference: Option<String>, error: LineError) {
        self.summary.errors += 1;
        self.emit(&BulkResult {
            line,
            reference,
            result: None,
            error: Some(error),
        });
    }

    fn emit(&mut self, value: &impl Serialize) {
        if serde_json::to_writer(&mut self.out, value).is_ok() {
            self.out.push(b'\n');
        }
    }

    /// Sends what is written so far; `false` when the client went away.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.out,
            Vec::with_capacity(64 * 1024),
        ));
        let stall = self.state.settings.request_timeout;
        matches!(
            tokio::time::timeout(stall, self.tx.send(chunk)).await,
            Ok(Ok(()))
        )
    }
}

impl From<&ApiError> for LineError {
    fn from(problem: &ApiError) -> Self {
        LineError {
            kind: problem.problem_type(),
            field: match problem {
                ApiError::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
            detail: problem.to_string(),
        }
    }
}
