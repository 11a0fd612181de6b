//! Request and start-response bodies of the BankID RP API v6.0, with the
//! exact JSON field names. The simulator deserialises the same types, so the
//! client and the simulator cannot drift apart on field names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use secrecy::SecretString;

use super::secret::{PersonalNumber, serialize_exposed};

/// `requirement` object shared by all four order-starting endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_code: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mrtd: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_reader: Option<CardReader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_policies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_number: Option<PersonalNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CardReader {
    Class1,
    Class2,
}

/// Only format BankID defines for `userVisibleDataFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserVisibleDataFormat {
    #[serde(rename = "simpleMarkdownV1")]
    SimpleMarkdownV1,
}

/// Who placed the phone call in `phone/auth` and `phone/sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallInitiator {
    /// The user called the RP (e.g. a customer called the bank).
    #[serde(rename = "user")]
    User,
    /// The RP called the user.
    #[serde(rename = "RP")]
    Rp,
}

/// Body of `/auth` and `/sign` (for `/auth`, `userVisibleData` is optional;
/// for `/sign` it is mandatory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRequest {
    pub end_user_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<Requirement>,
    /// Base64 of UTF-8 text shown to the user; use [`OrderRequest::visible_text`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data_format: Option<UserVisibleDataFormat>,
    /// Base64 of data that is signed but not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_non_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_risk: Option<bool>,
}

impl OrderRequest {
    pub fn new(end_user_ip: impl Into<String>) -> Self {
        Self {
            end_user_ip: end_user_ip.into(),
            ..Self::default()
        }
    }

    /// Sets `userVisibleData` to the base64 of `text`.
    pub fn visible_text(mut self, text: &str) -> Self {
        self.user_visible_data = Some(B64.encode(text));
        self
    }

    pub fn non_visible_data(mut self, data: &[u8]) -> Self {
        self.user_non_visible_data = Some(B64.encode(data));
        self
    }

    pub fn requirement(mut self, requirement: Requirement) -> Self {
        self.requirement = Some(requirement);
        self
    }

    pub fn return_risk(mut self, on: bool) -> Self {
        self.return_risk = Some(on);
        self
    }
}

/// Body of `/phone/auth` and `/phone/sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneOrderRequest {
    pub personal_number: PersonalNumber,
    pub call_initiator: CallInitiator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<Requirement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_visible_data_format: Option<UserVisibleDataFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_non_visible_data: Option<String>,
}

impl PhoneOrderRequest {
    pub fn new(personal_number: PersonalNumber, call_initiator: CallInitiator) -> Self {
        Self {
            personal_number,
            call_initiator,
            requirement: None,
            user_visible_data: None,
            user_visible_data_format: None,
            user_non_visible_data: None,
        }
    }

    pub fn visible_text(mut self, text: &str) -> Self {
        self.user_visible_data = Some(B64.encode(text));
        self
    }

    pub fn requirement(mut self, requirement: Requirement) -> Self {
        self.requirement = Some(requirement);
        self
    }
}

/// Response of `/auth` and `/sign`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub order_ref: String,
    pub auto_start_token: String,
    pub qr_start_token: String,
    /// Only ever used server-side to compute animated QR codes: it must
    /// never be sent to a browser.
    #[serde(serialize_with = "serialize_exposed")]
    pub qr_start_secret: SecretString,
}

/// Response of `/phone/auth` and `/phone/sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneOrderResponse {
    pub order_ref: String,
}

/// Body of `/collect` and `/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRefRequest {
    pub order_ref: String,
}
