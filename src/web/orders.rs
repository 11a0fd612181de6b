//! BankID orders started from the pages: what is pending in a session, the animated QR
//! code, and what a collect means for the page.
//!
//! The order's `qrStartSecret` stays on the server (in the session row, for the order's
//! few minutes of life); the browser only ever gets the rendered QR image.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::bankid::{
    BankIdClient, BankIdError, CollectResponse, OrderRequest, OrderResponse, qr_code,
};
use crate::clock::to_millis;

/// What a completed order is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    Login,
    /// An agent logging in to the agent console.
    AgentLogin,
    Place {
        days: i64,
        police_report: Option<String>,
    },
    Renew {
        flag_id: String,
        days: i64,
    },
    Lift {
        flag_id: String,
    },
}

impl Intent {
    pub fn is_sign(&self) -> bool {
        !matches!(self, Intent::Login | Intent::AgentLogin)
    }
}

/// A BankID order in progress for a session (stored as JSON in the session row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOrder {
    pub order_ref: String,
    pub auto_start_token: String,
    pub qr_start_token: String,
    pub qr_start_secret: String,
    pub started_at_ms: i64,
    pub intent: Intent,
}

impl PendingOrder {
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Option<PendingOrder> {
        serde_json::from_str(text).ok()
    }

    /// The QR code's content now: BankID's animated code counts whole seconds since
    /// the order started.
    pub fn qr_content(&self, now: DateTime<Utc>) -> String {
        let seconds = u64::try_from((to_millis(now) - self.started_at_ms) / 1000).unwrap_or(0);
        qr_code(&self.qr_start_token, &self.qr_start_secret, seconds)
    }

    /// The "open BankID on this device" link (`redirect=null`: the app returns to
    /// the browser that opened it, which is polling).
    pub fn autostart_link(&self) -> String {
        format!(
            "bankid:///?autostarttoken={}&redirect=null",
            self.auto_start_token
        )
    }
}

/// The QR code as an SVG image, dark on light with a quiet zone, so phones read it.
pub fn qr_svg(content: &str) -> Option<String> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(264, 264)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .quiet_zone(true)
            .build(),
    )
}

/// Starts an auth (login) or sign order. `visible` is what the person's BankID app
/// shows, and for a signature, what they sign.
pub async fn start(
    client: &BankIdClient,
    end_user_ip: &str,
    intent: Intent,
    visible: &str,
    now: DateTime<Utc>,
) -> Result<PendingOrder, BankIdError> {
    let request = OrderRequest::new(end_user_ip).visible_text(visible);
    let started: OrderResponse = if intent.is_sign() {
        client.sign(&request).await?
    } else {
        client.auth(&request).await?
    };
    Ok(PendingOrder {
        order_ref: started.order_ref,
        auto_start_token: started.auto_start_token,
        qr_start_token: started.qr_start_token,
        qr_start_secret: expose(&started.qr_start_secret),
        started_at_ms: to_millis(now),
        intent,
    })
}

fn expose(secret: &SecretString) -> String {
    use secrecy::ExposeSecret;
    secret.expose_secret().to_string()
}

/// One collect of the order.
pub async fn collect(
    client: &BankIdClient,
    order: &PendingOrder,
) -> Result<CollectResponse, BankIdError> {
    client.collect(&order.order_ref).await
}
