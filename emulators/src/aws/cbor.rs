//! CBOR ⇄ JSON for the Smithy RPCv2 CBOR protocol (CloudWatch). JSON numbers that are floats
//! are always written as 64-bit floats (the SDK reads `double` members with `f64` only), integers
//! as CBOR integers; CBOR timestamps (tag 1) become their epoch seconds.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use minicbor::data::Type;
use minicbor::{Decoder, Encoder};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted when decoding (the SDK's inputs are a few levels deep).
const MAX_DEPTH: u32 = 32;

pub fn encode(value: &Value) -> Vec<u8> {
    let mut encoder = Encoder::new(Vec::new());
    // Writing into a Vec cannot fail.
    let _ = write(&mut encoder, value);
    encoder.into_writer()
}

fn write(
    e: &mut Encoder<Vec<u8>>,
    value: &Value,
) -> Result<(), minicbor::encode::Error<core::convert::Infallible>> {
    match value {
        Value::Null => {
            e.null()?;
        }
        Value::Bool(b) => {
            e.bool(*b)?;
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                e.i64(i)?;
            } else if let Some(u) = n.as_u64() {
                e.u64(u)?;
            } else {
                e.f64(n.as_f64().unwrap_or_default())?;
            }
        }
        Value::String(s) => {
            e.str(s)?;
        }
        Value::Array(items) => {
            e.array(items.len() as u64)?;
            for item in items {
                write(e, item)?;
            }
        }
        Value::Object(map) => {
            e.map(map.len() as u64)?;
            for (k, v) in map {
                e.str(k)?;
                write(e, v)?;
            }
        }
    }
    Ok(())
}

/// The body as JSON, `None` when it is not one well-formed CBOR item.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let mut d = Decoder::new(bytes);
    let value = read(&mut d, 0)?;
    (d.position() == bytes.len()).then_some(value)
}

fn read(d: &mut Decoder<'_>, depth: u32) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match d.datatype().ok()? {
        Type::Bool => Value::Bool(d.bool().ok()?),
        Type::Null | Type::Undefined => {
            d.skip().ok()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::from(d.u64().ok()?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Value::from(d.i64().ok()?),
        Type::F16 | Type::F32 | Type::F64 => Value::Number(Number::from_f64(d.f64().ok()?)?),
        Type::String | Type::StringIndef => {
            let mut text = String::new();
            for chunk in d.str_iter().ok()? {
                text.push_str(chunk.ok()?);
            }
            Value::String(text)
        }
        Type::Bytes | Type::BytesIndef => {
            let mut bytes = Vec::new();
            for chunk in d.bytes_iter().ok()? {
                bytes.extend_from_slice(chunk.ok()?);
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array().ok()? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(read(d, depth + 1)?);
                    }
                }
                None => loop {
                    if d.datatype().ok()? == Type::Break {
                        d.skip().ok()?;
                        break;
                    }
                    items.push(read(d, depth + 1)?);
                },
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut map = Map::new();
            let mut pair = |d: &mut Decoder<'_>| -> Option<()> {
                let Value::String(key) = read(d, depth + 1)? else {
                    return None;
                };
                let value = read(d, depth + 1)?;
                map.insert(key, value);
                Some(())
            };
            match d.map().ok()? {
                Some(n) => {
                    for _ in 0..n {
                        pair(d)?;
                    }
                }
                None => loop {
                    if d.datatype().ok()? == Type::Break {
                        d.skip().ok()?;
                        break;
                    }
                    pair(d)?;
                },
            }
            Value::Object(map)
        }
        Type::Tag => {
            d.tag().ok()?;
            read(d, depth + 1)?
        }
        _ => return None,
    })
}

/// An RPCv2 CBOR answer.
pub(crate) fn response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/cbor"),
    );
    headers.insert(
        HeaderName::from_static("smithy-protocol"),
        HeaderValue::from_static("rpc-v2-cbor"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_keeps_floats_as_f64() {
        let value = json!({"Name": "a", "Period": 300, "Neg": -2, "Threshold": 1000.0,
            "List": ["x", true, null], "Nested": {"k": 1.5}});
        let bytes = encode(&value);
        assert_eq!(decode(&bytes), Some(value));
        // 1000.0 is written as a full f64 (0xfb …), never as a half or single float.
        let threshold = encode(&json!(1000.0));
        assert_eq!(threshold[0], 0xfb);
        assert_eq!(threshold.len(), 9);
    }

    #[test]
    fn reads_indefinite_lengths_and_tags_and_refuses_garbage() {
        // {_ "a": [_ 1, 2], "t": 1(1700000000)} with an indefinite text key.
        let bytes = [
            0xbf, 0x7f, 0x61, b'a', 0xff, 0x9f, 0x01, 0x02, 0xff, 0x61, b't', 0xc1, 0x1a, 0x65,
            0x53, 0xf1, 0x00, 0xff,
        ];
        assert_eq!(
            decode(&bytes),
            Some(json!({"a": [1, 2], "t": 1_700_000_000u64}))
        );
        assert_eq!(decode(b"<html>"), None);
        assert_eq!(decode(&[0xa1, 0x61]), None, "truncated");
        assert_eq!(decode(&[0xa0, 0xa0]), None, "trailing data");
    }
}
