//! Unsigned 256-bit integers as they appear in JSON, CLIs and Solidity: decimal or 0x-hex text.

use crate::{Error, Result};
use alloy_primitives::U256;

/// Parses a decimal or `0x`-prefixed hexadecimal integer of at most 256 bits. No sign, no
/// separators, no empty string; leading zeros are allowed.
pub fn parse_u256(text: &str) -> Result<U256> {
    let text = text.trim();
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() {
        return Err(Error::InvalidInteger("empty"));
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(Error::InvalidInteger("unexpected character"));
    }
    U256::from_str_radix(digits, radix as u64).map_err(|_| Error::InvalidInteger("above 2^256 - 1"))
}

/// Formats an integer as decimal text, the project's wire format for integers.
pub fn format_u256(value: &U256) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_hex() {
        assert_eq!(parse_u256("42").unwrap(), U256::from(42u64));
        assert_eq!(parse_u256("0x2a").unwrap(), U256::from(42u64));
        assert_eq!(parse_u256("0X2A").unwrap(), U256::from(42u64));
        assert_eq!(parse_u256(" 007 ").unwrap(), U256::from(7u64));
        assert_eq!(parse_u256(&U256::MAX.to_string()).unwrap(), U256::MAX);
    }

    #[test]
    fn rejects_malformed_integers() {
        for bad in ["", "0x", "-1", "+1", "1_000", "12a", "0xg1", "1e3", "0x 1"] {
            assert!(parse_u256(bad).is_err(), "{bad:?} accepted");
        }
        let too_big = format!("{}0", U256::MAX);
        assert!(parse_u256(&too_big).is_err());
        assert!(parse_u256(&format!("0x1{}", "0".repeat(64))).is_err());
    }
}
