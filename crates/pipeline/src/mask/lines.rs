//! A byte stream (a step's stdout or stderr) cut into masked lines.

use super::Masker;

/// Splits a byte stream into masked lines. Long lines without a newline are flushed in
/// pieces once they exceed `max_line`, holding back just enough bytes that a secret split
/// across chunks (or pieces) is still masked whole.
#[derive(Debug)]
pub struct LineMasker {
    masker: Masker,
    buf: Vec<u8>,
    max_line: usize,
}

impl LineMasker {
    #[must_use]
    pub fn new(masker: Masker, max_line: usize) -> LineMasker {
        LineMasker {
            masker,
            buf: Vec::new(),
            max_line: max_line.max(1),
        }
    }

    /// Feeds a chunk; returns the masked complete lines (without their `\n`).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.push(self.masker.mask_bytes(line));
        }
        if self.buf.len() > self.max_line {
            let cut = self.masker.safe_cut(&self.buf);
            if cut > 0 {
                let piece: Vec<u8> = self.buf.drain(..cut).collect();
                out.push(self.masker.mask_bytes(&piece));
            }
        }
        out
    }

    /// The masked rest after the stream ended, if any.
    pub fn finish(&mut self) -> Option<String> {
        if self.buf.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.buf);
        Some(self.masker.mask_bytes(&rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MASK;
    use proptest::prelude::*;

    fn feed_all(m: &Masker, max_line: usize, chunks: &[&[u8]]) -> String {
        let mut lm = LineMasker::new(m.clone(), max_line);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(lm.feed(c));
        }
        out.extend(lm.finish());
        out.concat()
    }

    /// `bytes` cut at the given offsets (clamped, in any order), as a writer's chunks.
    fn cut(bytes: &[u8], cuts: Vec<usize>) -> Vec<&[u8]> {
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&bytes[last..p]);
            last = p;
        }
        chunks.push(&bytes[last..]);
        chunks
    }

    proptest! {
        // Whatever the chunking and line-length limit, the secret never survives.
        #[test]
        fn split_secret_never_leaks(
            prefix in "[a-z ]{0,40}",
            suffix in "[a-z ]{0,40}",
            cuts in proptest::collection::vec(0usize..120, 0..6),
            max_line in 1usize..30,
        ) {
            let secret = "S3CR3T-VALUE";
            let m = Masker::new(vec![secret.to_string()]);
            let text = format!("{prefix}{secret}{suffix}{secret}");
            let out = feed_all(&m, max_line, &cut(text.as_bytes(), cuts));
            prop_assert!(!out.contains("S3CR3T"), "{out}");
            prop_assert_eq!(out.matches(MASK).count(), 2);
        }

        // Encoded forms split across chunks are masked whole too.
        #[test]
        fn split_encoded_secret_never_leaks(
            cuts in proptest::collection::vec(0usize..80, 0..6),
            max_line in 1usize..30,
        ) {
            let m = Masker::new(vec!["S3CR3T/VALUE".to_string()]);
            let text = "a S3CR3T%2FVALUE b \"S3CR3T\\/VALUE\" c %53%33CR3T/VALUE";
            let out = feed_all(&m, max_line, &cut(text.as_bytes(), cuts));
            prop_assert!(!out.contains("CR3T"), "{out}");
            prop_assert_eq!(out.matches(MASK).count(), 3);
        }
    }
}
