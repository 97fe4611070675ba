//! Writing a recording's line by hand: JSON strings, values, the timestamp and the latency
//! straight into a byte buffer, with the line's keys as literal bytes.
//!
//! The output is what `serde_json` writes for the same data (strings escape `"`, `\` and
//! control characters exactly as it does, non-ASCII is kept as UTF-8), so every reader of
//! the format (replay, the gate) parses it as before. Going through `serde_json`'s generic
//! serializer cost a call about 8k instructions per line (a write call per key, quote and
//! comma, and a byte-by-byte escaping loop); here the fixed parts are one copy each and a
//! string with nothing to escape is checked 8 bytes at a time and copied whole.
//!
//! Does not own: what goes into a line (`layer`), shapes and their cache (`tools`).

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

/// Appends `s` as a JSON string (quoted, escaped as `serde_json` does).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    match first_to_escape(bytes) {
        None => out.extend_from_slice(bytes),
        Some(start) => {
            out.extend_from_slice(&bytes[..start]);
            write_escaped(out, &bytes[start..]);
        }
    }
    out.push(b'"');
}

/// Appends a label of the code's own (a transport, an outcome: letters, digits and `_`) as a
/// JSON string, without looking for characters to escape.
pub(crate) fn write_label(out: &mut Vec<u8>, label: &'static str) {
    debug_assert!(first_to_escape(label.as_bytes()).is_none(), "{label}");
    out.reserve(label.len() + 2);
    out.push(b'"');
    out.extend_from_slice(label.as_bytes());
    out.push(b'"');
}

/// Appends a label of the code's own without quotes (the caller's literal bytes around it
/// hold them) and without looking for characters to escape.
pub(crate) fn write_bare(out: &mut Vec<u8>, label: &'static str) {
    debug_assert!(first_to_escape(label.as_bytes()).is_none(), "{label}");
    out.extend_from_slice(label.as_bytes());
}

/// Eight copies of a byte, for word-at-a-time comparisons.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Whether any byte of `x` is zero (exact: the usual `haszero` test).
const fn has_zero(x: u64) -> bool {
    x.wrapping_sub(splat(0x01)) & !x & splat(0x80) != 0
}

/// Whether any byte of `x` is below 0x20 (exact for a bound of at most 0x80).
const fn has_control(x: u64) -> bool {
    x.wrapping_sub(splat(0x20)) & !x & splat(0x80) != 0
}

/// The index of the first byte that must be escaped, if any.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        if has_control(x) || has_zero(x ^ splat(b'"')) || has_zero(x ^ splat(b'\\')) {
            return chunk
                .iter()
                .position(|&b| ESCAPE[b as usize] != 0)
                .map(|i| at + i);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .map(|i| at + i)
}

/// `serde_json`'s escapes: `u` is `\u00XX`, anything else non-zero is the letter after `\`.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Escapes `bytes` (from the first byte that needs it) into `out`.
#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPE[b as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `value` as compact JSON (as `serde_json::to_writer` writes it).
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            } else {
                // A float: serde_json's own formatting (shortest round trip), rare in arguments.
                let _ = serde_json::to_writer(&mut *out, n);
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends `map` as a compact JSON object.
pub(crate) fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

thread_local! {
    /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends `at` as RFC 3339 in UTC with microseconds (`2026-12-04T18:20:01.123456Z`, as
/// chrono's `to_rfc3339_opts(Micros, true)`). The date and time of day are formatted once per
/// second per thread; an instant before 1970 is written as 1970's first second.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, at: SystemTime) {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (cached, mut prefix) = SECOND.get();
    if cached != secs {
        prefix = format_second(secs);
        SECOND.set((secs, prefix));
    }
    out.extend_from_slice(&prefix);
    let micros = since.subsec_micros();
    let mut frac = [b'.', b'0', b'0', b'0', b'0', b'0', b'0', b'Z'];
    let mut rest = micros;
    for digit in frac[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&frac);
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the Unix epoch.
#[cold]
fn format_second(secs: u64) -> [u8; 19] {
    let mut prefix = [0u8; 19];
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default();
    let text = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    if text.len() == prefix.len() {
        prefix.copy_from_slice(text.as_bytes());
    } else {
        // Years past 9999 (never, in practice): the epoch rather than a malformed line.
        prefix.copy_from_slice(b"1970-01-01T00:00:00");
    }
    prefix
}

/// Appends `elapsed` in milliseconds rounded to the microsecond, as the number serde_json
/// writes for that `f64` (`1.84`, `0.012`, `3.0`).
pub(crate) fn write_millis(out: &mut Vec<u8>, elapsed: Duration) {
    // In u64 (a u128 division costs a call into compiler-rt): 584,000 years of microseconds.
    let micros = elapsed
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((elapsed.subsec_nanos() + 500) / 1000));
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(micros / 1000).as_bytes());
    out.push(b'.');
    let frac = (micros % 1000) as u16;
    let digits = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    let keep = match frac {
        0 => 1,
        f if f % 100 == 0 => 1,
        f if f % 10 == 0 => 2,
        _ => 3,
    };
    out.extend_from_slice(&digits[..keep]);
}

/// Appends an unsigned integer.
pub(crate) fn write_uint(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn str_json(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "exactly8",
            "a \"quoted\" word",
            "back\\slash",
            "line\nbreak\ttab\rreturn",
            "\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "é, 漢字, 🦀, \u{2028}\u{2029}",
            "/slash/ is not escaped",
            "</script>",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every control character, and escapes at every position of an 8-byte word.
        cases.extend((0u8..0x20).map(|b| format!("x{}y", b as char)));
        for at in 0..20 {
            for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                let mut s = "abcdefghijklmnopqrst".to_owned();
                s.insert(at, special);
                cases.push(s);
            }
        }
        for s in &cases {
            assert_eq!(str_json(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn values_are_written_as_serde_json_does() {
        let value = json!({
            "id": 42, "neg": -7, "big": u64::MAX, "small": i64::MIN, "f": 9.5, "tiny": 1e-7,
            "huge": 1.5e300, "t": true, "f2": false, "n": null, "s": "a\"b",
            "list": [1, "two", [], {}, [null]], "o": {"k\n": {"deep": [0.1]}}
        });
        let mut out = Vec::new();
        write_value(&mut out, &value);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        for (secs, micros) in [
            (0u64, 0u32),
            (1_796_405_201, 123_456),
            (1_796_405_201, 999_999),
            (1_796_405_202, 1),
            (1_796_405_201, 7),
            (4_102_444_799, 500_000),
        ] {
            let at = SystemTime::UNIX_EPOCH + Duration::new(secs, micros * 1000 + 999);
            let mut out = Vec::new();
            write_timestamp(&mut out, at);
            let want = chrono::DateTime::<chrono::Utc>::from(at)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn latency_is_the_rounded_f64_serde_json_writes() {
        for nanos in [
            0u64,
            499,
            500,
            12_000,
            1_840_000,
            1_839_600,
            3_000_000,
            10_100_000,
            987_654_321,
        ] {
            let elapsed = Duration::from_nanos(nanos);
            let mut out = Vec::new();
            write_millis(&mut out, elapsed);
            let ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&ms).unwrap(),
                "{nanos} ns"
            );
        }
    }
}
