//! Typed reads from untrusted keystore JSON. Each accessor takes the complete error message to
//! return, so every failure names the field without allocating.

use crate::{Error, Result};
use serde_json::{Map, Value};

pub(super) type Object = Map<String, Value>;

/// Real keystores are about 1 KiB; anything far larger is not a keystore.
const MAX_JSON_LEN: usize = 64 * 1024;

pub(super) fn parse_object(json: &str) -> Result<Object> {
    if json.len() > MAX_JSON_LEN {
        return Err(Error::Keystore("keystore JSON is too large"));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Keystore("keystore JSON is not an object")),
        Err(_) => Err(Error::Keystore("keystore is not valid JSON")),
    }
}

pub(super) fn object<'a>(obj: &'a Object, key: &str, err: &'static str) -> Result<&'a Object> {
    obj.get(key)
        .and_then(Value::as_object)
        .ok_or(Error::Keystore(err))
}

pub(super) fn string<'a>(obj: &'a Object, key: &str, err: &'static str) -> Result<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or(Error::Keystore(err))
}

/// A lowercase or uppercase hex string without `0x`, as go-ethereum and EIP-2335 write them.
pub(super) fn hex_bytes(obj: &Object, key: &str, err: &'static str) -> Result<Vec<u8>> {
    let text = string(obj, key, err)?;
    hex::decode(text).map_err(|_| Error::Keystore(err))
}

/// A hex field of exactly `N` bytes.
pub(super) fn hex_array<const N: usize>(
    obj: &Object,
    key: &str,
    err: &'static str,
) -> Result<[u8; N]> {
    let bytes = hex_bytes(obj, key, err)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| Error::Keystore(err))
}

/// A non-negative integer. Go writes these as integers, but decodes any JSON number as a float,
/// so an integral float such as `262144.0` is accepted as well.
pub(super) fn uint(obj: &Object, key: &str, err: &'static str) -> Result<u64> {
    let value = obj.get(key).ok_or(Error::Keystore(err))?;
    if let Some(v) = value.as_u64() {
        return Ok(v);
    }
    match value.as_f64() {
        Some(f)
            if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= 9.007_199_254_740_992e15 =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(f as u64)
        }
        _ => Err(Error::Keystore(err)),
    }
}
