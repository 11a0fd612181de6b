//! `/collect` response: status, hint codes and `completionData`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::secret::PersonalNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CollectStatus {
    Pending,
    Failed,
    Complete,
}

impl CollectStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// BankID hint codes. BankID documents that new codes may appear at any
/// time and RPs must treat unknown ones gracefully, hence `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HintCode {
    // pending
    OutstandingTransaction,
    NoClient,
    Started,
    UserMrtd,
    UserCallConfirm,
    UserSign,
    // failed
    ExpiredTransaction,
    CertificateErr,
    UserCancel,
    Cancelled,
    StartFailed,
    UserDeclinedCall,
    NotSupportedByUserApp,
    TransactionRiskBlocked,
    Other(String),
}

const KNOWN: &[(&str, HintCode)] = &[
    ("outstandingTransaction", HintCode::OutstandingTransaction),
    ("noClient", HintCode::NoClient),
    ("started", HintCode::Started),
    ("userMrtd", HintCode::UserMrtd),
    ("userCallConfirm", HintCode::UserCallConfirm),
    ("userSign", HintCode::UserSign),
    ("expiredTransaction", HintCode::ExpiredTransaction),
    ("certificateErr", HintCode::CertificateErr),
    ("userCancel", HintCode::UserCancel),
    ("cancelled", HintCode::Cancelled),
    ("startFailed", HintCode::StartFailed),
    ("userDeclinedCall", HintCode::UserDeclinedCall),
    ("notSupportedByUserApp", HintCode::NotSupportedByUserApp),
    ("transactionRiskBlocked", HintCode::TransactionRiskBlocked),
];

impl HintCode {
    pub fn as_str(&self) -> &str {
        if let Self::Other(s) = self {
            return s;
        }
        KNOWN
            .iter()
            .find(|(_, code)| code == self)
            .map_or("unknown", |(name, _)| name)
    }

    /// As [`HintCode::as_str`] for the codes this client knows, `other` for
    /// the rest: a bounded set, fit for a metric label.
    pub fn label(&self) -> &'static str {
        KNOWN
            .iter()
            .find(|(_, code)| code == self)
            .map_or("other", |(name, _)| name)
    }

    pub fn parse(value: &str) -> Self {
        KNOWN
            .iter()
            .find(|(name, _)| *name == value)
            .map_or_else(|| Self::Other(value.to_owned()), |(_, code)| code.clone())
    }
}

impl fmt::Display for HintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for HintCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HintCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(Self::parse(&s))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectResponse {
    pub order_ref: String,
    pub status: CollectStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_code: Option<HintCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_data: Option<CompletionData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionData {
    pub user: CompletedUser,
    pub device: CompletedDevice,
    /// `YYYY-MM-DD` (BankID may add a time zone suffix; kept as a string).
    pub bank_id_issue_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUp>,
    /// Base64 of the XML signature document.
    pub signature: String,
    /// Base64 of the DER OCSP response.
    pub ocsp_response: String,
    /// Present only if `returnRisk` was requested: `low`, `moderate` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedUser {
    pub personal_number: PersonalNumber,
    pub name: String,
    pub given_name: String,
    pub surname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletedDevice {
    pub ip_address: String,
    /// Unique hardware identifier of the user's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uhi: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUp {
    pub mrtd: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_codes_round_trip_and_unknown_codes_are_kept() {
        assert_eq!(HintCode::parse("userSign"), HintCode::UserSign);
        assert_eq!(HintCode::UserCallConfirm.as_str(), "userCallConfirm");
        let odd = HintCode::parse("somethingNew");
        assert_eq!(odd, HintCode::Other("somethingNew".into()));
        assert_eq!(odd.as_str(), "somethingNew");
    }

    #[test]
    fn labels_are_the_known_names_or_other() {
        assert_eq!(HintCode::UserCancel.label(), "userCancel");
        assert_eq!(
            HintCode::TransactionRiskBlocked.label(),
            "transactionRiskBlocked"
        );
        assert_eq!(HintCode::parse("somethingNew").label(), "other");
    }
}
