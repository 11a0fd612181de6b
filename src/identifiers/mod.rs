//! Identifiers: validation and normalisation at the edge.
//!
//! Raw values only live in request memory; everything downstream sees the normalised
//! form long enough to compute a token (see [`crate::pseudonym`]).

mod others;
pub mod personal_number;
mod phone;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The identifier kinds the hub understands. The serialised names are API contract.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IdentifierKind {
    SePersonalNumber,
    Phone,
    Email,
    Iban,
    SeBankgiro,
    SePlusgiro,
    Domain,
    Ip,
    DeviceId,
}

impl IdentifierKind {
    pub const ALL: [IdentifierKind; 9] = [
        Self::SePersonalNumber,
        Self::Phone,
        Self::Email,
        Self::Iban,
        Self::SeBankgiro,
        Self::SePlusgiro,
        Self::Domain,
        Self::Ip,
        Self::DeviceId,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Position in [`IdentifierKind::ALL`] (the declaration order).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a value was refused. The message never echoes the value itself, because error
/// bodies and logs must not carry raw identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdentifierError(pub &'static str);

impl IdentifierError {
    pub(crate) fn invalid(reason: &'static str) -> Self {
        Self(reason)
    }
}

/// A validated identifier in canonical form. Debug is redacted so it cannot leak into
/// logs through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Normalised {
    kind: IdentifierKind,
    value: String,
}

impl std::fmt::Debug for Normalised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Normalised({}, <redacted>)", self.kind.as_str())
    }
}

impl Normalised {
    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Longest raw value we look at; anything longer is refused before any parsing.
const MAX_RAW_LEN: usize = 320;

/// Validates `raw` as an identifier of `kind` and returns its canonical form.
pub fn normalise(
    kind: IdentifierKind,
    raw: &str,
    today: NaiveDate,
) -> Result<Normalised, IdentifierError> {
    if raw.len() > MAX_RAW_LEN {
        return Err(IdentifierError::invalid("value is too long"));
    }
    let value = match kind {
        IdentifierKind::SePersonalNumber => personal_number::normalise(raw, today)?,
        IdentifierKind::Phone => phone::normalise(raw)?,
        IdentifierKind::Email => others::email(raw)?,
        IdentifierKind::Iban => others::iban(raw)?,
        IdentifierKind::SeBankgiro => others::bankgiro(raw)?,
        IdentifierKind::SePlusgiro => others::plusgiro(raw)?,
        IdentifierKind::Domain => others::domain(raw)?,
        IdentifierKind::Ip => others::ip(raw)?,
        IdentifierKind::DeviceId => others::device_id(raw)?,
    };
    Ok(Normalised { kind, value })
}

#[cfg(test)]
mod tests {
    use super::IdentifierKind;

    #[test]
    fn kinds_are_listed_in_declaration_order() {
        for (i, kind) in IdentifierKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
    }
}
