//! The NDJSON reader of the bulk routes: lines out of a body however it is chunked, and
//! never more than one line held. The first byte sets the line limit, the next the chunk
//! boundaries; the rest is the body.

#![no_main]

use fraudhub::NdjsonLines;
use libfuzzer_sys::fuzz_target;

/// The lines of `body` read in chunks cut where `cuts` says, with the rest after the end.
fn read(max: usize, body: &[u8], cuts: u8) -> Vec<(Vec<u8>, bool)> {
    let mut lines = NdjsonLines::new(max);
    let mut out = Vec::new();
    let mut rest = body;
    let mut step = 0usize;
    while !rest.is_empty() {
        // Chunk sizes cycle through 1..=8 driven by `cuts`; 0 means "all at once".
        let size = if cuts == 0 {
            rest.len()
        } else {
            1 + ((usize::from(cuts) >> (step % 3)) + step) % 8
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.extend(lines.split(chunk));
        rest = tail;
        step += 1;
    }
    out.extend(lines.rest());
    assert_eq!(lines.rest(), None, "the rest is handed out once");
    out
}

fuzz_target!(|data: &[u8]| {
    let [max, cuts, body @ ..] = data else {
        return;
    };
    let max = usize::from(*max % 64);
    let whole = read(max, body, 0);
    let chunked = read(max, body, *cuts);
    assert_eq!(whole, chunked, "chunking changed the lines");

    // The same lines as splitting the whole body at newlines, those of more than `max`
    // bytes (newline not counted) dropped.
    let expected: Vec<(Vec<u8>, bool)> = body
        .split_inclusive(|b| *b == b'\n')
        .map(|line| {
            if line.strip_suffix(b"\n").unwrap_or(line).len() > max {
                (Vec::new(), true)
            } else {
                (line.to_vec(), false)
            }
        })
        .collect();
    assert_eq!(whole, expected);
    for (line, too_long) in &whole {
        assert!(line.len() <= max + 1);
        assert!(
            !too_long || line.is_empty(),
            "a dropped line's bytes were kept"
        );
    }
});
