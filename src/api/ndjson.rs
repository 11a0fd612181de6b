//! Reading an NDJSON request body as it arrives: complete lines out of streamed chunks,
//! never holding more than one line, however long the body.

/// Splits streamed chunks into lines of at most `max` bytes (plus the newline). A longer
/// line is dropped as it arrives and reported as too long, so a hostile body cannot make
/// the hub buffer it.
pub struct Lines {
    buf: Vec<u8>,
    skipping: bool,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Self {
        Lines {
            buf: Vec::new(),
            skipping: false,
            max,
        }
    }

    /// The lines `chunk` completes, each with its newline and whether it was too long;
    /// a partial last line is kept for the next chunk.
    pub fn split(&mut self, chunk: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if !self.skipping {
                self.buf.extend_from_slice(piece);
            }
            if self.buf.len() > self.max + 1 {
                self.skipping = true;
                self.buf.clear();
            }
            if piece.last() == Some(&b'\n') {
                out.push((
                    std::mem::take(&mut self.buf),
                    std::mem::take(&mut self.skipping),
                ));
            }
        }
        out
    }

    /// After the body ended: a last line without a newline, if there is one.
    pub fn rest(&mut self) -> Option<(Vec<u8>, bool)> {
        // `split` allows a newline's byte beyond `max`; a last line has no newline.
        if self.buf.len() > self.max {
            self.buf.clear();
            self.skipping = true;
        }
        (!self.buf.is_empty() || self.skipping).then(|| {
            (
                std::mem::take(&mut self.buf),
                std::mem::take(&mut self.skipping),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_span_chunks_and_long_lines_are_dropped_not_buffered() {
        let mut lines = Lines::new(4);
        assert_eq!(lines.split(b"ab"), vec![]);
        assert_eq!(lines.split(b"c\nde"), vec![(b"abc\n".to_vec(), false)]);
        assert_eq!(
            lines.split(b"fghij\nk\n"),
            vec![(vec![], true), (b"k\n".to_vec(), false)]
        );
        assert_eq!(lines.split(b"xyz"), vec![]);
        assert_eq!(lines.rest(), Some((b"xyz".to_vec(), false)));
        assert_eq!(lines.rest(), None);
    }

    /// Found by the `ndjson_lines` fuzz target: a last line without a newline was held
    /// to `max + 1` bytes, one more than every other line.
    #[test]
    fn a_last_line_without_a_newline_is_held_to_the_same_limit() {
        let mut lines = Lines::new(4);
        assert_eq!(
            lines.split(b"abcd\nabcde"),
            vec![(b"abcd\n".to_vec(), false)]
        );
        assert_eq!(lines.rest(), Some((vec![], true)));
        let mut lines = Lines::new(4);
        assert_eq!(lines.split(b"abcd"), vec![]);
        assert_eq!(lines.rest(), Some((b"abcd".to_vec(), false)));
    }
}
