//! The device control surface mounted inside another router, as the hub
//! mounts it, and its HTML page.

use fraudhub::bankid::{CollectStatus, OrderRequest};

use crate::bankid_support::{TestResult, start};

#[tokio::test]
async fn html_page_under_prefix_lists_orders_and_its_forms_work() -> TestResult {
    let env = start().await?;
    let app = axum::Router::new().nest("/dev/bankid", env.sim.device_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let order = env.client.auth(&OrderRequest::new("127.0.0.1")).await?;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http.get(format!("{base}/dev/bankid")).send().await?;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await?;
    assert!(html.contains(&order.order_ref));
    let action = format!("/dev/bankid/ui/orders/{}/approve", order.order_ref);
    assert!(html.contains(&action), "forms must carry the mount prefix");
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

    let resp = http
        .post(format!("{base}{action}"))
        .form(&[("personalNumber", "198112289874")])
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(location.starts_with("/dev/bankid?msg="), "{location}");
    let done = env.client.collect(&order.order_ref).await?;
    assert_eq!(done.status, CollectStatus::Complete);
    assert_eq!(
        done.completion_data.map(|d| d.user.given_name),
        Some("Erik".to_owned())
    );
    server.abort();
    Ok(())
}

#[tokio::test]
async fn html_scan_form_rejects_a_stale_code_with_a_message() -> TestResult {
    let env = start().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .post(format!("{}/ui/scan", env.device_url))
        .form(&[("qr", "bankid.nope.0.00")])
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        location.starts_with("/?msg=QR%20code%20rejected"),
        "{location}"
    );
    Ok(())
}

#[tokio::test]
async fn test_persons_are_listed() -> TestResult {
    let env = start().await?;
    let persons: Vec<serde_json::Value> = env
        .http
        .get(format!("{}/api/persons", env.device_url))
        .send()
        .await?
        .json()
        .await?;
    assert!(persons.len() >= 5);
    // Numbers that could have been issued, by the hub's one personal-number rule.
    let today = chrono::Utc::now().date_naive();
    for p in &persons {
        let pn = p["personalNumber"].as_str().unwrap_or("");
        let normalised = fraudhub::identifiers::personal_number::normalise(pn, today);
        assert_eq!(normalised.ok().as_deref(), Some(pn));
    }
    Ok(())
}

fn free_loopback_addr() -> Result<std::net::SocketAddr, std::io::Error> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[tokio::test]
async fn standalone_serves_rp_api_and_device_page_until_shutdown() -> TestResult {
    let dir = tempfile::tempdir()?;
    let listen = free_loopback_addr()?;
    let device = free_loopback_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fraudhub::bankid::run_standalone(
        listen,
        device,
        dir.path().to_path_buf(),
        fraudhub::bankid::SimConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    // Wait until the RP credentials exist and the device listener answers.
    let http = reqwest::Client::new();
    let mut page = None;
    for _ in 0..100 {
        if dir.path().join("client-key.pem").is_file()
            && let Ok(resp) = http.get(format!("http://{device}/")).send().await
        {
            page = Some(resp.text().await?);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(page.is_some_and(|p| p.contains("BankID simulator")));

    let cfg = fraudhub::bankid::ClientConfig::new(
        format!("https://{listen}/rp/v6.0"),
        fraudhub::bankid::ClientIdentity::Pem {
            cert: std::fs::read(dir.path().join("client.pem"))?,
            key: std::fs::read(dir.path().join("client-key.pem"))?,
        },
        std::fs::read(dir.path().join("ca.pem"))?,
    );
    let client = fraudhub::bankid::BankIdClient::new(cfg)?;
    let order = client.auth(&OrderRequest::new("127.0.0.1")).await?;
    assert_eq!(
        client.collect(&order.order_ref).await?.status,
        CollectStatus::Pending
    );

    let _ = stop.send(());
    run.await??;
    assert!(http.get(format!("http://{device}/")).send().await.is_err());
    Ok(())
}

#[tokio::test]
async fn standalone_refuses_a_non_loopback_device_listener() -> TestResult {
    let dir = tempfile::tempdir()?;
    let r = fraudhub::bankid::run_standalone(
        free_loopback_addr()?,
        "0.0.0.0:0".parse()?,
        dir.path().to_path_buf(),
        fraudhub::bankid::SimConfig::default(),
        async {},
    )
    .await;
    assert!(
        matches!(r, Err(fraudhub::bankid::SimError::Config(_))),
        "{r:?}"
    );
    Ok(())
}
