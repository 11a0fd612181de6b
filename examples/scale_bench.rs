//! The audit log at scale (issue 14 item 3): grows a hub database's log to a given size
//! with synthetic entries, then times the per-person "who checked me" query.
//!
//! ```sh
//! cargo build --release --example scale_bench
//! target/release/examples/scale_bench --database-url URL --grow-to N [--batch B]
//! ```
//!
//! Entries go through the hub's own append path (`fraudhub::audit::write`: one transaction
//! per batch, leaf hashes and tree nodes computed, one disk sync), not over HTTP, so a large
//! log takes minutes rather than hours. Subjects are drawn from a population of a quarter
//! as many people as entries (about four lookups per person, randomly spread), each entry
//! with the encoding the hub writes now (a random 16-byte subject reference in the leaf).
//! `scripts/bench-scale.sh` calls it between HTTP runs against the same database and
//! reports the disk size per entry.
//!
//! Prints one line of `key=value` pairs for the script to read.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rand::Rng;

use fraudhub::audit::entry::{Action, Actor, AuditEntry, Outcome, Purpose};
use fraudhub::clock::from_millis;
use fraudhub::pseudonym::Token;
use fraudhub::store::Store;

const WHO_QUERIES: usize = 1000;

struct Args {
    database_url: String,
    grow_to: u64,
    batch: usize,
}

fn parse_args() -> Result<Args> {
    let (mut url, mut grow_to, mut batch) = (None, None, 2048);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--database-url" => url = Some(value()?),
            "--grow-to" => grow_to = Some(value()?.replace('_', "").parse()?),
            "--batch" => batch = value()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(Args {
        database_url: url.context("--database-url is required")?,
        grow_to: grow_to.context("--grow-to is required")?,
        batch,
    })
}

/// The subject of person `p` of the population: 32 bytes, `p` in hexadecimal twice, so that
/// `scripts/bench/load-log.sh` makes the same ones in SQL. People are drawn at random, so
/// the subject index receives them in random order, as it does keyed tokens.
fn subject(p: u64) -> [u8; 32] {
    let mut token = [0u8; 32];
    token.copy_from_slice(format!("{p:016x}{p:016x}").as_bytes());
    token
}

fn population(size: u64) -> u64 {
    (size / 4).max(1)
}

fn synthetic(i: u64, person: u64, base_ms: i64, reference: [u8; 16]) -> AuditEntry {
    AuditEntry {
        at: from_millis(base_ms + (i / 16) as i64),
        member_id: Some(1 + (i % 7) as i64),
        key_id: Some(format!("k{:015x}", i % 97)),
        action: Action::Match,
        purpose: Some(Purpose::AccountOpening),
        subject_token: Some(subject(person).to_vec()),
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
        entry_version: 3,
        actor: Actor::Member,
        subject_view: Some(reference.to_vec()),
        correlation_id: None,
    }
}

/// (p50, p99, max) in milliseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99), at(1.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let store = Store::connect(&args.database_url, 2).await?;
    store.migrate().await?;
    let start = store.tree_size().await?;
    let mut rng = rand::rng();
    let base_ms = Utc::now().timestamp_millis();
    let people = population(args.grow_to);

    // Append until the log has `grow_to` entries; the rate over the last tenth is the
    // append rate at this size.
    let last_tenth_from = start.max(args.grow_to - (args.grow_to - start) / 10);
    let (mut size, began) = (start, Instant::now());
    let mut tenth: Option<(u64, Instant)> = None;
    while size < args.grow_to {
        if tenth.is_none() && size >= last_tenth_from {
            tenth = Some((size, Instant::now()));
        }
        let n = (args.grow_to - size).min(args.batch as u64);
        let rows: Vec<AuditEntry> = (size..size + n)
            .map(|i| synthetic(i, rng.random_range(0..people), base_ms, rng.random()))
            .collect();
        size = fraudhub::audit::write(&store, &rows).await?;
        if size % 1_000_000 < n {
            eprintln!("scale_bench: {size} entries");
        }
    }
    let appended = size - start;
    let append_rate = |from: u64, t: Instant| (size - from) as f64 / t.elapsed().as_secs_f64();
    let overall = if appended > 0 {
        append_rate(start, began)
    } else {
        0.0
    };
    let last = tenth.map_or(0.0, |(from, t)| append_rate(from, t));

    // What the hub's housekeeping does beside the appends: a filter for each sealed
    // segment. Timed apart, so its cost per entry can be added to the append rate's.
    let t = Instant::now();
    let filters_built = fraudhub::audit::segments::build_filters(&store, usize::MAX).await?;
    let filter_secs = t.elapsed().as_secs_f64();

    // "Who checked me": the consumer page's lookup for one person, for random people.
    let mut times = Vec::with_capacity(WHO_QUERIES);
    let mut rows = 0usize;
    for _ in 0..WHO_QUERIES {
        let token = Token {
            version: 1,
            bytes: subject(rng.random_range(0..people)),
        };
        let t = Instant::now();
        let found = fraudhub::audit::segments::lookups(&store, &[token], i64::MAX, 50).await?;
        times.push(t.elapsed());
        rows += found.len();
    }
    let (p50, p99, max) = percentiles(times);
    println!(
        "size={size} appended={appended} append_overall_per_s={overall:.0} \
         append_last_tenth_per_s={last:.0} who_p50_ms={p50:.3} who_p99_ms={p99:.3} \
         who_max_ms={max:.3} who_rows_avg={:.2} filters_built={filters_built} \
         filter_build_s={filter_secs:.3}",
        rows as f64 / WHO_QUERIES as f64
    );
    store.close().await;
    Ok(())
}
