//! Length-prefixed lists: the body of `POST /v1/protocol` (a batch of protocol messages) and
//! the node's stored epoch record. Each item is `u32be(len) ‖ bytes`; nothing else, no count.

/// The most messages one `POST /v1/protocol` carries.
pub const MAX_BATCH_ITEMS: usize = 4096;
/// The most message bytes one batch carries (framing not counted).
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// Why bytes are not a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Fewer than four bytes where a length should be.
    TruncatedLength,
    /// An item shorter than its length says.
    TruncatedItem,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TruncatedLength => "truncated length",
            Self::TruncatedItem => "truncated item",
        })
    }
}

impl std::error::Error for FramingError {}

/// Frames `items`. An item must be shorter than 4 GiB (protocol messages and records are far
/// smaller; callers bound them long before this).
pub fn encode_list(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 4).sum());
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_be_bytes());
        out.extend_from_slice(i);
    }
    out
}

/// The inverse of [`encode_list`]; refuses truncated input.
pub fn decode_list(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, FramingError> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let (item, rest) = rest
            .split_at_checked(len)
            .ok_or(FramingError::TruncatedItem)?;
        out.push(item.to_vec());
        bytes = rest;
    }
    if bytes.is_empty() {
        Ok(out)
    } else {
        Err(FramingError::TruncatedLength)
    }
}
