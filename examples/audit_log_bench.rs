//! Audit log (Merkle tree) benchmark: append throughput as the log grows, and proof latency
//! on a large log (issue 5 item 6).
//!
//! ```sh
//! cargo build --release --example audit_log_bench
//! target/release/examples/audit_log_bench [--entries N] [--batch B] [--database-url URL]
//! ```
//!
//! Defaults: 10 000 000 entries, appended in batches of 2048 (the hub's `audit_batch_max`)
//! through `Store::append_audit`, into a fresh SQLite file in a temporary directory. With
//! `--database-url postgres://…` the database must be empty (or freshly created): the
//! benchmark migrates it and appends to whatever log is there.
//!
//! Then, at the final size, 1000 random inclusion proofs and 1000 random consistency proofs
//! through `AuditLog`, each verified with `verify_inclusion` / `verify_consistency` against
//! roots from `AuditLog::root`, plus the time of `root()` and `checkpoint()`.
//! Prints markdown tables. Uses only the crate's public API.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rand::Rng;

use fraudhub::audit::entry::{Action, Actor, AuditEntry, Outcome, Purpose, leaf_hash};
use fraudhub::audit::log::AuditLog;
use fraudhub::clock::from_millis;
use fraudhub::store::Store;
use fraudhub::tlog::{Blake3, NoteSigner, verify_consistency, verify_inclusion};

const PROOFS: usize = 1000;

struct Args {
    entries: u64,
    batch: usize,
    database_url: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        entries: 10_000_000,
        batch: 2048,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--entries" => args.entries = value()?.replace('_', "").parse()?,
            "--batch" => args.batch = value()?.parse()?,
            "--database-url" => args.database_url = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "audit_log_bench [--entries N] [--batch B] [--database-url URL]\n\
                     default: 10000000 entries, batch 2048, SQLite in a temporary directory"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if args.entries < 2 || args.batch == 0 {
        bail!("--entries must be at least 2 and --batch at least 1");
    }
    Ok(args)
}

/// A synthetic entry with realistic field sizes: a 32-byte subject token, a 16-character
/// key id, a UUID-length request id.
fn synthetic_row(i: u64, base_ms: i64) -> AuditEntry {
    let mut token = [0u8; 32];
    token.copy_from_slice(blake3::hash(&i.to_le_bytes()).as_bytes());
    AuditEntry {
        at: from_millis(base_ms + (i / 8) as i64),
        member_id: Some(1 + (i % 7) as i64),
        key_id: Some(format!("k{:015x}", i % 97)),
        action: Action::Match,
        purpose: Some(Purpose::AccountOpening),
        subject_token: Some(token.to_vec()),
        key_version: Some(1),
        outcome: if i.is_multiple_of(50) {
            Outcome::Flagged
        } else {
            Outcome::Clear
        },
        request_id: format!(
            "{:08x}-0000-4000-8000-{:012x}",
            i >> 48,
            i & 0xffff_ffff_ffff
        ),
        entry_version: 2,
        actor: Actor::Member,
        subject_view: Some(blake3::hash(&token).as_bytes().to_vec()),
        correlation_id: None,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (p50, p99, max) in milliseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    (at(0.50), at(0.99), ms(v[v.len() - 1]))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let tmp = tempfile::tempdir()?;
    let url = match &args.database_url {
        Some(u) => u.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("audit_bench.db").display()
        ),
    };
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;
    let signer = NoteSigner::from_seed("bench.fraudhub.example", &[7u8; 32])?;
    let log = AuditLog::new(store.clone(), signer, "bench.fraudhub.example/audit".into());

    let start_size = store.tree_size().await?;
    let base_ms = Utc::now().timestamp_millis();
    let segment = (args.entries / 10).clamp(1, 1_000_000);
    eprintln!(
        "audit_log_bench: {} entries in batches of {} into {} (starting at size {start_size})",
        args.entries,
        args.batch,
        if args.database_url.is_some() {
            "the given database"
        } else {
            "a temporary SQLite file"
        },
    );

    // --- Append phase -------------------------------------------------------------------
    let mut segments: Vec<(u64, u64, Duration)> = Vec::new(); // (from, to, time)
    let mut batch_times: Vec<Duration> = Vec::new();
    let mut seg_batches: Vec<Vec<Duration>> = Vec::new();
    let total_start = Instant::now();
    let mut seg_start = Instant::now();
    let mut seg_from = start_size;
    let mut appended = 0u64;
    let mut size = start_size;
    while appended < args.entries {
        let n = (args.entries - appended).min(args.batch as u64);
        let rows: Vec<AuditEntry> = (0..n)
            .map(|k| synthetic_row(start_size + appended + k, base_ms))
            .collect();
        let t = Instant::now();
        size = fraudhub::audit::write(&store, &rows).await?;
        batch_times.push(t.elapsed());
        appended += n;
        if size != start_size + appended {
            bail!("log size {size} after appending {appended} entries to {start_size}");
        }
        if appended / segment > (seg_from - start_size) / segment || appended == args.entries {
            let el = seg_start.elapsed();
            eprintln!(
                "  {:>11} .. {:>11}: {:>9.0} entries/s",
                seg_from,
                size,
                (size - seg_from) as f64 / el.as_secs_f64()
            );
            segments.push((seg_from, size, el));
            seg_batches.push(std::mem::take(&mut batch_times));
            seg_from = size;
            seg_start = Instant::now();
        }
    }
    let total = total_start.elapsed();

    // --- Proofs at the final size ---------------------------------------------------------
    let mut rng = rand::rng();
    let t = Instant::now();
    let root = log.root(size).await?;
    let root_time = t.elapsed();
    let mut root_times = vec![root_time];
    for _ in 0..99 {
        let t = Instant::now();
        let r = log.root(size).await?;
        root_times.push(t.elapsed());
        if r != root {
            bail!("root({size}) changed between calls");
        }
    }

    let mut inc_times = Vec::with_capacity(PROOFS);
    let mut inc_fail = 0usize;
    let mut inc_len = 0usize;
    for _ in 0..PROOFS {
        let index = rng.random_range(0..size);
        let t = Instant::now();
        let proof = log.inclusion(index, size).await?;
        inc_times.push(t.elapsed());
        inc_len = inc_len.max(proof.len());
        // The leaf hash is recomputed from the stored entry, not read from the tree.
        let entry = store.audit_entry(index as i64).await?;
        let leaf = leaf_hash(entry.entry()?, index);
        if verify_inclusion::<Blake3>(index, size, &leaf, &proof, &root).is_err() {
            inc_fail += 1;
        }
    }

    let mut cons_times = Vec::with_capacity(PROOFS);
    let mut cons_fail = 0usize;
    let mut cons_len = 0usize;
    let mut old_root_times = Vec::with_capacity(PROOFS);
    for _ in 0..PROOFS {
        let old = rng.random_range(1..size);
        let t = Instant::now();
        let proof = log.consistency(old, size).await?;
        cons_times.push(t.elapsed());
        cons_len = cons_len.max(proof.len());
        let t = Instant::now();
        let old_root = log.root(old).await?;
        old_root_times.push(t.elapsed());
        if verify_consistency::<Blake3>(old, size, &proof, &old_root, &root).is_err() {
            cons_fail += 1;
        }
    }

    let t = Instant::now();
    let cp = log.checkpoint(Utc::now()).await?;
    let cp_sign_time = t.elapsed();
    let t = Instant::now();
    let cp2 = log.checkpoint(Utc::now()).await?;
    let cp_cached_time = t.elapsed();
    if cp.size != cp2.size || cp.root != root.0.to_vec() {
        bail!("checkpoint does not match root()");
    }

    // --- Report -------------------------------------------------------------------------------
    println!();
    println!(
        "{} entries appended in batches of {} via Store::append_audit on {}: {:.1} s, {:.0} entries/s overall",
        args.entries,
        args.batch,
        if url.starts_with("sqlite:") {
            "SQLite (WAL, synchronous=FULL)"
        } else {
            "PostgreSQL"
        },
        total.as_secs_f64(),
        args.entries as f64 / total.as_secs_f64()
    );
    println!();
    println!("| log size (entries) | entries/s | µs per entry | batch p50 ms | batch p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for ((from, to, el), bt) in segments.iter().zip(seg_batches) {
        let (p50, p99, _) = percentiles(bt);
        let n = (to - from) as f64;
        println!(
            "| {from} – {to} | {:.0} | {:.2} | {p50:.2} | {p99:.2} |",
            n / el.as_secs_f64(),
            el.as_secs_f64() * 1e6 / n
        );
    }
    println!();
    println!("At tree size {size}:");
    println!();
    println!(
        "| operation | count | p50 ms | p99 ms | max ms | proof hashes (max) | verification failures |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, v: Vec<Duration>, len: String, fail: String| {
        let n = v.len();
        let (p50, p99, max) = percentiles(v);
        println!("| {name} | {n} | {p50:.3} | {p99:.3} | {max:.3} | {len} | {fail} |");
    };
    row(
        "inclusion proof (random leaf)",
        inc_times,
        inc_len.to_string(),
        inc_fail.to_string(),
    );
    row(
        "consistency proof (random old size → final)",
        cons_times,
        cons_len.to_string(),
        cons_fail.to_string(),
    );
    row(
        "root(size) at final size",
        root_times,
        "–".into(),
        "–".into(),
    );
    row(
        "root(old) (random old size)",
        old_root_times,
        "–".into(),
        "–".into(),
    );
    println!(
        "| checkpoint(): sign new | 1 | {:.3} | | | – | – |",
        ms(cp_sign_time)
    );
    println!(
        "| checkpoint(): already signed | 1 | {:.3} | | | – | – |",
        ms(cp_cached_time)
    );
    println!();
    if inc_fail + cons_fail > 0 {
        bail!("{inc_fail} inclusion and {cons_fail} consistency proofs failed to verify");
    }
    store.close().await;
    Ok(())
}
