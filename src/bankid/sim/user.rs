//! What the user's BankID app can do to an order. Used by the device
//! control API and page.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;

use super::config::SimConfig;
use super::order::{Order, OrderKind, Planned, State};
use super::orders::{OrderBook, OrderError};
use crate::bankid::collect::HintCode;
use crate::bankid::qr::{parse_qr, qr_auth_code};
use crate::bankid::secret::PersonalNumber;
use crate::bankid::types::CallInitiator;

/// A pending order as the device control surface shows it. The personal
/// number is masked: the page may be reachable by more people than the user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_ref: String,
    pub kind: OrderKind,
    pub hint_code: String,
    pub age_secs: u64,
    pub personal_number_masked: Option<String>,
    pub call_initiator: Option<CallInitiator>,
    pub has_qr: bool,
    /// What the app shows the user (decoded `userVisibleData`): for a signature, what
    /// is signed.
    pub user_visible_text: Option<String>,
}

fn mask(pn: &PersonalNumber) -> String {
    let s = pn.as_str();
    format!("{}****", s.get(..8).unwrap_or(""))
}

impl Order {
    fn view(&self, now: Duration) -> OrderView {
        OrderView {
            order_ref: self.order_ref.clone(),
            kind: self.kind,
            hint_code: self
                .hint()
                .map_or_else(String::new, |h| h.as_str().to_owned()),
            age_secs: now.saturating_sub(self.created).as_secs(),
            personal_number_masked: self.personal_number.as_ref().map(mask),
            call_initiator: self.call_initiator,
            has_qr: self.qr.is_some(),
            user_visible_text: self.user_visible_data.as_deref().and_then(|b64| {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }),
        }
    }
}

/// The user's app action on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// `userCancel`
    Cancel,
    /// `userDeclinedCall` (phone orders only)
    DeclineCall,
    /// The user confirms the phone call and opens the app: `userSign` next.
    ConfirmCall,
    /// Let the order run out: `expiredTransaction`.
    Expire,
}

impl OrderBook {
    pub fn pending_views(&mut self, now: Duration, config: &SimConfig) -> Vec<OrderView> {
        self.sweep(now, config);
        let mut views: Vec<OrderView> = self
            .iter()
            .filter(|o| o.is_pending())
            .map(|o| o.view(now))
            .collect();
        views.sort_by(|a, b| {
            b.age_secs
                .cmp(&a.age_secs)
                .then(a.order_ref.cmp(&b.order_ref))
        });
        views
    }

    fn pending_mut(
        &mut self,
        order_ref: &str,
        now: Duration,
        config: &SimConfig,
    ) -> Result<&mut Order, OrderError> {
        self.sweep(now, config);
        let order = self.get_mut(order_ref).ok_or(OrderError::NotFound)?;
        if !order.is_pending() {
            return Err(OrderError::NotPending);
        }
        Ok(order)
    }

    /// The user identifies/signs (optionally as a chosen person).
    pub fn approve(
        &mut self,
        order_ref: &str,
        as_person: Option<PersonalNumber>,
        now: Duration,
        config: &SimConfig,
    ) -> Result<(), OrderError> {
        self.pending_mut(order_ref, now, config)?
            .complete(now, as_person, config)?;
        tracing::info!(order_ref, "bankid-sim: order approved on device");
        Ok(())
    }

    pub fn act(
        &mut self,
        order_ref: &str,
        action: UserAction,
        now: Duration,
        config: &SimConfig,
    ) -> Result<(), OrderError> {
        let order = self.pending_mut(order_ref, now, config)?;
        match action {
            UserAction::Cancel => order.fail(now, HintCode::UserCancel),
            UserAction::Expire => order.fail(now, HintCode::ExpiredTransaction),
            UserAction::DeclineCall | UserAction::ConfirmCall if !order.kind.is_phone() => {
                return Err(OrderError::Rejected("not a phone order".into()));
            }
            UserAction::DeclineCall => order.fail(now, HintCode::UserDeclinedCall),
            UserAction::ConfirmCall => {
                order.planned.clear();
                order.state = State::Pending {
                    hint: HintCode::UserSign,
                    started: true,
                };
            }
        }
        tracing::info!(order_ref, ?action, "bankid-sim: device action");
        Ok(())
    }

    /// The user's app scans a QR code. Only the code of the order's current
    /// second (or within `qr_tolerance_secs`) is accepted, so a stale
    /// screenshot cannot start the order. Returns the orderRef.
    pub fn scan(
        &mut self,
        code: &str,
        now: Duration,
        config: &SimConfig,
    ) -> Result<String, OrderError> {
        self.sweep(now, config);
        let parsed =
            parse_qr(code).ok_or_else(|| OrderError::Rejected("not a BankID QR code".into()))?;
        let order = self
            .iter()
            .find(|o| {
                o.qr.as_ref()
                    .is_some_and(|(t, _)| *t == parsed.qr_start_token)
            })
            .map(|o| o.order_ref.clone())
            .ok_or_else(|| OrderError::Rejected("unknown qrStartToken".into()))?;
        let order = self.pending_mut(&order, now, config)?;
        let Some((_, secret)) = &order.qr else {
            return Err(OrderError::Rejected("order has no QR code".into()));
        };
        let current = now.saturating_sub(order.created).as_secs();
        let fresh =
            parsed.seconds <= current && current - parsed.seconds <= config.qr_tolerance_secs;
        if !fresh || qr_auth_code(secret.expose_secret(), parsed.seconds) != parsed.auth_code {
            tracing::info!(order_ref = %order.order_ref, "bankid-sim: stale or forged QR code rejected");
            return Err(OrderError::Rejected(
                "QR code is not the currently valid code".into(),
            ));
        }
        if matches!(order.state, State::Pending { started: true, .. }) {
            return Err(OrderError::Rejected("order already started".into()));
        }
        order.planned.clear();
        order.planned.push_back(Planned::Hint(HintCode::UserSign));
        order.state = State::Pending {
            hint: HintCode::Started,
            started: true,
        };
        tracing::info!(order_ref = %order.order_ref, "bankid-sim: QR code scanned");
        Ok(order.order_ref.clone())
    }
}
