//! What `fraudhub serve` writes to stderr: JSON lines that carry each request's id when
//! asked for JSON, and plain text without colour codes when stderr is not a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::TestResult;

/// Runs `serve` on SQLite under a fresh data dir with `env`, makes one request to
/// `/healthz`, stops the hub with SIGTERM and returns (that request's id, stderr).
async fn serve_one_request(
    env: &[(&str, &str)],
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log_path = dir.path().join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fraudhub"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("FRAUDHUB_DATA_DIR", dir.path())
        .env_remove("FRAUDHUB_DATABASE_URL")
        .env_remove("FRAUDHUB_MASTER_KEY")
        .env_remove("FRAUDHUB_LOG_FORMAT")
        // tracing honours NO_COLOR; the check must not depend on the caller's shell.
        .env_remove("NO_COLOR")
        .stderr(Stdio::from(std::fs::File::create(&log_path)?));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut request_id = None;
    for _ in 0..200 {
        if let Ok(r) = http.get(&url).send().await {
            request_id = r
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(status.success(), "clean exit on SIGTERM");
    let request_id = request_id.expect("the hub answered with an X-Request-Id");
    Ok((request_id, std::fs::read_to_string(log_path)?))
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_and_carry_the_request_id_in_the_span() -> TestResult {
    let (request_id, stderr) =
        serve_one_request(&[("FRAUDHUB_LOG_FORMAT", "json"), ("FRAUDHUB_LOG", "info")]).await?;
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let in_span = |line: &Value| {
        line["span"]["request_id"] == request_id.as_str()
            || line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id.as_str()))
    };
    assert!(
        lines.iter().any(in_span),
        "no log line carries request id {request_id}: {stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn plain_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() -> TestResult {
    let (_, stderr) = serve_one_request(&[("FRAUDHUB_LOG", "info")]).await?;
    assert!(stderr.contains("fraudhub listening"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "colour codes in: {stderr:?}");
    Ok(())
}
