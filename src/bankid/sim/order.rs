//! One order's data: what the RP asked for and where the order stands.
//! The state machine that moves it is in `orders`; `completion` reads it to
//! synthesise `completionData`.

use std::collections::VecDeque;
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

use crate::bankid::collect::{CompletionData, HintCode};
use crate::bankid::secret::PersonalNumber;
use crate::bankid::types::{CallInitiator, Requirement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderKind {
    Auth,
    Sign,
    PhoneAuth,
    PhoneSign,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Sign => "sign",
            Self::PhoneAuth => "phone/auth",
            Self::PhoneSign => "phone/sign",
        }
    }

    pub fn is_phone(self) -> bool {
        matches!(self, Self::PhoneAuth | Self::PhoneSign)
    }
}

/// What happens to a pending order on a later `/collect`.
#[derive(Debug, Clone)]
pub(crate) enum Planned {
    Hint(HintCode),
    Complete(Option<PersonalNumber>),
    Fail(HintCode),
}

#[derive(Debug, Clone)]
pub(crate) enum State {
    Pending {
        hint: HintCode,
        started: bool,
    },
    Complete {
        at: Duration,
        data: Box<CompletionData>,
    },
    Failed {
        at: Duration,
        hint: HintCode,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub order_ref: String,
    pub kind: OrderKind,
    /// The personal number the RP bound the order to, if any.
    pub personal_number: Option<PersonalNumber>,
    pub call_initiator: Option<CallInitiator>,
    pub end_user_ip: Option<String>,
    pub qr: Option<(String, SecretString)>,
    pub requirement: Requirement,
    pub return_risk: bool,
    pub user_visible_data: Option<String>,
    pub user_non_visible_data: Option<String>,
    pub created: Duration,
    pub state: State,
    pub planned: VecDeque<Planned>,
}
