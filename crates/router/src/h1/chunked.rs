//! Finds where a chunked body (RFC 9112 §7.1) ends, so it can be passed to the client
//! byte for byte as it arrives and the backend's connection reused after it. Fed any
//! split of the stream; keeps only its position, never the data.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (`digits` read so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// A chunk extension, up to the line's CR.
    Extension {
        size: u64,
    },
    /// The LF ending a size line.
    SizeLf {
        size: u64,
    },
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

#[derive(Debug, Clone)]
pub(crate) struct Chunked {
    state: State,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size { size: 0, digits: 0 },
        }
    }
}

impl Chunked {
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads framing from `bytes`; returns how many belong to the body (all of them until
    /// its last byte; the rest is not the body's).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<usize, &'static str> {
        let mut i = 0;
        while i < bytes.len() && self.state != State::Done {
            let b = bytes[i];
            self.state = match self.state {
                State::Data { left } => {
                    let take = (left.min((bytes.len() - i) as u64)) as usize;
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::Size { size, digits } => match (b as char).to_digit(16) {
                    Some(d) => {
                        if digits >= 15 {
                            return Err("chunk size too large");
                        }
                        State::Size {
                            size: size * 16 + u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err("invalid chunk size"),
                    None => match b {
                        b'\r' => State::SizeLf { size },
                        b';' | b' ' | b'\t' => State::Extension { size },
                        _ => return Err("invalid chunk size"),
                    },
                },
                State::Extension { size } => match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err("bare LF in chunk size line"),
                    _ => State::Extension { size },
                },
                State::SizeLf { size } => match (b, size) {
                    (b'\n', 0) => State::TrailerStart,
                    (b'\n', left) => State::Data { left },
                    _ => return Err("invalid chunk size line"),
                },
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return Err("chunk data longer than its size"),
                },
                State::DataLf => match b {
                    b'\n' => State::Size { size: 0, digits: 0 },
                    _ => return Err("invalid chunk end"),
                },
                State::TrailerStart => match b {
                    b'\r' => State::FinalLf,
                    _ => State::TrailerLine,
                },
                State::TrailerLine => match b {
                    b'\r' => State::TrailerLf,
                    _ => State::TrailerLine,
                },
                State::TrailerLf => match b {
                    b'\n' => State::TrailerStart,
                    _ => return Err("invalid trailer line"),
                },
                State::FinalLf => match b {
                    b'\n' => State::Done,
                    _ => return Err("invalid end of chunked body"),
                },
                State::Done => unreachable!("the loop stops at Done"),
            };
            i += 1;
        }
        Ok(i)
    }
}

/// `data` as one chunk of a chunked body (nothing for empty data, which would end it).
pub(crate) fn encode(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body.
pub(crate) const END: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";

    #[test]
    fn the_end_is_found_at_any_split() {
        let mut stream = BODY.to_vec();
        stream.extend_from_slice(b"HTTP/1.1 200 OK");
        for split in 0..stream.len() {
            let mut c = Chunked::default();
            let a = c.feed(&stream[..split]).unwrap();
            assert_eq!(a, split.min(BODY.len()));
            let b = c.feed(&stream[split..]).unwrap();
            assert_eq!(a + b, BODY.len(), "split at {split}");
            assert!(c.is_done());
        }
    }

    #[test]
    fn a_body_without_trailers_ends_at_its_empty_line() {
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"0\r\n\r\nrest").unwrap(), 5);
        assert!(c.is_done());
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloX",
            b"5\nhello",
            b"fffffffffffffffff\r\n",
        ] {
            assert!(Chunked::default().feed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn data_is_encoded_as_a_chunk() {
        let mut out = Vec::new();
        encode(b"", &mut out);
        encode(b"hello world, hi", &mut out);
        out.extend_from_slice(END);
        assert_eq!(out, b"f\r\nhello world, hi\r\n0\r\n\r\n");
        let mut c = Chunked::default();
        assert_eq!(c.feed(&out).unwrap(), out.len());
        assert!(c.is_done());
    }
}
