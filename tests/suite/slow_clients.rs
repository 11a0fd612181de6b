//! Slow and idle clients cannot hold connections open (OWASP API4), the connection cap
//! holds, and shutdown still drains in-flight requests. Raw sockets, so the tests
//! control exactly which bytes arrive when.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use fraudhub::config::Config;
use fraudhub::pseudonym::MasterKey;
use fraudhub::server::{ConnLimits, serve_app};
use fraudhub::store::Store;
use fraudhub::{Hub, members};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

use crate::common::*;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n";

fn addr(hub: &TestHub) -> String {
    hub.base.trim_start_matches("http://").to_string()
}

/// Reads one response: `Some((status, body))`, or `None` if the server closed the
/// connection (or reset it) before sending a single byte.
async fn read_response(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            return Some((status, body));
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                assert!(buf.is_empty(), "partial response: {buf:?}");
                return None;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Waits (at most `limit`) for the server to close the connection without a response;
/// returns how long that took.
async fn closed_without_response(s: &mut TcpStream, started: Instant, limit: Duration) -> Duration {
    let outcome = timeout(limit, read_response(s))
        .await
        .expect("server should have closed the connection");
    assert_eq!(outcome, None, "no response expected");
    started.elapsed()
}

#[tokio::test]
async fn a_request_head_stalled_halfway_is_cut_off_at_the_header_timeout() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.header_read_timeout_ms = 300;
        c.idle_timeout_ms = 10_000;
    })
    .await;
    let mut s = TcpStream::connect(addr(&hub)).await?;
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        .await?;
    let took = closed_without_response(&mut s, started, Duration::from_secs(3)).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_request_head_trickled_byte_by_byte_is_cut_off_at_the_header_timeout() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.header_read_timeout_ms = 400;
        c.idle_timeout_ms = 10_000;
    })
    .await;
    let mut s = TcpStream::connect(addr(&hub)).await?;
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        .await?;
    // Each byte well inside the timeout: only a deadline on the whole head stops this.
    let trickle = async {
        loop {
            if s.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = timeout(Duration::from_secs(3), trickle).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "the server should have closed the trickling connection at ~400 ms, took {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_complete_request_on_a_raw_connection_is_served() -> TestResult {
    let hub = TestHub::start_with(|c| c.header_read_timeout_ms = 300).await;
    let mut s = TcpStream::connect(addr(&hub)).await?;
    s.write_all(HEALTHZ).await?;
    let (status, _) = read_response(&mut s).await.expect("a response");
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn a_keep_alive_connection_is_reused_after_a_pause_longer_than_the_header_timeout()
-> TestResult {
    let hub = TestHub::start_with(|c| {
        c.header_read_timeout_ms = 200;
        c.idle_timeout_ms = 3_000;
    })
    .await;
    let mut s = TcpStream::connect(addr(&hub)).await?;
    s.write_all(HEALTHZ).await?;
    assert_eq!(read_response(&mut s).await.expect("first").0, 200);
    // Waiting between requests is governed by the idle timeout, not the header timeout.
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.write_all(HEALTHZ).await?;
    assert_eq!(read_response(&mut s).await.expect("second").0, 200);
    Ok(())
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> TestResult {
    let hub = TestHub::start_with(|c| {
        c.header_read_timeout_ms = 200;
        c.idle_timeout_ms = 700;
    })
    .await;
    let mut s = TcpStream::connect(addr(&hub)).await?;
    s.write_all(HEALTHZ).await?;
    assert_eq!(read_response(&mut s).await.expect("response").0, 200);
    let idle_from = Instant::now();
    let took = closed_without_response(&mut s, idle_from, Duration::from_secs(3)).await;
    assert!(
        took >= Duration::from_millis(600),
        "closed at the header timeout instead of the idle timeout: {took:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_connection_above_the_cap_waits_until_a_slot_frees() -> TestResult {
    let hub = TestHub::start_with(|c| c.max_connections = 2).await;
    let mut first = TcpStream::connect(addr(&hub)).await?;
    let mut second = TcpStream::connect(addr(&hub)).await?;
    for s in [&mut first, &mut second] {
        s.write_all(HEALTHZ).await?;
        assert_eq!(read_response(s).await.expect("response").0, 200);
    }
    // Both slots are held by idle keep-alive connections.
    let mut third = TcpStream::connect(addr(&hub)).await?;
    third.write_all(HEALTHZ).await?;
    let waited = timeout(Duration::from_millis(500), read_response(&mut third)).await;
    assert!(waited.is_err(), "served above the cap: {waited:?}");
    drop(first);
    let (status, _) = timeout(Duration::from_secs(3), read_response(&mut third))
        .await?
        .expect("served once a slot freed");
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn a_client_that_does_not_read_its_response_is_cut_off_at_the_idle_timeout() -> TestResult {
    // Far more than the loopback socket buffers hold, so the server is still writing.
    const SIZE: usize = 64 << 20;
    let app = Router::new().route("/big", get(|| async { vec![b'x'; SIZE] }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_app(
        listener,
        app,
        ConnLimits {
            idle_timeout: Duration::from_millis(300),
            ..limits()
        },
        async move {
            let _ = rx.await;
        },
    ));
    let mut s = TcpStream::connect(target).await?;
    s.write_all(b"GET /big HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await?;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut received = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    let drained = timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the server kept the connection open");
    assert!(received < SIZE, "the whole response was sent: {received}");
    let _ = tx.send(());
    server.await??;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_finishes_a_request_already_in_flight() -> TestResult {
    let hub = TestHub::start().await;
    let (_, key) = hub.member("bank-a").await;
    let target = addr(&hub);
    let body = serde_json::to_vec(&match_body(&[PN]))?;
    let (head_part, rest) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(&target).await?;
    s.write_all(
        format!(
            "POST /v1/matches HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await?;
    s.write_all(head_part).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(hub.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        TcpStream::connect(&target).await.is_err(),
        "new connections are refused while draining"
    );
    s.write_all(rest).await?;
    let (status, answer) = read_response(&mut s)
        .await
        .expect("the in-flight request is answered");
    assert_eq!(status, 200, "{answer}");
    let db = timeout(Duration::from_secs(10), stopping).await??;
    let store = Store::connect(&db.url, 1).await?;
    assert_eq!(
        store.audit_count().await?,
        1,
        "the drained request was audited"
    );
    Ok(())
}

#[tokio::test]
async fn each_request_carries_the_peer_address_as_connect_info() -> TestResult {
    let app = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_app(listener, app, limits(), async move {
        let _ = rx.await;
    }));
    let mut s = TcpStream::connect(target).await?;
    s.write_all(b"GET /peer HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await?;
    let (status, body) = read_response(&mut s).await.expect("response");
    assert_eq!((status, body), (200, s.local_addr()?.to_string()));
    drop(s);
    let _ = tx.send(());
    server.await??;
    Ok(())
}

#[tokio::test]
async fn shutdown_gives_up_on_a_stuck_request_after_the_drain_timeout() -> TestResult {
    let app = Router::new().route("/stuck", get(std::future::pending::<&'static str>));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_app(
        listener,
        app,
        ConnLimits {
            drain_timeout: Duration::from_millis(300),
            ..limits()
        },
        async move {
            let _ = rx.await;
        },
    ));
    let mut s = TcpStream::connect(target).await?;
    s.write_all(b"GET /stuck HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let _ = tx.send(());
    timeout(Duration::from_secs(3), server).await???;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(read_response(&mut s).await, None);
    Ok(())
}

#[tokio::test]
async fn when_the_listener_fails_the_hub_still_flushes_and_checkpoints_before_returning_the_error()
-> TestResult {
    let db = TestDb::new().await;
    let config = Config {
        checkpoint_interval_secs: 3600,
        auth_cache_ms: 0,
        ..Config::default()
    };
    let store = Store::connect(&db.url, config.db_max_connections).await?;
    store.migrate().await?;
    let now = start_time();
    let member = store
        .insert_member("bank-a", "Bank A", 1000, 1000, now)
        .await?;
    let scopes = members::parse_scopes("flags:write,matches:read")?;
    let key = members::issue_key(&store, member.id, &scopes, now)
        .await?
        .token;
    let hub = Hub::with_store(
        &config,
        store.clone(),
        &MasterKey::from_bytes([42; 32]),
        test_signer(),
        Arc::new(fraudhub::clock::ManualClock::new(start_time())),
    );
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    // A second handle on the same socket, to break it from outside the server.
    let breaker = std_listener.try_clone()?;
    let target = std_listener.local_addr()?;
    let listener = TcpListener::from_std(std_listener)?;
    let server = tokio::spawn(fraudhub::serve(listener, hub, std::future::pending()));

    // Let housekeeping sign its start-up checkpoint first, so the one we look for later
    // can only be the final one.
    for _ in 0..100 {
        if store.latest_checkpoint().await?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = reqwest::Client::new()
        .post(format!("http://{target}/v1/matches"))
        .bearer_auth(&key)
        .json(&match_body(&[PN]))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);

    // shutdown(2) on a listening socket makes every later accept() fail with EINVAL.
    std::net::TcpStream::from(std::os::fd::OwnedFd::from(breaker))
        .shutdown(std::net::Shutdown::Both)?;
    let served = timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns once its listener is broken")?;
    assert!(served.is_err(), "the listener failure is reported");

    let store = Store::connect(&db.url, 1).await?;
    let checkpoint = store.latest_checkpoint().await?.expect("a checkpoint");
    assert_eq!(checkpoint.size, store.audit_count().await?);
    assert_eq!(checkpoint.size, 1);
    Ok(())
}

fn limits() -> ConnLimits {
    ConnLimits {
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_connections: 16,
        drain_timeout: Duration::from_secs(5),
    }
}

#[test]
fn connection_limits_out_of_range_are_refused_at_start_up_naming_the_key() {
    for (var, key) in [
        ("FRAUDHUB_MAX_CONNECTIONS", "max_connections"),
        ("FRAUDHUB_HEADER_READ_TIMEOUT_MS", "header_read_timeout_ms"),
        ("FRAUDHUB_IDLE_TIMEOUT_MS", "idle_timeout_ms"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fraudhub"))
            .args(["migrate"])
            .env("FRAUDHUB_DATA_DIR", dir.path())
            .env_remove("FRAUDHUB_DATABASE_URL")
            .env(var, "0")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}=0 accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{var}: {stderr}");
    }
}
