//! The CBOR (RFC 8949) the Smithy RPC v2 CBOR protocol uses: requests decoded into JSON
//! values (a timestamp, tag 1, becomes its epoch seconds; a byte string its base64 text, as
//! the service model's JSON form has them), responses written item by item.

use serde_json::{Number, Value};

/// Decodes one CBOR item that fills `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut at = 0;
    let v = item(bytes, &mut at)?;
    if at != bytes.len() {
        return Err(format!("{} bytes after the first item", bytes.len() - at));
    }
    Ok(v)
}

fn byte(b: &[u8], at: &mut usize) -> Result<u8, String> {
    let v = *b.get(*at).ok_or("the body ends inside an item")?;
    *at += 1;
    Ok(v)
}

fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = at.checked_add(n).filter(|e| *e <= b.len());
    let end = end.ok_or("the body ends inside an item")?;
    let s = &b[*at..end];
    *at = end;
    Ok(s)
}

/// The argument of an initial byte's additional information; `None` for indefinite length.
fn argument(b: &[u8], at: &mut usize, info: u8) -> Result<Option<u64>, String> {
    let be = |s: &[u8]| s.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    Ok(Some(match info {
        0..=23 => u64::from(info),
        24 => be(take(b, at, 1)?),
        25 => be(take(b, at, 2)?),
        26 => be(take(b, at, 4)?),
        27 => be(take(b, at, 8)?),
        31 => return Ok(None),
        _ => return Err(format!("reserved additional information {info}")),
    }))
}

fn is_break(b: &[u8], at: &mut usize) -> bool {
    if b.get(*at) == Some(&0xff) {
        *at += 1;
        true
    } else {
        false
    }
}

fn length(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("length {n} too large"))
}

/// A string's bytes, definite or in chunks.
fn chunks(b: &[u8], at: &mut usize, major: u8, len: Option<u64>) -> Result<Vec<u8>, String> {
    match len {
        Some(n) => Ok(take(b, at, length(n)?)?.to_vec()),
        None => {
            let mut out = Vec::new();
            while !is_break(b, at) {
                let ib = byte(b, at)?;
                if ib >> 5 != major {
                    return Err("a chunk of another type inside an indefinite string".into());
                }
                let n = argument(b, at, ib & 31)?.ok_or("a nested indefinite chunk")?;
                out.extend_from_slice(take(b, at, length(n)?)?);
            }
            Ok(out)
        }
    }
}

fn float(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn item(b: &[u8], at: &mut usize) -> Result<Value, String> {
    let ib = byte(b, at)?;
    let (major, info) = (ib >> 5, ib & 31);
    match major {
        0 | 1 => {
            let n = argument(b, at, info)?.ok_or("an indefinite integer")?;
            Ok(Value::Number(if major == 0 {
                Number::from(n)
            } else {
                let n = i64::try_from(n).map_err(|_| "a negative integer out of range")?;
                Number::from(-1 - n)
            }))
        }
        2 => {
            let len = argument(b, at, info)?;
            let raw = chunks(b, at, 2, len)?;
            Ok(Value::String(base64_free::encode(&raw)))
        }
        3 => {
            let len = argument(b, at, info)?;
            let raw = chunks(b, at, 3, len)?;
            String::from_utf8(raw)
                .map(Value::String)
                .map_err(|_| "a text string that is not UTF-8".into())
        }
        4 => {
            let mut out = Vec::new();
            match argument(b, at, info)? {
                Some(n) => {
                    for _ in 0..n {
                        out.push(item(b, at)?);
                    }
                }
                None => {
                    while !is_break(b, at) {
                        out.push(item(b, at)?);
                    }
                }
            }
            Ok(Value::Array(out))
        }
        5 => {
            let mut out = serde_json::Map::new();
            let mut entry = |b: &[u8], at: &mut usize| -> Result<(), String> {
                let Value::String(k) = item(b, at)? else {
                    return Err("a map key that is not a text string".into());
                };
                out.insert(k, item(b, at)?);
                Ok(())
            };
            match argument(b, at, info)? {
                Some(n) => {
                    for _ in 0..n {
                        entry(b, at)?;
                    }
                }
                None => {
                    while !is_break(b, at) {
                        entry(b, at)?;
                    }
                }
            }
            Ok(Value::Object(out))
        }
        // Tag 1 (epoch time) and any other tag: the tagged item itself.
        6 => {
            argument(b, at, info)?.ok_or("an indefinite tag")?;
            item(b, at)
        }
        _ => match info {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 | 23 => Ok(Value::Null),
            25 => {
                let h = take(b, at, 2)?;
                Ok(float(half_to_f64(u16::from_be_bytes([h[0], h[1]]))))
            }
            26 => {
                let s = take(b, at, 4)?;
                Ok(float(f64::from(f32::from_be_bytes([
                    s[0], s[1], s[2], s[3],
                ]))))
            }
            27 => {
                let s = take(b, at, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                Ok(float(f64::from_be_bytes(a)))
            }
            _ => Err(format!("simple value {info} is not supported")),
        },
    }
}

/// IEEE 754 half precision to f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Base64 of byte strings, without a dependency for the one place that needs it.
mod base64_free {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// A CBOR response, item by item.
#[derive(Default)]
pub(crate) struct Writer(pub Vec<u8>);

impl Writer {
    fn head(&mut self, major: u8, n: u64) -> &mut Self {
        let m = major << 5;
        match n {
            0..=23 => self.0.push(m | n as u8),
            24..=0xff => self.0.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                self.0.push(m | 25);
                self.0.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.0.push(m | 26);
                self.0.extend((n as u32).to_be_bytes());
            }
            _ => {
                self.0.push(m | 27);
                self.0.extend(n.to_be_bytes());
            }
        }
        self
    }

    /// A map of `n` entries follows (key, value, key, value, ...).
    pub(crate) fn map(&mut self, n: usize) -> &mut Self {
        self.head(5, n as u64)
    }

    /// An array of `n` items follows.
    pub(crate) fn array(&mut self, n: usize) -> &mut Self {
        self.head(4, n as u64)
    }

    /// A text string.
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.0.extend(s.as_bytes());
        self
    }

    /// A double.
    pub(crate) fn f64(&mut self, x: f64) -> &mut Self {
        self.0.push(0xfb);
        self.0.extend(x.to_be_bytes());
        self
    }

    /// A timestamp: tag 1 on its epoch seconds.
    pub(crate) fn timestamp(&mut self, secs: f64) -> &mut Self {
        self.head(6, 1).f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_writer_and_rfc_8949_examples_write() {
        let mut w = Writer::default();
        w.map(3)
            .text("a")
            .f64(1.5)
            .text("t")
            .timestamp(1_700_000_000.0)
            .text("l")
            .array(2)
            .text("x")
            .text("yz");
        assert_eq!(
            decode(&w.0).unwrap(),
            serde_json::json!({"a": 1.5, "t": 1_700_000_000.0, "l": ["x", "yz"]})
        );
        // RFC 8949 appendix A: 1000000, -1000, 1.5 as half, indefinite text and array, bytes.
        assert_eq!(decode(&[0x1a, 0x00, 0x0f, 0x42, 0x40]).unwrap(), 1_000_000);
        assert_eq!(decode(&[0x39, 0x03, 0xe7]).unwrap(), -1000);
        assert_eq!(decode(&[0xf9, 0x3e, 0x00]).unwrap(), 1.5);
        assert_eq!(
            decode(&[
                0x7f, 0x65, b's', b't', b'r', b'e', b'a', 0x64, b'm', b'i', b'n', b'g', 0xff
            ])
            .unwrap(),
            "streaming"
        );
        assert_eq!(
            decode(&[0x9f, 0x01, 0x82, 0x02, 0x03, 0xff]).unwrap(),
            serde_json::json!([1, [2, 3]])
        );
        assert_eq!(decode(&[0x44, 1, 2, 3, 4]).unwrap(), "AQIDBA==");
        assert!(decode(&[0x82, 0x01]).is_err(), "truncated");
        assert!(decode(&[0x01, 0x02]).is_err(), "trailing bytes");
    }
}
