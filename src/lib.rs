#![forbid(unsafe_code)]
//! fraudhub: a fraud intelligence sharing hub for Nordic banks and payment providers.
//!
//! `main.rs` only parses the command line; the application lives here so the tests drive
//! exactly what production runs.

mod api;
pub mod audit;
mod backup;
pub mod bankid;
mod callers;
pub mod cli;
pub mod clock;
pub mod config;
mod consumers;
mod enumeration;
mod errors;
pub mod events;
mod flags;
pub mod hub;
mod idempotency;
pub mod identifiers;
mod indicators;
mod matching;
pub mod members;
pub mod metrics;
pub mod police_report;
pub mod pseudonym;
mod quota_share;
pub mod retention;
pub mod server;
pub mod store;
pub mod tlog;
pub mod tls;
pub mod web;

pub use api::{
    ApiError, NdjsonLines, Operation, RequestBody, check_request_body, route_inventory, router,
};
pub use hub::{Hub, serve};
