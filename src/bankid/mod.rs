//! BankID: an RP API v6.0 client over mutual TLS, animated QR codes, and a
//! built-in simulator speaking the same wire protocol.
//!
//! Personal numbers travel in [`PersonalNumber`], whose `Debug` is
//! redacted; log orderRefs, never personal numbers.
//!
//! Self-contained: nothing here imports from the rest of the hub, except
//! `crate::clock` (a leaf module that itself imports nothing from the hub),
//! so that the simulator and the hub share one injectable clock.

mod client;
mod collect;
pub mod embed;
mod error;
pub mod log_safe;
mod poll;
pub mod qr;
mod secret;
pub mod settings;
pub mod sim;
mod tls;
mod types;

pub use client::{
    BankIdClient, ClientConfig, MAX_RESPONSE_BYTES, ORDERS_METRIC, PRODUCTION_BASE_URL,
    TEST_BASE_URL,
};
pub use collect::{
    CollectResponse, CollectStatus, CompletedDevice, CompletedUser, CompletionData, HintCode,
    StepUp,
};
pub use embed::{BankId, BankIdRuntime, SIM_DEVICE_PATH, StartError};
pub use error::{BankIdError, ErrorBody};
pub use qr::{QrGenerator, qr_auth_code, qr_code};
pub use secret::PersonalNumber;
pub use settings::{BankIdMode, BankIdSettings};
pub use sim::{SimConfig, SimError, SimHandle, run_standalone, spawn_simulator};
pub use tls::{ClientIdentity, client_tls_config, root_store};
pub use tokio_util::sync::CancellationToken;
pub use types::{
    CallInitiator, CardReader, OrderRefRequest, OrderRequest, OrderResponse, PhoneOrderRequest,
    PhoneOrderResponse, Requirement, UserVisibleDataFormat,
};
