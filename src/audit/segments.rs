//! "Who checked me" at any log size: the subject index in segments, each sealed segment
//! with a filter of the people in it (migration 0015, docs/audit.md).
//!
//! The index is keyed by (segment, subject token, leaf), so an append only ever touches
//! the newest segment's part of it, which stays as small as an empty log's index: the
//! cost of an append no longer grows with the log. The price is on the reading side: a
//! person's entries may lie in any segment, so a lookup probes segment by segment,
//! newest first, and skips each sealed segment whose filter says the person is not
//! there. A filter is a Bloom filter: it may say "perhaps" for someone absent (about
//! 0.3 % of segments), never "no" for someone present, so a lookup misses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::pseudonym::Token;
use crate::store::{Store, StoreError};

/// Leaves per segment, as a power of two. Migration 0015's index expression
/// (`leaf_index >> 17`) must say the same. 131 072 entries: about the size of the empty
/// log appends were measured against, so the part an append touches is never larger.
pub const SEGMENT_BITS: u32 = 17;

/// The segment leaf `leaf` belongs to.
pub fn segment_of(leaf: i64) -> i64 {
    leaf >> SEGMENT_BITS
}

/// Segments probed per statement: a person's newest entries are usually in the newest
/// segments, and a page needs only 25 of them.
const SEGMENTS_PER_QUERY: usize = 16;

/// 12 bits per token and 8 probes: a false "perhaps" for about 0.3 % of absent people,
/// at 1.5 bytes of memory per entry in the log (150 MB at 100 M entries).
const BITS_PER_TOKEN: usize = 12;
const PROBES: u64 = 8;
/// The first byte of a stored filter: its layout, so a later one can change it.
const FORMAT: u8 = 1;

/// A Bloom filter of the subject tokens in one sealed segment.
#[derive(Clone, PartialEq, Eq)]
pub struct SegmentFilter {
    bits: Vec<u8>,
}

/// Its size only: the bits are derived from people's tokens, and a segment's are
/// 200 KB.
impl std::fmt::Debug for SegmentFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFilter")
            .field("bytes", &self.bits.len())
            .finish_non_exhaustive()
    }
}

impl SegmentFilter {
    pub fn build<T: AsRef<[u8]>>(tokens: &[T]) -> Self {
        let bytes = (tokens.len() * BITS_PER_TOKEN).div_ceil(8).max(8);
        let mut filter = SegmentFilter {
            bits: vec![0; bytes],
        };
        for t in tokens {
            for p in positions(filter.bits.len(), probe_key(t.as_ref())) {
                filter.bits[p / 8] |= 1 << (p % 8);
            }
        }
        filter
    }

    pub fn may_contain(&self, token: &[u8]) -> bool {
        self.may_contain_key(probe_key(token))
    }

    /// As `may_contain`, with the token's [`probe_key`] computed once for every segment.
    fn may_contain_key(&self, key: ProbeKey) -> bool {
        positions(self.bits.len(), key).all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.bits.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.bits);
        out
    }

    /// `None` for a layout this hub does not know or an empty filter: the segment is then
    /// probed as if it had none.
    pub fn from_bytes(stored: &[u8]) -> Option<Self> {
        match stored.split_first() {
            Some((&FORMAT, bits)) if !bits.is_empty() => Some(SegmentFilter {
                bits: bits.to_vec(),
            }),
            _ => None,
        }
    }
}

/// The two hashes a token's bit positions are derived from, in a filter of any size.
#[derive(Debug, Clone, Copy)]
struct ProbeKey(u64, u64);

/// The token is hashed again rather than used as it is: tokens are keyed hashes already,
/// but the filter should not depend on that (the bench tool's synthetic subjects are not).
fn probe_key(token: &[u8]) -> ProbeKey {
    let h = blake3::hash(token);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&h.as_bytes()[i..i + 8]);
        u64::from_le_bytes(w)
    };
    ProbeKey(word(0), word(8) | 1)
}

/// The bit positions of a token in a filter of `bytes` bytes, by double hashing.
fn positions(bytes: usize, ProbeKey(a, b): ProbeKey) -> impl Iterator<Item = usize> + use<> {
    let m = (bytes * 8) as u64;
    (0..PROBES).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) % m) as usize)
}

/// The filters this hub has read, by segment, with the generation each was built at. A
/// filter row never changes: a rotation deletes it and a new one comes with a new
/// generation, so a cached filter is good for as long as its (segment, generation) row
/// is listed.
#[derive(Debug, Default)]
pub struct FilterCache {
    filters: Mutex<HashMap<i64, (i64, Arc<SegmentFilter>)>>,
}

impl FilterCache {
    fn get(&self, segment: i64, generation: i64) -> Option<Arc<SegmentFilter>> {
        let filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        match filters.get(&segment) {
            Some((g, f)) if *g == generation => Some(f.clone()),
            _ => None,
        }
    }

    fn put(&self, segment: i64, generation: i64, filter: Arc<SegmentFilter>) {
        let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        filters.insert(segment, (generation, filter));
    }
}

/// The filter stored for `segment` at `generation`, from the cache or else the database.
async fn cached(
    store: &Store,
    segment: i64,
    generation: i64,
) -> Result<Option<Arc<SegmentFilter>>, StoreError> {
    let cache = store.filter_cache();
    if let Some(f) = cache.get(segment, generation) {
        return Ok(Some(f));
    }
    let Some(bytes) = store.segment_filter(segment, generation).await? else {
        return Ok(None);
    };
    Ok(SegmentFilter::from_bytes(&bytes).map(|f| {
        let f = Arc::new(f);
        cache.put(segment, generation, f.clone());
        f
    }))
}

/// The segments that may hold entries about `subject` below leaf `before`, newest
/// first: every segment not yet sealed or without a filter, and each sealed one whose
/// filter says perhaps for one of the person's tokens.
///
/// `subject` must be computed before this is called: a rotation finishing in between
/// could otherwise leave a filter of old tokens to be asked about new ones.
async fn candidates(store: &Store, subject: &[Token], before: i64) -> Result<Vec<i64>, StoreError> {
    let (size, listed) = store.segment_filters().await?;
    let last = before.min(size) - 1;
    if last < 0 {
        return Ok(Vec::new());
    }
    let listed: HashMap<i64, i64> = listed.into_iter().collect();
    // Hashed once here, not once per segment: at 100 M entries there are 763 segments.
    let keys: Vec<ProbeKey> = subject.iter().map(|t| probe_key(&t.bytes)).collect();
    let mut out = Vec::new();
    for segment in (0..=segment_of(last)).rev() {
        let Some(&generation) = listed.get(&segment) else {
            out.push(segment);
            continue;
        };
        // `None` if deleted by a rotation since it was listed: the segment is probed.
        let filter = cached(store, segment, generation).await?;
        let perhaps = filter.is_none_or(|f| keys.iter().any(|k| f.may_contain_key(*k)));
        if perhaps {
            out.push(segment);
        }
    }
    Ok(out)
}

/// Entries about `subject` below leaf `before`, newest first, at most `limit`.
pub async fn lookups(
    store: &Store,
    subject: &[Token],
    before: i64,
    limit: i64,
) -> Result<Vec<crate::store::SubjectLookup>, StoreError> {
    let segments = candidates(store, subject, before).await?;
    let mut out = Vec::new();
    for group in segments.chunks(SEGMENTS_PER_QUERY) {
        let wanted = limit - out.len() as i64;
        if wanted <= 0 {
            break;
        }
        // Segments are disjoint leaf ranges, newest group first: each group's rows are
        // all older than the previous group's, so appending keeps the order.
        out.extend(
            store
                .subject_lookups(subject, group, before, wanted)
                .await?,
        );
    }
    Ok(out)
}

/// Builds the filters of sealed segments that have none, newest first, at most `budget`
/// of them, and reads the others into this hub's cache; returns how many it built. Run
/// from housekeeping: after an upgrade to migration 0015 every old segment needs one, and
/// each new segment needs one once full.
pub async fn build_filters(store: &Store, budget: usize) -> Result<usize, StoreError> {
    // Read before the tokens: a rotation committing after this moves the generation on,
    // and the store then refuses a filter built from tokens it may have changed.
    let generation = store.subject_index_generation().await?;
    let (size, listed) = store.segment_filters().await?;
    let listed: HashMap<i64, i64> = listed.into_iter().collect();
    let mut built = 0;
    for segment in (0..segment_of(size)).rev() {
        if built == budget {
            break;
        }
        if listed.contains_key(&segment) {
            continue;
        }
        let tokens = store.segment_tokens(segment).await?;
        let filter = SegmentFilter::build(&tokens);
        if !store
            .insert_segment_filter(segment, generation, &filter.to_bytes())
            .await?
        {
            // A rotation moved the generation on: the next pass starts again.
            break;
        }
        // Any filter built at this generation holds every token the segment can still
        // have (only retention removes tokens meanwhile), so this one serves even where
        // another instance's was stored first.
        store
            .filter_cache()
            .put(segment, generation, Arc::new(filter));
        built += 1;
    }
    // Read every other filter into this hub's memory now, so that the first lookups after
    // a start do not each wait for hundreds of them.
    for (segment, generation) in listed {
        cached(store, segment, generation).await?;
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(i: u32) -> [u8; 32] {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    #[test]
    fn a_filter_never_says_no_for_a_token_it_was_built_from() {
        let tokens: Vec<[u8; 32]> = (0..50_000).map(token).collect();
        let filter = SegmentFilter::build(&tokens);
        assert!(tokens.iter().all(|t| filter.may_contain(t)));
    }

    #[test]
    fn a_filter_says_perhaps_for_well_under_one_percent_of_absent_tokens() {
        let tokens: Vec<[u8; 32]> = (0..50_000).map(token).collect();
        let filter = SegmentFilter::build(&tokens);
        let wrong = (1_000_000..1_100_000)
            .filter(|&i| filter.may_contain(&token(i)))
            .count();
        // 12 bits and 8 probes per token: about 0.31 % expected.
        assert!(wrong < 500, "{wrong} of 100 000 absent tokens said perhaps");
        assert!(wrong > 0, "a Bloom filter this size is never exact");
    }

    #[test]
    fn a_stored_filter_reads_back_the_same_and_an_unknown_layout_reads_as_none() {
        let filter = SegmentFilter::build(&[token(1), token(2)]);
        let stored = filter.to_bytes();
        assert_eq!(SegmentFilter::from_bytes(&stored), Some(filter));
        let mut other = stored.clone();
        other[0] = 2;
        assert_eq!(SegmentFilter::from_bytes(&other), None);
        assert_eq!(SegmentFilter::from_bytes(&[]), None);
        assert_eq!(SegmentFilter::from_bytes(&[FORMAT]), None);
    }

    #[test]
    fn a_filters_debug_output_gives_its_size_and_none_of_its_bits() {
        let filter = SegmentFilter::build(&[token(1), token(2)]);
        let shown = format!("{filter:?}");
        assert!(shown.contains("bytes: 8"), "{shown}");
        assert!(!shown.contains("bits"), "{shown}");
    }

    #[test]
    fn an_empty_segment_gets_a_filter_that_says_no_to_everyone() {
        let filter = SegmentFilter::build::<[u8; 32]>(&[]);
        assert!(!(0..1000).any(|i| filter.may_contain(&token(i))));
    }
}
