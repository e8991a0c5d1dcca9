//! `DapCodec`: the `Content-Length` framing of the Debug Adapter Protocol.
//!
//! The codec turns bytes into frame bodies and frame bodies into bytes. It
//! knows nothing of JSON: the body of a frame is handed on as raw `Bytes`, and
//! `dap::message` parses it. Keeping the two apart means a frame whose body is
//! not valid JSON is still a frame: the session can report it and read on.
//!
//! Two kinds of problems exist. A [`FrameError`] is yielded as an *item*: the
//! codec has resynchronised (skipped a run of garbage, reported once, or
//! discarded an oversized body without buffering it, up to its length or the
//! next `Content-Length` line, whichever comes first) and the stream goes on. A [`CodecError`] ends
//! the stream: I/O failures, and input that shows the peer is not a DAP
//! client at all (an HTTP request line, or an `Origin:` header, which only a
//! browser sends: a web page must never reach a debugger that runs code).
//!
//! See <https://microsoft.github.io/debug-adapter-protocol/overview#base-protocol>:
//! "`Content-Length`: the length of the content part in bytes".

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Frames larger than this are refused before anything is allocated for them.
/// debugpy itself caps bodies just below 16 MiB (`MAX_BODY_SIZE = 0xFFFFFF`).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// A header block longer than this without its terminating blank line is
/// treated as garbage. Real DAP headers are under 64 bytes.
const MAX_HEADER: usize = 8 * 1024;

const HEADER_END: &[u8] = b"\r\n\r\n";
/// Built once: `memmem::find` would build its searcher again for every frame.
static HEADER_END_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(HEADER_END));
const CONTENT_LENGTH: &str = "content-length";

/// Request methods that start an HTTP request line; seeing one of them where a
/// DAP header should be means a browser or an HTTP client found our port.
const HTTP_METHODS: &[&[u8]] =
    &[b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];

/// A malformed frame the codec recovered from; the stream continues.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header block has no `Content-Length` line, so the body cannot be found.
    #[error("frame header has no Content-Length: {0:?}")]
    MissingLength(String),
    /// `Content-Length` is not a plain decimal number of bytes.
    #[error("invalid Content-Length {0:?}: expected a decimal byte count")]
    BadLength(String),
    /// The declared body is over the limit; it was skipped without being buffered.
    #[error("frame of {len} bytes is over the {max}-byte limit and was skipped")]
    TooLarge {
        /// The declared `Content-Length`.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Bytes that are not a DAP header, skipped up to the next `Content-Length`.
    #[error("skipped {len} bytes that are not a DAP header: {preview:?}")]
    Garbage {
        /// How many bytes were skipped.
        len: usize,
        /// The first few of them, lossily decoded, for the log.
        preview: String,
    },
}

/// A problem that ends the stream.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Reading or writing the underlying transport failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The peer sent an HTTP request, not DAP.
    #[error("refusing an HTTP request on a DAP stream ({0:?}); only DAP clients may connect")]
    HttpRequest(String),
    /// The peer sent an `Origin:` header: a web page is trying to reach the debugger.
    #[error("refusing a frame with an Origin header: a web page tried to reach the debugger")]
    Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a header block.
    Header,
    /// Waiting for a body of this many bytes.
    Body { len: usize },
    /// Dropping at most this many more bytes of an oversized body: fewer if
    /// the next frame's header shows up first (see [`find_header`]).
    Discard { remaining: usize },
}

/// Content-Length framing over `BytesMut`; yields frame bodies.
#[derive(Debug, Clone)]
pub struct DapCodec {
    max_frame: usize,
    state: State,
}

impl Default for DapCodec {
    fn default() -> Self {
        DapCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl DapCodec {
    /// A codec that refuses bodies over `max_frame` bytes.
    pub fn new(max_frame: usize) -> DapCodec {
        DapCodec { max_frame, state: State::Header }
    }

    fn decode_header(&mut self, src: &mut BytesMut) -> Result<Option<Result<(), FrameError>>, CodecError> {
        // Blank lines between frames are not worth a report.
        let blank = src.iter().take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t')).count();
        src.advance(blank);
        if src.is_empty() {
            return Ok(None);
        }
        let first_line_end = memchr::memchr(b'\n', src);
        let first_line = &src[..first_line_end.unwrap_or(src.len())];
        if HTTP_METHODS.iter().any(|m| first_line.starts_with(m)) || is_http_line(first_line) {
            let line = String::from_utf8_lossy(&first_line[..first_line.len().min(80)]);
            return Err(CodecError::HttpRequest(line.trim_end().to_owned()));
        }
        if first_line_end.is_some() && memchr::memchr(b':', first_line).is_none() {
            // A whole line that is no header: garbage, reported now rather
            // than once the blank line that ends a header block comes.
            return Ok(Some(Err(skip_garbage(src))));
        }
        let Some(end) = HEADER_END_FINDER.find(src) else {
            if src.len() > MAX_HEADER {
                return Ok(Some(Err(skip_garbage(src))));
            }
            return Ok(None);
        };
        if end > MAX_HEADER {
            return Ok(Some(Err(skip_garbage(src))));
        }
        // Read in place: a frame's header costs no allocation.
        let mut length: Option<Result<usize, String>> = None;
        let mut garbage = false;
        for line in src[..end].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = memchr::memchr(b':', line) else {
                // Not a header line: skip up to the next plausible header.
                garbage = true;
                break;
            };
            let name = line[..colon].trim_ascii();
            let value = line[colon + 1..].trim_ascii();
            if name.eq_ignore_ascii_case(CONTENT_LENGTH.as_bytes()) {
                length = Some(parse_length(value).ok_or_else(|| String::from_utf8_lossy(value).into_owned()));
            } else if name.eq_ignore_ascii_case(b"origin") {
                return Err(CodecError::Origin);
            } else if !name.eq_ignore_ascii_case(b"content-type") {
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                tracing::warn!(header = name, "ignoring unknown DAP header");
            }
        }
        if garbage {
            return Ok(Some(Err(skip_garbage(src))));
        }
        let Some(length) = length else {
            // `junkContent-Length: 2` is garbage glued to a real header: resync to it.
            if matches!(find_header(&src[1.min(end)..end + HEADER_END.len()]), Scan::Found(_)) {
                return Ok(Some(Err(skip_garbage(src))));
            }
            let header = String::from_utf8_lossy(&src[..end]).into_owned();
            src.advance(end + HEADER_END.len());
            return Ok(Some(Err(FrameError::MissingLength(header))));
        };
        src.advance(end + HEADER_END.len());
        let len = match length {
            Ok(len) => len,
            Err(value) => return Ok(Some(Err(FrameError::BadLength(value)))),
        };
        if len > self.max_frame {
            self.state = State::Discard { remaining: len };
            return Ok(Some(Err(FrameError::TooLarge { len, max: self.max_frame })));
        }
        self.state = State::Body { len };
        Ok(Some(Ok(())))
    }
}

/// `HTTP/1.1 200 OK` and friends: a response line is no DAP header either.
fn is_http_line(line: &[u8]) -> bool {
    line.starts_with(b"HTTP/")
}

/// A decimal byte count: digits only (no sign, no hex, no spaces inside).
fn parse_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Drops bytes up to the next header (see [`find_header`]) after the first
/// byte, or all of them if there is none, and says what was dropped: one
/// report for the whole run, however long.
fn skip_garbage(src: &mut BytesMut) -> FrameError {
    let skip = match find_header(&src[1..]) {
        Scan::Found(i) | Scan::Partial(i) => i + 1,
        Scan::Nothing => src.len(),
    };
    let preview = String::from_utf8_lossy(&src[..skip.min(40)]).into_owned();
    src.advance(skip);
    FrameError::Garbage { len: skip, preview }
}

/// The longest a `Content-Length: N\r\n` line can be and still be one:
/// the name, a colon, a little white space, 20 digits (`u64::MAX`), CR LF.
const MAX_LENGTH_LINE: usize = CONTENT_LENGTH.len() + 1 + 8 + 20 + 2;

/// Where the next header starts in `buf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// A whole `Content-Length: N\r\n` line starts at this index.
    Found(usize),
    /// `buf` ends inside what may still become one, starting here.
    Partial(usize),
    /// Neither.
    Nothing,
}

/// Finds the first `Content-Length` line (any case, white space around the
/// colon, a decimal number, CR LF) in `buf`. This is what resynchronises
/// the stream after garbage and after an oversized length: such a line
/// cannot be part of a valid JSON body (a raw CR is not allowed inside a
/// JSON string, and `Content-Length` is no JSON token outside one), so the
/// stream goes on at the next frame even when the bad length was absurd
/// (`18446744073709551615` would otherwise swallow everything after it).
fn find_header(buf: &[u8]) -> Scan {
    let name = CONTENT_LENGTH.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr2(b'c', b'C', &buf[from..]).map(|i| i + from) {
        match length_line_at(&buf[i..], name) {
            Some(true) => return Scan::Found(i),
            None => return Scan::Partial(i),
            Some(false) => from = i + 1,
        }
    }
    Scan::Nothing
}

/// Whether `buf` starts with a `Content-Length: N\r\n` line; `None` when
/// it ends before that is known.
fn length_line_at(buf: &[u8], name: &[u8]) -> Option<bool> {
    // Past this many bytes it is no such line, whatever follows.
    let cut = buf.len() > MAX_LENGTH_LINE;
    let line = &buf[..buf.len().min(MAX_LENGTH_LINE)];
    match matches_length_line(line, name) {
        None if cut => Some(false),
        answer => answer,
    }
}

fn matches_length_line(buf: &[u8], name: &[u8]) -> Option<bool> {
    let n = name.len().min(buf.len());
    if !buf[..n].eq_ignore_ascii_case(&name[..n]) {
        return Some(false);
    }
    let mut rest = buf.get(name.len()..)?;
    let spaces = |r: &[u8]| r.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    rest = &rest[spaces(rest)..];
    if *rest.first()? != b':' {
        return Some(false);
    }
    rest = &rest[1..];
    rest = &rest[spaces(rest)..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    match (digits, rest.get(digits)?, rest.get(digits + 1)) {
        (0, _, _) => Some(false),
        (_, b'\r', Some(b'\n')) => Some(true),
        (_, b'\r', None) => None,
        _ => Some(false),
    }
}

impl Decoder for DapCodec {
    type Item = Result<Bytes, FrameError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        loop {
            match self.state {
                State::Header => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    match self.decode_header(src)? {
                        None => return Ok(None),
                        Some(Err(e)) => return Ok(Some(Err(e))),
                        Some(Ok(())) => continue,
                    }
                }
                State::Body { len } => {
                    if src.len() < len {
                        src.reserve(len - src.len());
                        return Ok(None);
                    }
                    self.state = State::Header;
                    return Ok(Some(Ok(src.split_to(len).freeze())));
                }
                State::Discard { remaining } => {
                    // Skip the body, but stop at the next header if one
                    // comes first: a length that was a lie must not swallow
                    // the frames after it.
                    let (n, resync) = match find_header(src) {
                        Scan::Found(i) => (i.min(remaining), true),
                        Scan::Partial(i) if i < remaining => (i, false),
                        Scan::Partial(_) | Scan::Nothing => (remaining.min(src.len()), false),
                    };
                    src.advance(n);
                    if n < remaining && !resync {
                        self.state = State::Discard { remaining: remaining - n };
                        return Ok(None);
                    }
                    self.state = State::Header;
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        match self.state {
            State::Body { len } => Err(CodecError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended inside a frame: {} of {len} body bytes arrived", src.len()),
            ))),
            _ if src.iter().all(u8::is_ascii_whitespace) => Ok(None),
            _ => Err(CodecError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended inside a frame header ({} bytes)", src.len()),
            ))),
        }
    }
}

impl Encoder<Bytes> for DapCodec {
    type Error = CodecError;

    /// Writes the header and body into one buffer, so a flush sends the frame
    /// in one write: two writes would let Nagle's algorithm hold the body back.
    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        put_header(body.len(), dst);
        dst.put_slice(&body);
        Ok(())
    }
}

/// Writes the header of a frame whose body is `len` bytes, and makes room
/// for the body, which the caller writes next into the same buffer.
pub(crate) fn put_header(len: usize, dst: &mut BytesMut) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(len);
    dst.reserve(HEADER_NAME.len() + digits.len() + 4 + len);
    dst.put_slice(HEADER_NAME.as_bytes());
    dst.put_slice(digits.as_bytes());
    dst.put_slice(b"\r\n\r\n");
}

const HEADER_NAME: &str = "Content-Length: ";

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    /// Decodes everything in `input`, in one buffer, and renders each item.
    fn decode_all(input: &[u8]) -> (Vec<String>, usize) {
        let mut codec = DapCodec::new(64);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Ok(body))) => out.push(format!("ok {}", String::from_utf8_lossy(&body))),
                Ok(Some(Err(e))) => out.push(format!("frame error: {e}")),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("fatal: {e}"));
                    break;
                }
            }
        }
        (out, buf.len())
    }

    #[track_caller]
    fn check(input: &[u8], expect: &[&str], left: usize) {
        let (items, rest) = decode_all(input);
        assert_eq!(items, expect, "items for {:?}", String::from_utf8_lossy(input));
        assert_eq!(rest, left, "bytes left for {:?}", String::from_utf8_lossy(input));
    }

    #[test]
    fn table() {
        check(&frame(r#"{"a":1}"#), &[r#"ok {"a":1}"#], 0);
        // Two frames in one read.
        check(&[frame("{}"), frame("[]")].concat(), &["ok {}", "ok []"], 0);
        // Partial body: nothing yet, the header is consumed.
        check(b"Content-Length: 5\r\n\r\n{}", &[], 2);
        // Extra Content-Type header is fine, and header names are case-insensitive (F7).
        check(b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}", &["ok {}"], 0);
        check(b"Content-Length:2\r\n\r\n{}", &["ok {}"], 0);
        check(b"Content-Length: 0\r\n\r\n", &["ok "], 0);
        // Bad lengths (F4).
        check(
            b"Content-Length: -1\r\n\r\n{}",
            &["frame error: invalid Content-Length \"-1\": expected a decimal byte count"],
            2,
        );
        check(
            b"Content-Length: +5\r\n\r\n",
            &["frame error: invalid Content-Length \"+5\": expected a decimal byte count"],
            0,
        );
        check(
            b"Content-Length: 0x10\r\n\r\n",
            &["frame error: invalid Content-Length \"0x10\": expected a decimal byte count"],
            0,
        );
        check(
            b"Content-Length: \r\n\r\n",
            &["frame error: invalid Content-Length \"\": expected a decimal byte count"],
            0,
        );
        check(
            b"Content-Length: 99999999999999999999999\r\n\r\n",
            &["frame error: invalid Content-Length \"99999999999999999999999\": expected a decimal byte count"],
            0,
        );
        check(b"X-Other: 1\r\n\r\n{}", &["frame error: frame header has no Content-Length: \"X-Other: 1\""], 2);
        // Over the limit (F5): refused without buffering, then the stream goes on.
        let mut big = b"Content-Length: 100\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 100));
        big.extend(frame("{}"));
        check(&big, &["frame error: frame of 100 bytes is over the 64-byte limit and was skipped", "ok {}"], 0);
        check(
            b"Content-Length: 4294967296\r\n\r\n",
            &["frame error: frame of 4294967296 bytes is over the 64-byte limit and was skipped"],
            0,
        );
        // Garbage then a good frame: resync (F8).
        check(
            &[b"hello\r\n".as_slice(), &frame("{}")].concat(),
            &["frame error: skipped 7 bytes that are not a DAP header: \"hello\\r\\n\"", "ok {}"],
            0,
        );
        check(
            &[b"junk".as_slice(), &frame("{}")].concat(),
            &["frame error: skipped 4 bytes that are not a DAP header: \"junk\"", "ok {}"],
            0,
        );
        // `\n\n` instead of `\r\n\r\n` never completes a header; it is dropped once it is long.
        check(b"Content-Length: 2\n\n{}", &[], 21);
        // HTTP requests and browsers are refused outright (F10, Origin).
        check(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
            &["fatal: refusing an HTTP request on a DAP stream (\"POST / HTTP/1.1\"); only DAP clients may connect"],
            49,
        );
        check(
            b"Content-Length: 2\r\nOrigin: http://evil.example\r\n\r\n{}",
            &["fatal: refusing a frame with an Origin header: a web page tried to reach the debugger"],
            52,
        );
    }

    #[test]
    fn garbage_without_any_header_is_bounded() {
        let junk = vec![b'z'; MAX_HEADER * 3];
        let (items, rest) = decode_all(&junk);
        assert_eq!(items.len(), 1);
        assert!(items[0].starts_with("frame error: skipped"), "{items:?}");
        assert!(rest <= CONTENT_LENGTH.len(), "left {rest}");
    }

    #[test]
    fn split_at_every_offset() {
        // Multi-byte UTF-8 where bytes != chars (F1), in two frames (F2, F3).
        let body1 = r#"{"seq":1,"type":"event","event":"output","body":{"output":"é € 🦀 漢字"}}"#;
        let body2 = r#"{"seq":2,"type":"request","command":"next"}"#;
        let input = [frame(body1), frame(body2)].concat();
        for split in 0..=input.len() {
            for second in split..=input.len() {
                let mut codec = DapCodec::default();
                let mut buf = BytesMut::new();
                let mut out = Vec::new();
                for chunk in [&input[..split], &input[split..second], &input[second..]] {
                    buf.extend_from_slice(chunk);
                    while let Some(item) = codec.decode(&mut buf).unwrap() {
                        out.push(item.unwrap());
                    }
                }
                assert_eq!(out, vec![Bytes::from(body1), Bytes::from(body2)], "split at {split}/{second}");
                assert!(buf.is_empty());
            }
        }
    }

    /// Feeds `input` in three chunks cut at every pair of offsets and
    /// returns, per cut, the bodies and the errors that came out.
    fn decode_split(input: &[u8], max: usize, mut each: impl FnMut(usize, usize, Vec<Bytes>, Vec<FrameError>)) {
        for split in 0..=input.len() {
            for second in split..=input.len() {
                let mut codec = DapCodec::new(max);
                let mut buf = BytesMut::new();
                let (mut bodies, mut errors) = (Vec::new(), Vec::new());
                for chunk in [&input[..split], &input[split..second], &input[second..]] {
                    buf.extend_from_slice(chunk);
                    while let Some(item) = codec.decode(&mut buf).unwrap() {
                        match item {
                            Ok(body) => bodies.push(body),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                each(split, second, bodies, errors);
            }
        }
    }

    /// Issue 21: a length that can never be skipped (or is a lie) skips
    /// only until the next header; the frame after it is decoded.
    #[test]
    fn an_absurd_length_does_not_swallow_the_next_frame() {
        let threads = r#"{"seq":2,"type":"request","command":"threads"}"#;
        let next = frame(threads);
        for bad in ["18446744073709551615", "4294967296", "100"] {
            let input = [format!("Content-Length: {bad}\r\n\r\n{{\"x\":1}}").as_bytes(), &next].concat();
            decode_split(&input, 64, |split, second, bodies, errors| {
                assert_eq!(bodies, [Bytes::from(threads)], "{bad} cut at {split}/{second}");
                assert_eq!(errors.len(), 1, "{bad} cut at {split}/{second}: {errors:?}");
                assert!(matches!(errors[0], FrameError::TooLarge { .. }), "{errors:?}");
            });
        }
        // A body that really is too large, and mentions a length in a JSON
        // string (no raw CR there), is skipped whole.
        let body = format!(r#"{{"output":"Content-Length: 5\r\n\r\n{}"}}"#, "y".repeat(80));
        let input = [frame(&body), frame("{}")].concat();
        decode_split(&input, 64, |split, second, bodies, errors| {
            assert_eq!(bodies, [Bytes::from("{}")], "cut at {split}/{second}");
            assert_eq!(errors, [FrameError::TooLarge { len: body.len(), max: 64 }]);
        });
        let max = b"Content-Length: 18446744073709551615\r\n\r\n";
        check(
            &[max.as_slice(), b"junk", &frame("{}")].concat(),
            &["frame error: frame of 18446744073709551615 bytes is over the 64-byte limit and was skipped", "ok {}"],
            0,
        );
    }

    /// Issue 21: one report per run of garbage, not one per byte.
    #[test]
    fn garbage_is_reported_once_per_run() {
        check(
            &[b"garbage\r\n\r\n".as_slice(), &frame("{}")].concat(),
            &["frame error: skipped 11 bytes that are not a DAP header: \"garbage\\r\\n\\r\\n\"", "ok {}"],
            0,
        );
        // Typed at a terminal: a report per line at most, never per byte.
        let input = [b"garbage\r\n\r\nmore garbage\r\n".as_slice(), &frame("{}")].concat();
        decode_split(&input, 64, |split, second, bodies, errors| {
            assert_eq!(bodies, [Bytes::from("{}")], "cut at {split}/{second}");
            assert!((1..=4).contains(&errors.len()), "cut at {split}/{second}: {errors:?}");
            let skipped: usize =
                errors.iter().map(|e| if let FrameError::Garbage { len, .. } = e { *len } else { 0 }).sum();
            assert!((19..=25).contains(&skipped), "cut at {split}/{second}: {errors:?}");
        });
        // Blank lines between frames are dropped without a word.
        check(&[frame("{}"), b"\r\n\r\n".to_vec(), frame("[]")].concat(), &["ok {}", "ok []"], 0);
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let mut codec = DapCodec::default();
        let mut buf = BytesMut::from(&b"Content-Length: 10\r\n\r\n{}"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let err = codec.decode_eof(&mut buf).unwrap_err();
        assert_eq!(err.to_string(), "stream ended inside a frame: 2 of 10 body bytes arrived");
        let mut codec = DapCodec::default();
        let mut buf = BytesMut::from(&b"\r\n"[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn encodes_byte_length() {
        let mut codec = DapCodec::default();
        let mut dst = BytesMut::new();
        codec.encode(Bytes::from("\"é\""), &mut dst).unwrap();
        assert_eq!(&dst[..], "Content-Length: 4\r\n\r\n\"é\"".as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_bounded(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..20)) {
            let mut codec = DapCodec::new(1024);
            let mut buf = BytesMut::new();
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
                while let Ok(Some(_)) = codec.decode(&mut buf) {}
                proptest::prop_assert!(buf.len() <= MAX_HEADER + 1024 + 200);
            }
        }

        #[test]
        fn any_body_round_trips(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut codec = DapCodec::default();
            let mut buf = BytesMut::new();
            codec.encode(Bytes::from(body.clone()), &mut buf).unwrap();
            let got = codec.decode(&mut buf).unwrap().unwrap().unwrap();
            proptest::prop_assert_eq!(&got[..], &body[..]);
        }
    }
}
