//! The operator's command line. `anyhow` lives here and at start-up only.

mod import;

use crate::members::certs::{CertFingerprint, IssuerPin, PresentedChain};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::audit::entry::{Action, AuditEntry};
use crate::audit::log::AuditLog;
use crate::audit::operator;
use crate::audit::verify::verify_log;
use crate::backup;
use crate::clock::{Clock, SystemClock, from_millis, to_millis};
use crate::config::{Config, Overrides};
use crate::hub::{Hub, adopt_key_state, load_keyring, load_signing_key, open_store, serve};
use crate::members::{MemberStatus, issue_key, parse_scopes};
use crate::pseudonym::{Keyring, Pseudonymiser};
use crate::retention::{RetentionPolicy, run_pass};
use crate::store::{Store, sqlite_file};
use crate::tlog::NoteVerifier;

#[derive(Debug, Parser)]
#[command(name = "fraudhub", version, about = "Fraud intelligence sharing hub")]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// `sqlite:` or `postgres:` URL (also FRAUDHUB_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Data directory for the embedded SQLite database and development keys.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub.
    Serve {
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Create or upgrade the database schema.
    Migrate,
    /// Admit, list and suspend members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Issue, list and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Rotate the master key (the keys tokens are made with; API keys are under `key`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Import a member's police-reported indicators.
    #[command(subcommand)]
    Indicator(IndicatorCommand),
    /// Run the built-in BankID simulator on its own (RP API over HTTPS with
    /// mutual TLS, plus the device control page on a loopback address).
    BankidSim {
        /// Address of the simulated RP API (HTTPS, client certificate required).
        #[arg(long)]
        listen: SocketAddr,
        /// Where the CA, server and RP client PEM files are generated or reused
        /// (default: bankid.sim_tls_dir, i.e. <data_dir>/bankid-sim).
        #[arg(long)]
        tls_dir: Option<PathBuf>,
        /// Address of the device control page and JSON API (plain HTTP, loopback only).
        #[arg(long, default_value = "127.0.0.1:8081")]
        device_listen: SocketAddr,
    },
    /// Verify, checkpoint and prune the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Apply the retention rules (audit redaction, flag purge, idempotency expiry).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Write a consistent copy of the SQLite database while the hub runs (on PostgreSQL:
    /// print the pg_dump command to run instead).
    Backup {
        /// The new backup file; an existing file is never overwritten.
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Run one retention pass now (the one `serve` runs periodically) and print counts.
    Run,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the whole tree and check every signed checkpoint; exit 1 on any finding.
    Verify {
        /// Verifier key (`name+keyid+base64`); default: derived from the configured signing key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Sign a checkpoint of the current log now and print it.
    Checkpoint,
    /// Clear personal-data fields of entries older than the retention window now.
    Retention,
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Sustained requests per second allowed for this member.
        #[arg(long, requires = "burst")]
        rate: Option<u32>,
        #[arg(long, requires = "rate")]
        burst: Option<u32>,
    },
    List,
    Suspend {
        id: i64,
    },
    /// Re-admit a suspended member.
    Reinstate {
        id: i64,
    },
    /// Change a member's rate limit and/or its daily budget of distinct personal numbers.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["rate", "daily_subjects"])))]
    Quota {
        id: i64,
        /// Identifiers per second (a match is charged one unit per identifier).
        #[arg(long, requires = "burst")]
        rate: Option<u32>,
        #[arg(long, requires = "rate")]
        burst: Option<u32>,
        /// Distinct personal numbers per UTC day; 0 returns to the configured default.
        #[arg(long)]
        daily_subjects: Option<u64>,
    },
    /// Pin a client certificate: from now on the member's keys work only over a connection
    /// that presented a pinned certificate (docs/security.md, "Member mTLS").
    #[command(group(clap::ArgGroup::new("which").required(true).args(["cert", "fingerprint", "ca"])))]
    PinCert {
        id: i64,
        /// The certificate, PEM.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Its SHA-256 fingerprint (`openssl x509 -noout -fingerprint -sha256`).
        #[arg(long)]
        fingerprint: Option<String>,
        /// The member's CA, PEM: any client certificate it issued with `--subject` counts.
        #[arg(long, requires = "subject")]
        ca: Option<PathBuf>,
        /// The subject such certificates must have, e.g. `CN=bank-a api,O=Bank A`.
        #[arg(long, requires = "ca")]
        subject: Option<String>,
    },
    /// Remove a pin: a certificate's fingerprint, or a pinned CA's (all its subjects); with
    /// none left, the member's keys work without a certificate again.
    UnpinCert {
        id: i64,
        fingerprint: String,
    },
    /// List a member's pinned certificates.
    Certs {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum IndicatorCommand {
    /// Check every row of a CSV file like `POST /v1/indicators` and store them all in one
    /// transaction, or none when any row is refused (docs/indicators.md, "Import").
    Import {
        /// The member whose reports these are; it must be active.
        #[arg(long)]
        member: i64,
        /// Check the file and print the report without storing anything.
        #[arg(long)]
        dry_run: bool,
        /// CSV with a header row: kind, value, category, police_report_reference,
        /// confidence, and optionally valid_until, disclose_member, note.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-key every stored token to master key version TO (the current version + 1) while
    /// the hub serves; resumable. Every instance must already have TO in its keyring.
    Rotate {
        #[arg(long)]
        to: i64,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
        /// How long to wait after announcing the switch before moving any row, so every
        /// instance already writes at TO and looks up both versions.
        #[arg(long, default_value_t = 3000)]
        grace_ms: u64,
        /// Stop after this many batches (the rotation resumes when run again).
        #[arg(long)]
        max_batches: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    Issue {
        #[arg(long)]
        member: i64,
        /// Comma-separated: flags:write, matches:read, audit:read.
        #[arg(long)]
        scopes: String,
    },
    List {
        #[arg(long)]
        member: i64,
    },
    Revoke {
        key_id: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FRAUDHUB_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal: log collectors and files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("FRAUDHUB_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let config = Config::load(
        cli.global.config.as_deref(),
        Overrides {
            listen,
            database_url: cli.global.database_url.clone(),
            data_dir: cli.global.data_dir.clone(),
        },
    )?;
    let clock = SystemClock;
    match cli.command {
        Command::Serve { .. } => run_serve(config).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Member(cmd) => {
            member(cmd, &admin_store(&config).await?, &config, clock.now()).await
        }
        Command::Key(cmd) => key(cmd, &admin_store(&config).await?, clock.now()).await,
        Command::Keys(KeysCommand::Rotate {
            to,
            batch,
            grace_ms,
            max_batches,
        }) => {
            let rotation = Rotation {
                to,
                batch,
                grace: std::time::Duration::from_millis(grace_ms),
                max_batches,
            };
            rotate(&admin_store(&config).await?, &config, &rotation, &clock).await
        }
        Command::Indicator(cmd) => {
            indicator(cmd, &admin_store(&config).await?, &config, clock.now()).await
        }
        Command::Audit(cmd) => audit(cmd, &admin_store(&config).await?, &config, clock.now()).await,
        Command::Retention(RetentionCommand::Run) => {
            let policy = RetentionPolicy::from_config(&config);
            let report = run_pass(&admin_store(&config).await?, &policy, clock.now()).await?;
            println!(
                "audit entries redacted: {} (older than {} days)",
                report.audit_entries_redacted, policy.audit_days
            );
            println!(
                "flags purged: {} (ended more than {} days ago)",
                report.flags_purged, policy.flag_days
            );
            println!(
                "indicators purged: {} (ended more than {} days ago)",
                report.indicators_purged, policy.flag_days
            );
            println!(
                "idempotency keys deleted: {} (older than {} hours)",
                report.idempotency_keys_deleted, policy.idempotency_ttl_hours
            );
            println!("web sessions deleted: {}", report.sessions_deleted);
            Ok(())
        }
        Command::BankidSim {
            listen,
            tls_dir,
            device_listen,
        } => run_bankid_sim(&config, listen, tls_dir, device_listen).await,
        Command::Backup { to } => run_backup(&config, &to).await,
    }
}

async fn run_backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    let url = config.effective_database_url();
    if !url.starts_with("sqlite:") {
        bail!(
            "{}\n{}",
            backup::postgres_instructions(&url, to),
            backup::not_included(config)
        );
    }
    // Not open_store: a backup must not create an empty database where none was.
    let source = sqlite_file(&url)?;
    if !source.is_file() {
        bail!(
            "no SQLite database at {}: nothing to back up",
            source.display()
        );
    }
    let store = Store::connect(&url, 1).await?;
    let result = backup::backup_sqlite(&store, to).await;
    store.close().await;
    let report = result?;
    println!(
        "backup written to {}: {} bytes in {} ms, integrity check ok; {} audit entries, {} checkpoints, {} flags",
        report.path.display(),
        report.bytes,
        report.elapsed.as_millis(),
        report.contents.audit_entries,
        report.contents.checkpoints,
        report.contents.flags
    );
    println!("{}", backup::not_included(config));
    Ok(())
}

async fn run_serve(config: Config) -> anyhow::Result<()> {
    if config.database_url.is_none() {
        tracing::warn!(data_dir = %config.data_dir.display(), "using the embedded SQLite database (development default)");
    }
    let mut hub = Hub::open(&config, Arc::new(SystemClock))
        .await
        .context("starting the hub")?;
    let bankid = crate::bankid::embed::start(&config.bankid, &config.data_dir)
        .await
        .context("starting BankID")?;
    hub.set_bankid(bankid.bankid());
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "fraudhub listening");
    if let Some(addr) = hub.bind_metrics().await.context("binding metrics_listen")? {
        tracing::info!(%addr, "metrics at /metrics");
    }
    serve(listener, hub, shutdown_signal()).await?;
    bankid.shutdown().await;
    tracing::info!("fraudhub stopped");
    Ok(())
}

async fn run_bankid_sim(
    config: &Config,
    listen: SocketAddr,
    tls_dir: Option<PathBuf>,
    device_listen: SocketAddr,
) -> anyhow::Result<()> {
    let tls_dir = tls_dir.unwrap_or_else(|| config.bankid.sim_tls_dir(&config.data_dir));
    tracing::warn!("this is the BankID SIMULATOR: its logins are not real BankID");
    crate::bankid::run_standalone(
        listen,
        device_listen,
        tls_dir,
        config.bankid.sim.clone(),
        shutdown_signal(),
    )
    .await?;
    tracing::info!("bankid-sim stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: draining requests and flushing the audit log");
}

async fn admin_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store(config).await?;
    store.migrate().await?;
    Ok(store)
}

async fn member(
    cmd: MemberCommand,
    store: &Store,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match cmd {
        MemberCommand::Add {
            name,
            display_name,
            rate,
            burst,
        } => {
            if name.trim().is_empty() || name.len() > 64 {
                bail!("--name must be 1 to 64 characters");
            }
            let display = display_name.unwrap_or_else(|| name.clone());
            let rate = rate.unwrap_or(config.default_rate_per_second);
            let burst = burst.unwrap_or(config.default_burst);
            if rate == 0 || burst == 0 {
                bail!("--rate and --burst must be positive");
            }
            let m = store
                .insert_member(name.trim(), &display, rate.into(), burst.into(), now)
                .await?;
            record(store, Action::MemberAdd, m.id, None, now).await?;
            println!(
                "member {} added: {} ({}), {} req/s, burst {}",
                m.id, m.name, m.display_name, m.rate_per_second, m.burst
            );
        }
        MemberCommand::List => {
            println!(
                "{:>4}  {:<24} {:<10} {:>8} {:>6} {:>10} {:>7}  {:<20}  display name",
                "id", "name", "status", "rate/s", "burst", "subj/day", "sweeps", "last sweep"
            );
            for m in store.list_members().await? {
                let budget = m.daily_subject_budget.map_or_else(
                    || format!("{}*", config.default_daily_subject_budget),
                    |n| n.to_string(),
                );
                let last = m.last_sweep_at.map_or_else(
                    || "-".to_string(),
                    |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                );
                println!(
                    "{:>4}  {:<24} {:<10} {:>8} {:>6} {:>10} {:>7}  {:<20}  {}",
                    m.id,
                    m.name,
                    m.status.as_str(),
                    m.rate_per_second,
                    m.burst,
                    budget,
                    m.sweep_events,
                    last,
                    m.display_name
                );
            }
        }
        MemberCommand::PinCert {
            id,
            cert,
            fingerprint,
            ca,
            subject,
        } => {
            let mut pins = store
                .member(id)
                .await
                .with_context(|| format!("member {id}"))?
                .cert_pins;
            let read =
                |path: &PathBuf| std::fs::read(path).with_context(|| format!("{}", path.display()));
            let shown = match (cert, fingerprint, ca.zip(subject)) {
                (Some(path), _, _) => {
                    let pin = PresentedChain::from_pem(&read(&path)?)
                        .with_context(|| format!("--cert {}", path.display()))?
                        .fingerprint();
                    pins.add(pin);
                    format!("certificate {}", pin.to_hex())
                }
                (None, Some(text), _) => {
                    let pin = CertFingerprint::parse(&text).context("--fingerprint")?;
                    pins.add(pin);
                    format!("certificate {}", pin.to_hex())
                }
                (None, None, Some((path, subject))) => {
                    let pin = IssuerPin::from_pem(&read(&path)?, &subject)
                        .with_context(|| format!("--ca {} --subject", path.display()))?;
                    let shown = format!(
                        "certificates from CA {} with subject {}",
                        pin.ca_fingerprint().to_hex(),
                        pin.subject()
                    );
                    pins.issuers.push(pin);
                    shown
                }
                _ => bail!("give --cert, --fingerprint, or --ca with --subject"),
            };
            store.set_member_cert_pins(id, &pins).await?;
            record(store, Action::MemberCertPin, id, None, now).await?;
            println!("member {id}: {shown} pinned; its keys now need a pinned certificate");
        }
        MemberCommand::UnpinCert { id, fingerprint } => {
            let pin = CertFingerprint::parse(&fingerprint).context("fingerprint")?;
            let mut pins = store
                .member(id)
                .await
                .with_context(|| format!("member {id}"))?
                .cert_pins;
            if !pins.remove(pin) {
                bail!("member {id} has no pin for {}", pin.to_hex());
            }
            store.set_member_cert_pins(id, &pins).await?;
            record(store, Action::MemberCertUnpin, id, None, now).await?;
            if pins.is_empty() {
                println!("member {id}: no certificate pinned; its keys work without one");
            } else {
                println!("member {id}: pin {} removed", pin.to_hex());
            }
        }
        MemberCommand::Certs { id } => {
            let member = store
                .member(id)
                .await
                .with_context(|| format!("member {id}"))?;
            for pin in member.cert_pins.fingerprints {
                println!("certificate {}", pin.to_hex());
            }
            for pin in member.cert_pins.issuers {
                println!(
                    "ca {} subject {}",
                    pin.ca_fingerprint().to_hex(),
                    pin.subject()
                );
            }
        }
        MemberCommand::Suspend { id } => {
            store
                .set_member_status(id, MemberStatus::Suspended)
                .await
                .with_context(|| format!("member {id}"))?;
            record(store, Action::MemberSuspend, id, None, now).await?;
            println!("member {id} suspended: its keys now get 403");
        }
        MemberCommand::Reinstate { id } => {
            store
                .set_member_status(id, MemberStatus::Active)
                .await
                .with_context(|| format!("member {id}"))?;
            record(store, Action::MemberReinstate, id, None, now).await?;
            println!("member {id} reinstated");
        }
        MemberCommand::Quota {
            id,
            rate,
            burst,
            daily_subjects,
        } => {
            if let (Some(rate), Some(burst)) = (rate, burst) {
                if rate == 0 || burst == 0 {
                    bail!("--rate and --burst must be positive");
                }
                store
                    .set_member_quota(id, rate.into(), burst.into())
                    .await
                    .with_context(|| format!("member {id}"))?;
                record(store, Action::MemberQuota, id, None, now).await?;
                println!("member {id}: {rate} identifiers/s, burst {burst}");
            }
            if let Some(per_day) = daily_subjects {
                let stored = match per_day {
                    0 => None,
                    n => Some(i64::try_from(n).context("--daily-subjects is too large")?),
                };
                store
                    .set_member_subject_budget(id, stored)
                    .await
                    .with_context(|| format!("member {id}"))?;
                record(store, Action::MemberSubjectBudget, id, None, now).await?;
                match stored {
                    Some(n) => println!("member {id}: {n} distinct personal numbers per day"),
                    None => println!(
                        "member {id}: the default of {} distinct personal numbers per day",
                        config.default_daily_subject_budget
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Logs an operator action and writes it into the audit log. The change is already
/// committed; if the entry cannot be written the command fails loudly so the operator
/// knows the log is missing it.
async fn record(
    store: &Store,
    action: Action,
    member_id: i64,
    key_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let operator = operator::operator_name();
    tracing::info!(%operator, action = action.as_str(), member = member_id, key_id, "operator action");
    let entry = AuditEntry::by_operator(&operator, action, member_id, key_id, now);
    crate::audit::write(store, &[entry])
        .await
        .context("the change was made but its audit entry could not be written")?;
    Ok(())
}

async fn indicator(
    cmd: IndicatorCommand,
    store: &Store,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let IndicatorCommand::Import {
        member,
        dry_run,
        file,
    } = cmd;
    let publisher = store
        .member(member)
        .await
        .with_context(|| format!("member {member}"))?;
    if publisher.status != MemberStatus::Active {
        bail!(
            "member {member} is {}: only an active member's reports are imported",
            publisher.status.as_str()
        );
    }
    let pseudonymiser = Pseudonymiser::from_ring(&existing_keyring(config)?);
    adopt_key_state(store, &pseudonymiser).await?;
    // Stored times are milliseconds; so is what the audit entries record.
    let at = from_millis(to_millis(now));
    let checked = import::check_file(&file, &pseudonymiser, member, at)?;
    for refusal in &checked.refused {
        println!("refused: {refusal}");
    }
    let refused = checked.refused_rows();
    println!(
        "{} rows checked: {} accepted, {refused} refused",
        checked.rows,
        checked.rows - refused
    );
    if refused > 0 {
        bail!(
            "nothing imported: {refused} of {} rows refused, and a file is imported whole or not at all",
            checked.rows
        );
    }
    if dry_run {
        println!("dry run: nothing imported");
        return Ok(());
    }
    let operator = operator::operator_name();
    let request_id = uuid::Uuid::new_v4().to_string();
    let imported = checked.accepted.len();
    let started = std::time::Instant::now();
    crate::indicators::import(store, &operator, &request_id, &checked.accepted)
        .await
        .context("nothing imported")?;
    // The transaction held the audit log's lock: every instance's matches waited this long.
    let locked_ms = started.elapsed().as_millis();
    tracing::info!(%operator, action = Action::IndicatorPublish.as_str(), member, indicators = imported, %request_id, locked_ms, "operator action");
    println!(
        "imported {imported} indicators for member {member} ({}) in one transaction of {locked_ms} ms, each with its indicator.publish audit entry (request id {request_id})",
        publisher.name
    );
    Ok(())
}

/// The master keyring `serve` uses, without generating a key: tokens made under a new key
/// would never match.
fn existing_keyring(config: &Config) -> anyhow::Result<Keyring> {
    if config.master_key.is_none()
        && config.master_key_file.is_none()
        && !config.data_dir.join("dev-master.key").exists()
    {
        bail!(
            "no master key: set FRAUDHUB_MASTER_KEY or master_key_file to the key the hub uses \
             (or run it with the data directory holding its development key)"
        );
    }
    Ok(load_keyring(config)?)
}

/// What `keys rotate` was asked to do.
struct Rotation {
    to: i64,
    batch: i64,
    grace: std::time::Duration,
    max_batches: Option<u64>,
}

/// `keys rotate`: announces the switch, waits for every instance to follow it, re-keys
/// every table (docs/operations.md, "Key rotation"), then ends the switch.
async fn rotate(
    store: &Store,
    config: &Config,
    r: &Rotation,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let ring = existing_keyring(config)?;
    if !ring.contains(r.to) || !ring.contains(r.to - 1) {
        bail!(
            "the keyring holds versions {}..={}: rotating to {} needs versions {} and {} (append `{}:<64 hex>` to the keyring of every instance first)",
            ring.base(),
            ring.newest(),
            r.to,
            r.to - 1,
            r.to,
            r.to
        );
    }
    if r.batch < 1 {
        bail!("--batch must be at least 1");
    }
    let p = Pseudonymiser::from_ring(&ring);
    let state = store.key_state(ring.base()).await?;
    let operator = operator::operator_name();
    if state.current == r.to && state.next.is_none() {
        println!("tokens are at version {} already", r.to);
        let left = rekey_all(store, &p, r, &mut 0).await?;
        if left.is_some_and(|n| n > 0) {
            println!(
                "re-keyed {} rows left at version {}",
                left.unwrap_or(0),
                r.to - 1
            );
        }
        return Ok(());
    }
    if state.current != r.to - 1 || state.next.is_some_and(|n| n != r.to) {
        bail!(
            "tokens are at version {}{}: rotate to {} (one version at a time)",
            state.current,
            state
                .next
                .map(|n| format!(", switching to {n}"))
                .unwrap_or_default(),
            state.next.unwrap_or(state.current + 1)
        );
    }
    if state.next.is_none() {
        store.begin_key_switch(r.to, clock.now()).await?;
        let mut entry =
            AuditEntry::by_operator(&operator, Action::KeysRotate, 0, None, clock.now());
        entry.member_id = None;
        entry.key_version = Some(r.to);
        entry.outcome = crate::audit::entry::Outcome::Created;
        crate::audit::write(store, &[entry])
            .await
            .context("the switch started but its audit entry could not be written")?;
        tracing::info!(%operator, action = Action::KeysRotate.as_str(), to = r.to, "operator action: key switch started");
        println!("switch to key version {} started", r.to);
    } else {
        println!("resuming the switch to key version {}", r.to);
    }
    store.announce_auth_change().await?;
    println!(
        "waiting {} ms for every instance to write at version {} and look up both versions",
        r.grace.as_millis(),
        r.to
    );
    tokio::time::sleep(r.grace).await;
    let mut batches = 0;
    let Some(_) = rekey_all(store, &p, r, &mut batches).await? else {
        println!(
            "stopped after {batches} batches (--max-batches); run the same command again to continue"
        );
        return Ok(());
    };
    store.finish_key_switch(r.to, clock.now()).await?;
    store.announce_auth_change().await?;
    let mut entry = AuditEntry::by_operator(&operator, Action::KeysRotate, 0, None, clock.now());
    entry.member_id = None;
    entry.key_version = Some(r.to);
    crate::audit::write(store, &[entry])
        .await
        .context("the switch ended but its audit entry could not be written")?;
    tracing::info!(%operator, action = Action::KeysRotate.as_str(), to = r.to, "operator action: key switch finished");
    println!("every stored token is at key version {}", r.to);
    // A request that was already running when the switch ended may still write a row at
    // the old version (web sessions and caller verifications are written at the current
    // one); after another grace period, such rows are re-keyed too.
    tokio::time::sleep(r.grace).await;
    if let Some(n) = rekey_all(store, &p, r, &mut 0).await?
        && n > 0
    {
        println!(
            "re-keyed {n} rows written at version {} meanwhile",
            r.to - 1
        );
    }
    println!(
        "done: the keys before version {} alone no longer test anything against this database; keep them in the keyring (tokens are computed through the chain)",
        r.to
    );
    Ok(())
}

/// Re-keys every table's rows at `to - 1` until none is left; `None` when `max_batches`
/// stopped it first, else how many rows moved.
async fn rekey_all(
    store: &Store,
    p: &Pseudonymiser,
    r: &Rotation,
    batches: &mut u64,
) -> anyhow::Result<Option<u64>> {
    let step = |b: &[u8]| {
        let bytes = <[u8; 32]>::try_from(b).ok()?;
        p.rekey(&bytes, r.to)
    };
    let mut total = 0;
    // Rows keep arriving at the old version only from requests that began before the
    // switch; a few passes see them all.
    for _pass in 0..10 {
        for table in crate::store::TABLES {
            let started = std::time::Instant::now();
            let mut cursor = crate::store::Cursor::default();
            let mut moved = crate::store::Batch::default();
            loop {
                if r.max_batches.is_some_and(|m| *batches >= m) {
                    return Ok(None);
                }
                let b = store
                    .rekey_batch(table, r.to, r.batch, &mut cursor, &step)
                    .await
                    .with_context(|| format!("re-keying {}", table.name))?;
                if b.seen > 0 {
                    *batches += 1;
                }
                moved.seen += b.seen;
                moved.rekeyed += b.rekeyed;
                moved.superseded += b.superseded;
                moved.cleared += b.cleared;
                if b.seen < r.batch as u64 {
                    break;
                }
            }
            if moved.seen > 0 {
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{}: {} rows re-keyed in {:.2} s ({:.0} rows/s){}{}",
                    table.name,
                    moved.rekeyed,
                    secs,
                    moved.rekeyed as f64 / secs.max(1e-9),
                    if moved.superseded > 0 {
                        format!(", {} superseded by a newer row", moved.superseded)
                    } else {
                        String::new()
                    },
                    if moved.cleared > 0 {
                        format!(
                            ", {} version-1 audit entries cleared (they now count as redacted)",
                            moved.cleared
                        )
                    } else {
                        String::new()
                    },
                );
            }
            total += moved.seen;
        }
        let mut left = 0;
        for table in crate::store::TABLES {
            left += store.count_at_version(table, r.to - 1).await?;
        }
        if left == 0 {
            return Ok(Some(total));
        }
    }
    bail!(
        "rows keep appearing at version {}: is an instance without the new keyring still serving?",
        r.to - 1
    )
}

async fn key(
    cmd: KeyCommand,
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Issue { member, scopes } => {
            let scopes = parse_scopes(&scopes).map_err(anyhow::Error::msg)?;
            let issued = issue_key(store, member, &scopes, now)
                .await
                .with_context(|| format!("member {member}"))?;
            record(store, Action::KeyIssue, member, Some(&issued.key_id), now).await?;
            eprintln!(
                "key {} issued; it is shown once and cannot be recovered:",
                issued.key_id
            );
            println!("{}", issued.token);
        }
        KeyCommand::List { member } => {
            println!(
                "{:<18} {:<40} {:<26} revoked",
                "key id", "scopes", "created"
            );
            for k in store.list_api_keys(member).await? {
                let revoked = k
                    .revoked_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<18} {:<40} {:<26} {}",
                    k.id,
                    k.scopes,
                    k.created_at.to_rfc3339(),
                    revoked
                );
            }
        }
        KeyCommand::Revoke { key_id } => {
            let member = store
                .auth_lookup(&key_id)
                .await?
                .with_context(|| format!("key {key_id}: not found"))?
                .member
                .id;
            store
                .revoke_api_key(&key_id, now)
                .await
                .with_context(|| format!("key {key_id}"))?;
            record(store, Action::KeyRevoke, member, Some(&key_id), now).await?;
            println!("key {key_id} revoked");
        }
    }
    Ok(())
}

async fn audit(
    cmd: AuditCommand,
    store: &Store,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let signer = load_signing_key(config)?;
    let log = AuditLog::new(store.clone(), signer, config.audit_origin.clone());
    match cmd {
        AuditCommand::Verify { public_key } => {
            let verifier = match public_key {
                Some(vkey) => NoteVerifier::from_vkey(vkey.trim()).context("--public-key")?,
                None => log.verifier(),
            };
            let report = verify_log(store, &verifier, &config.audit_origin).await?;
            println!(
                "{} entries ({} past retention), {} checkpoints checked",
                report.entries, report.redacted, report.checkpoints
            );
            if let Some(first) = report.findings.first() {
                for f in &report.findings {
                    println!("FINDING: {f}");
                }
                bail!("audit log verification FAILED: {first}");
            }
            println!("audit log verified: complete and unaltered");
        }
        AuditCommand::Checkpoint => {
            print!("{}", log.checkpoint(now).await?.note);
        }
        AuditCommand::Retention => {
            let n = log
                .apply_retention(now, config.audit_retention_days)
                .await?;
            println!(
                "cleared personal data from {n} entries older than {} days",
                config.audit_retention_days
            );
        }
    }
    Ok(())
}
