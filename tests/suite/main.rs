//! The behavioural suite in one test binary (one link of the crate instead of one per file).
//! Each module was a file of its own under `tests/`; `common` and `bankid_support` are the
//! shared harnesses. `tests/crash_safety.rs` and `tests/privacy.rs` stay separate binaries:
//! each changes something the whole process (or machine) shares.
//!
//! Every test here runs beside others in one process, so none may change process-wide
//! state: no global log subscriber (`refusal_logs` captures its own thread's logs), no
//! environment variables or working directory (child processes get their own). The metrics
//! recorder is process-wide by design: `metrics` compares scrapes before and after.

mod bankid_support;
mod browser_support;
mod common;
mod web_support;

mod agent_console;
mod api_surface;
mod audit_log;
mod audit_under_load;
mod auth_and_limits;
mod backup_restore;
mod bad_input;
mod bankid_cli;
mod bankid_device;
mod bankid_device_guard;
mod bankid_errors;
mod bankid_flows;
mod bankid_qr;
mod bankid_tls;
mod browser_consumer;
mod browser_device_page;
mod bulk;
mod callers;
mod cli;
mod client_limits;
mod consumer_web;
mod data_dir_permissions;
mod enumeration;
mod events;
mod flags_and_matching;
mod https;
mod identifier_properties;
mod indicator_import;
mod indicators;
mod key_rotation;
mod log_output;
mod member_mtls;
mod metrics;
mod multi_instance;
mod operator_audit;
mod owasp_api_top10;
mod refusal_logs;
mod retention;
mod slow_clients;
mod tlog_vectors;
