//! Defences against enumeration of personal numbers.
//!
//! A member's rate limit bounds how fast it may look up, not what it looks up: at the
//! default quota a member could walk every valid personal number (~3.6e7) in hours and
//! learn every identity-theft victim. Two rules close that, per member and per hub
//! instance (like the rate limits):
//!
//! - a budget of distinct personal numbers per UTC day (re-checking the same person is
//!   free; set per member from the CLI, default from the configuration), of which each
//!   instance enforces its share (`quota_instances`);
//! - sweep detection: a sweep walks either the serial numbers of one birth date or the
//!   birth dates of one serial, which legitimate traffic (spread over ~36,500 dates and
//!   999 serials) never concentrates on. Too many distinct numbers sharing a birth date,
//!   or sharing a serial, inside the window trips the detector; the member is refused
//!   for one window and the trip is recorded for the operator.
//!
//! Only in-memory counters keyed by birth date or serial are kept, plus short keyed
//! hashes (with a per-process random key) of the numbers seen today; no number is
//! stored or logged.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::identifiers::{IdentifierKind, Normalised};

#[derive(Debug, Clone, Copy)]
pub struct EnumerationSettings {
    /// Distinct personal numbers per member per UTC day unless the member has its own.
    pub default_daily_subjects: u64,
    pub window: Duration,
    /// More distinct numbers than this with one birth date inside the window is a sweep.
    pub same_birth_date_max: u32,
    /// More distinct numbers than this with one serial inside the window is a sweep.
    pub same_serial_max: u32,
    /// The daily budget is the hub's; this instance enforces its share of it.
    pub share: crate::quota_share::QuotaShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BudgetExhausted {
        retry_after_secs: u64,
    },
    /// `first` is true for the request that tripped the detector: record it once.
    Sweep {
        retry_after_secs: u64,
        first: bool,
    },
}

#[derive(Debug)]
pub struct EnumerationGuard {
    settings: EnumerationSettings,
    seen_key: [u8; 32],
    members: Mutex<HashMap<i64, MemberState>>,
}

#[derive(Debug)]
struct MemberState {
    day: NaiveDate,
    seen_today: HashSet<u64>,
    recent: VecDeque<(DateTime<Utc>, u32, u16)>,
    per_date: HashMap<u32, u32>,
    per_serial: HashMap<u16, u32>,
    refused_until: Option<DateTime<Utc>>,
}

impl MemberState {
    fn new(day: NaiveDate) -> Self {
        Self {
            day,
            seen_today: HashSet::new(),
            recent: VecDeque::new(),
            per_date: HashMap::new(),
            per_serial: HashMap::new(),
            refused_until: None,
        }
    }

    fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        while let Some(&(at, date, serial)) = self.recent.front() {
            if at >= cutoff {
                break;
            }
            self.recent.pop_front();
            decrement(&mut self.per_date, date);
            decrement(&mut self.per_serial, serial);
        }
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

/// Birth date (as `YYYYMMDD`, coordination day included) and serial of a normalised
/// twelve-digit personal number.
fn parts(pn: &str) -> Option<(u32, u16)> {
    let date = pn.get(0..8)?.parse().ok()?;
    let serial = pn.get(8..11)?.parse().ok()?;
    Some((date, serial))
}

impl EnumerationGuard {
    pub fn new(settings: EnumerationSettings) -> Self {
        Self {
            settings,
            seen_key: rand::random(),
            members: Mutex::new(HashMap::new()),
        }
    }

    fn seen_hash(&self, value: &str) -> u64 {
        let h = blake3::keyed_hash(&self.seen_key, value.as_bytes());
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(prefix)
    }

    /// Admits a lookup of `identifiers` by `member_id` at `now`, or says why not. Only
    /// personal numbers count; a refused request counts against nothing but the sweep
    /// detector.
    pub fn admit(
        &self,
        member_id: i64,
        member_budget: Option<i64>,
        identifiers: &[Normalised],
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let pns: Vec<&str> = identifiers
            .iter()
            .filter(|id| id.kind() == IdentifierKind::SePersonalNumber)
            .map(Normalised::value)
            .collect();
        if pns.is_empty() {
            return Ok(());
        }
        let today = now.date_naive();
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let state = members
            .entry(member_id)
            .or_insert_with(|| MemberState::new(today));
        if state.day != today {
            state.day = today;
            state.seen_today.clear();
        }
        if let Some(until) = state.refused_until {
            if until > now {
                return Err(Refusal::Sweep {
                    retry_after_secs: secs_until(now, until),
                    first: false,
                });
            }
            state.refused_until = None;
        }
        let mut fresh: Vec<(u64, &str)> = Vec::new();
        // A set, not a scan of `fresh`: bulk matching admits a thousand numbers at once.
        let mut fresh_seen: HashSet<u64> = HashSet::with_capacity(pns.len());
        for pn in pns {
            let h = self.seen_hash(pn);
            if !state.seen_today.contains(&h) && fresh_seen.insert(h) {
                fresh.push((h, pn));
            }
        }
        let budget = self.settings.share.count(
            member_budget
                .and_then(|b| u64::try_from(b).ok())
                .unwrap_or(self.settings.default_daily_subjects),
        );
        if (state.seen_today.len() + fresh.len()) as u64 > budget {
            let midnight = today
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
                .unwrap_or(now);
            return Err(Refusal::BudgetExhausted {
                retry_after_secs: secs_until(now, midnight),
            });
        }
        state.forget_before(now - self.settings.window);
        for (_, pn) in &fresh {
            if let Some((date, serial)) = parts(pn) {
                state.recent.push_back((now, date, serial));
                *state.per_date.entry(date).or_default() += 1;
                *state.per_serial.entry(serial).or_default() += 1;
            }
        }
        let swept = state
            .per_date
            .values()
            .any(|n| *n > self.settings.same_birth_date_max)
            || state
                .per_serial
                .values()
                .any(|n| *n > self.settings.same_serial_max);
        if swept {
            let until = now + self.settings.window;
            state.refused_until = Some(until);
            return Err(Refusal::Sweep {
                retry_after_secs: secs_until(now, until),
                first: true,
            });
        }
        state.seen_today.extend(fresh.iter().map(|(h, _)| *h));
        Ok(())
    }
}

fn secs_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let ms = u64::try_from((then - now).num_milliseconds()).unwrap_or(0);
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_date_and_serial_come_from_the_twelve_digit_form() {
        assert_eq!(parts("199001010017"), Some((19900101, 1)));
        assert_eq!(parts("19900161123"), Some((19900161, 123)));
        assert_eq!(parts("1990"), None);
    }
}
