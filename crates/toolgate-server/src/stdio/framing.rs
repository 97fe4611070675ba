//! Newline-delimited JSON-RPC input: tokio-util's delimiter codec with rmcp's line limit,
//! adapted to the rules rmcp applies to stdin: a line over the limit is dropped (reported,
//! never buffered whole) and reading goes on at the next line; an unterminated last line at
//! end of input is dropped.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, Decoder};

/// Longest accepted line, rmcp's limit (longer ones are dropped with an error, as rmcp does).
pub(crate) const MAX_LINE_BYTES: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;

/// One unit of input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole line, without its `\n` (a `\r` before it stays; see [`trim_cr`]).
    Line(Bytes),
    /// A line longer than the limit was dropped.
    Oversized,
}

/// The stdio input codec (see the module docs).
pub(crate) struct LineCodec(AnyDelimiterCodec);

impl LineCodec {
    pub(crate) fn new() -> Self {
        Self::with_max_length(MAX_LINE_BYTES)
    }

    fn with_max_length(max: usize) -> Self {
        LineCodec(AnyDelimiterCodec::new_with_max_length(
            b"\n".to_vec(),
            Vec::new(),
            max,
        ))
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        match self.0.decode(buf) {
            Ok(line) => Ok(line.map(Frame::Line)),
            // The codec discards the rest of the line itself.
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => Ok(Some(Frame::Oversized)),
            Err(AnyDelimiterCodecError::Io(e)) => Err(e),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                // An unterminated last line is dropped, as rmcp does.
                buf.clear();
                Ok(None)
            }
        }
    }
}

/// `line` without a trailing `\r`.
pub(crate) fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use tokio_util::codec::FramedRead;

    use super::*;

    #[tokio::test]
    async fn lines_are_split_bounded_and_the_unterminated_tail_is_dropped() {
        let max = 64;
        let mut input = b"one\r\n\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', max + 10));
        input.extend_from_slice(b"\nthree\ntail");
        // A small read buffer, so lines straddle reads.
        let reader = tokio::io::BufReader::with_capacity(7, &input[..]);
        let frames: Vec<String> = FramedRead::new(reader, LineCodec::with_max_length(max))
            .map(|f| match f.unwrap() {
                Frame::Line(l) => String::from_utf8_lossy(trim_cr(&l)).into_owned(),
                Frame::Oversized => "<oversized>".to_owned(),
            })
            .collect()
            .await;
        assert_eq!(frames, ["one", "", "two", "<oversized>", "three"]);
    }

    #[tokio::test]
    async fn an_oversized_line_at_the_end_is_reported_once() {
        let mut input = vec![b'x'; 100];
        input.push(b'\n');
        let frames: Vec<Frame> = FramedRead::new(&input[..], LineCodec::with_max_length(10))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(frames, [Frame::Oversized]);
    }
}
