//! Simulator configuration (deserialisable from the hub's TOML/JSON config).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the simulated BankID behaves. All fields are optional in the
/// configuration file; defaults mirror BankID's documented lifetimes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// A non-phone order that the user has not started (QR scan or app
    /// launch) within this window fails with `startFailed`.
    pub start_window_secs: u64,
    /// A pending order fails with `expiredTransaction` after this long.
    pub order_lifetime_secs: u64,
    /// A completed order can be collected this long (and only once).
    pub complete_retention_secs: u64,
    /// A failed order can be collected this long.
    pub failed_retention_secs: u64,
    /// Extra latency added to every RP API call.
    pub latency_ms: u64,
    /// How many seconds old a scanned QR code may be. 0 means only the code
    /// of the order's current second is accepted.
    pub qr_tolerance_secs: u64,
    /// `risk` reported in completionData when `returnRisk` is set.
    pub risk: String,
    /// Faults to inject from start-up (more can be added at run time through
    /// the device control API).
    pub faults: Vec<FaultRule>,
    /// When set, every new order is driven by this script instead of waiting
    /// for the device control surface.
    pub script: Option<Vec<ScriptStep>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            start_window_secs: 30,
            order_lifetime_secs: 180,
            complete_retention_secs: 180,
            failed_retention_secs: 300,
            latency_ms: 0,
            qr_tolerance_secs: 0,
            risk: "low".into(),
            faults: Vec::new(),
            script: None,
        }
    }
}

impl SimConfig {
    pub(crate) fn start_window(&self) -> Duration {
        Duration::from_secs(self.start_window_secs)
    }
    pub(crate) fn order_lifetime(&self) -> Duration {
        Duration::from_secs(self.order_lifetime_secs)
    }
    pub(crate) fn complete_retention(&self) -> Duration {
        Duration::from_secs(self.complete_retention_secs)
    }
    pub(crate) fn failed_retention(&self) -> Duration {
        Duration::from_secs(self.failed_retention_secs)
    }
}

/// Which error the simulator answers with instead of serving the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// 503 `maintenance`
    Maintenance,
    /// 500 `internalError`
    InternalError,
    /// 408 `requestTimeout`
    RequestTimeout,
    /// 401 `unauthorized`
    Unauthorized,
    /// HTTP 429 without a body
    TooManyRequests,
    /// HTTP 200 with a 1 MiB JSON object (`{"padding": "aaa…"}`), to test
    /// that RP clients cap what they read.
    OversizedBody,
}

/// Fail the next `count` calls (optionally only of one endpoint, e.g.
/// `"collect"` or `"phone/auth"`) with `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub endpoint: Option<String>,
}

fn one() -> u32 {
    1
}

/// One step of a scripted user. Steps run in order, one per `/collect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScriptStep {
    /// Report `pending` with this hint code (any string, so RPs can be tested
    /// against hint codes they do not know) for `collects` collects.
    Hint {
        hint_code: String,
        #[serde(default = "one")]
        collects: u32,
    },
    /// The user approves, as this personal number or (if omitted) the one
    /// the order named, or the first built-in test person.
    Complete {
        #[serde(default)]
        personal_number: Option<String>,
    },
    /// The order fails with this hint code (`userCancel`, `startFailed` ...).
    Fail { hint_code: String },
}
