//! The simulator's order book: BankID's order state machine with lazily
//! applied lifetimes (evaluated against the injectable clock on every
//! access, so no background timer is needed and tests stay deterministic).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use secrecy::SecretString;

use super::completion::completion_data;
use super::config::{ScriptStep, SimConfig};
use super::order::{Order, OrderKind, Planned, State};
use super::persons::TEST_PERSONS;
use crate::bankid::collect::{CollectResponse, CollectStatus, HintCode};
use crate::bankid::secret::PersonalNumber;
use crate::bankid::types::{CallInitiator, Requirement};

/// Parameters of a new order, as validated by the RP API layer.
#[derive(Debug)]
pub(crate) struct NewOrder {
    pub kind: OrderKind,
    pub personal_number: Option<PersonalNumber>,
    pub call_initiator: Option<CallInitiator>,
    pub end_user_ip: Option<String>,
    pub requirement: Requirement,
    pub return_risk: bool,
    pub user_visible_data: Option<String>,
    pub user_non_visible_data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order for this user is already in progress")]
    AlreadyInProgress,
    #[error("no such order")]
    NotFound,
    #[error("the order is not pending")]
    NotPending,
    #[error("{0}")]
    Rejected(String),
}

#[derive(Debug, Default)]
pub(crate) struct OrderBook {
    orders: HashMap<String, Order>,
}

fn expand_script(script: &[ScriptStep]) -> VecDeque<Planned> {
    let mut out = VecDeque::new();
    for step in script {
        match step {
            ScriptStep::Hint {
                hint_code,
                collects,
            } => {
                for _ in 0..(*collects).max(1) {
                    out.push_back(Planned::Hint(HintCode::parse(hint_code)));
                }
            }
            ScriptStep::Complete { personal_number } => {
                out.push_back(Planned::Complete(
                    personal_number.as_deref().map(PersonalNumber::new),
                ));
            }
            ScriptStep::Fail { hint_code } => {
                out.push_back(Planned::Fail(HintCode::parse(hint_code)));
            }
        }
    }
    out
}

impl Order {
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending { .. })
    }

    pub fn hint(&self) -> Option<&HintCode> {
        match &self.state {
            State::Pending { hint, .. } | State::Failed { hint, .. } => Some(hint),
            State::Complete { .. } => None,
        }
    }

    pub fn fail(&mut self, at: Duration, hint: HintCode) {
        self.planned.clear();
        self.state = State::Failed { at, hint };
    }

    /// The person who approves: the bound personal number if any, else the
    /// one chosen on the device, else the first test person.
    pub fn complete(
        &mut self,
        now: Duration,
        as_person: Option<PersonalNumber>,
        config: &SimConfig,
    ) -> Result<(), OrderError> {
        let person = match (&self.personal_number, as_person) {
            (Some(bound), Some(chosen)) if *bound != chosen => {
                return Err(OrderError::Rejected(
                    "the order is bound to another personal number".into(),
                ));
            }
            (Some(bound), _) => bound.clone(),
            (None, Some(chosen)) => chosen,
            (None, None) => PersonalNumber::new(
                TEST_PERSONS
                    .first()
                    .map_or("199001012385", |p| p.personal_number),
            ),
        };
        if !person.is_well_formed() {
            return Err(OrderError::Rejected("invalid personal number".into()));
        }
        let data = completion_data(self, &person, &config.risk);
        self.planned.clear();
        self.state = State::Complete {
            at: now,
            data: Box::new(data),
        };
        Ok(())
    }

    /// Applies the next planned step, if any.
    fn advance(&mut self, now: Duration, config: &SimConfig) {
        let Some(step) = self.planned.pop_front() else {
            return;
        };
        match step {
            Planned::Hint(h) => {
                if let State::Pending { hint, started } = &mut self.state {
                    // A script that moves past the initial hint means the
                    // user has got going, so the start window no longer applies.
                    *started |= !matches!(h, HintCode::OutstandingTransaction | HintCode::NoClient);
                    *hint = h;
                }
            }
            Planned::Complete(pn) => {
                if let Err(e) = self.complete(now, pn, config) {
                    tracing::warn!(order_ref = %self.order_ref, error = %e, "scripted completion failed");
                    self.fail(now, HintCode::CertificateErr);
                }
            }
            Planned::Fail(h) => self.fail(now, h),
        }
    }

    /// Applies lifetimes. Returns false if the order should be forgotten.
    fn tick(&mut self, now: Duration, config: &SimConfig) -> bool {
        if let State::Pending { started, .. } = &self.state {
            let age = now.saturating_sub(self.created);
            if age >= config.order_lifetime() {
                self.fail(
                    self.created + config.order_lifetime(),
                    HintCode::ExpiredTransaction,
                );
            } else if !self.kind.is_phone() && !*started && age >= config.start_window() {
                self.fail(self.created + config.start_window(), HintCode::StartFailed);
            }
        }
        match &self.state {
            State::Pending { .. } => true,
            State::Complete { at, .. } => now.saturating_sub(*at) < config.complete_retention(),
            State::Failed { at, .. } => now.saturating_sub(*at) < config.failed_retention(),
        }
    }
}

impl OrderBook {
    pub fn sweep(&mut self, now: Duration, config: &SimConfig) {
        self.orders.retain(|_, o| o.tick(now, config));
    }

    pub fn get_mut(&mut self, order_ref: &str) -> Option<&mut Order> {
        self.orders.get_mut(order_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Creates an order. A second order for a personal number that already
    /// has a pending one cancels the first and is itself refused, as BankID does.
    pub fn start(
        &mut self,
        new: NewOrder,
        now: Duration,
        config: &SimConfig,
    ) -> Result<Order, OrderError> {
        self.sweep(now, config);
        if let Some(pn) = &new.personal_number {
            let clash = self
                .orders
                .values_mut()
                .find(|o| o.is_pending() && o.personal_number.as_ref() == Some(pn));
            if let Some(existing) = clash {
                tracing::info!(order_ref = %existing.order_ref, "bankid-sim: order cancelled by a new order for the same user");
                existing.fail(now, HintCode::Cancelled);
                return Err(OrderError::AlreadyInProgress);
            }
        }
        let qr = (!new.kind.is_phone()).then(|| {
            (
                uuid::Uuid::new_v4().to_string(),
                SecretString::from(uuid::Uuid::new_v4().to_string()),
            )
        });
        let initial = if new.kind.is_phone() {
            HintCode::UserCallConfirm
        } else {
            HintCode::OutstandingTransaction
        };
        let mut order = Order {
            order_ref: uuid::Uuid::new_v4().to_string(),
            kind: new.kind,
            personal_number: new.personal_number,
            call_initiator: new.call_initiator,
            end_user_ip: new.end_user_ip,
            qr,
            requirement: new.requirement,
            return_risk: new.return_risk,
            user_visible_data: new.user_visible_data,
            user_non_visible_data: new.user_non_visible_data,
            created: now,
            state: State::Pending {
                hint: initial,
                started: false,
            },
            planned: config
                .script
                .as_deref()
                .map(expand_script)
                .unwrap_or_default(),
        };
        if !order.planned.is_empty() {
            order.advance(now, config);
        }
        tracing::info!(order_ref = %order.order_ref, kind = order.kind.as_str(), "bankid-sim: order started");
        self.orders.insert(order.order_ref.clone(), order.clone());
        Ok(order)
    }

    /// `/collect`: reports the current state, then lets the next planned
    /// step happen. A completed order is handed out once and then forgotten.
    pub fn collect(
        &mut self,
        order_ref: &str,
        now: Duration,
        config: &SimConfig,
    ) -> Result<CollectResponse, OrderError> {
        self.sweep(now, config);
        let order = self.orders.get_mut(order_ref).ok_or(OrderError::NotFound)?;
        let resp = match &order.state {
            State::Pending { hint, .. } => CollectResponse {
                order_ref: order_ref.to_owned(),
                status: CollectStatus::Pending,
                hint_code: Some(hint.clone()),
                completion_data: None,
            },
            State::Failed { hint, .. } => CollectResponse {
                order_ref: order_ref.to_owned(),
                status: CollectStatus::Failed,
                hint_code: Some(hint.clone()),
                completion_data: None,
            },
            State::Complete { data, .. } => {
                let resp = CollectResponse {
                    order_ref: order_ref.to_owned(),
                    status: CollectStatus::Complete,
                    hint_code: None,
                    completion_data: Some((**data).clone()),
                };
                self.orders.remove(order_ref);
                return Ok(resp);
            }
        };
        order.advance(now, config);
        Ok(resp)
    }

    /// RP `/cancel`: only pending orders can be cancelled.
    pub fn cancel(
        &mut self,
        order_ref: &str,
        now: Duration,
        config: &SimConfig,
    ) -> Result<(), OrderError> {
        self.sweep(now, config);
        let order = self.orders.get_mut(order_ref).ok_or(OrderError::NotFound)?;
        if !order.is_pending() {
            return Err(OrderError::NotPending);
        }
        order.fail(now, HintCode::Cancelled);
        tracing::info!(order_ref, "bankid-sim: order cancelled by RP");
        Ok(())
    }
}
