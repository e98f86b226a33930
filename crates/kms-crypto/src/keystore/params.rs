//! KDF parameters: what the writers use, and the bounds every file read from outside must meet.

use crate::{Error, Result};

/// The only derived-key length these formats use: 16 bytes of AES-128 key, 16 bytes of MAC key.
pub(super) const DK_LEN: u64 = 32;

/// Largest scrypt N accepted (2^20).
const MAX_SCRYPT_LOG_N: u32 = 20;
/// Largest scrypt r and p accepted (crypto-libs uses the same limits).
const MAX_SCRYPT_R: u32 = 32;
const MAX_SCRYPT_P: u32 = 16;
/// scrypt memory is 128·N·r bytes: at most 1 GiB.
const MAX_SCRYPT_N_TIMES_R: u64 = 1 << 23;
/// scrypt work grows with N·r·p: at most 8 times eigensdk's standard 2^18·8·1.
const MAX_SCRYPT_COST: u64 = 1 << 24;
/// Largest PBKDF2 iteration count accepted.
const MAX_PBKDF2_ITERATIONS: u64 = 10_000_000;
/// Salts are 32 bytes in practice; a longer one than this is not a real keystore.
pub(super) const MAX_SALT_LEN: usize = 1024;

/// scrypt cost parameters (N = 2^log_n, r, p). The derived key is always 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScryptParams {
    log_n: u8,
    r: u32,
    p: u32,
}

impl ScryptParams {
    /// eigensdk's and crypto-libs' default, go-ethereum's `StandardScryptN`/`StandardScryptP`:
    /// N = 2^18, r = 8, p = 1 (256 MiB, about a second).
    pub const fn standard() -> Self {
        Self {
            log_n: 18,
            r: 8,
            p: 1,
        }
    }

    /// go-ethereum's `LightScryptN`/`LightScryptP`: N = 2^12, r = 8, p = 6 (4 MiB). For tests and
    /// throw-away keys only.
    pub const fn light() -> Self {
        Self {
            log_n: 12,
            r: 8,
            p: 6,
        }
    }

    /// Checked parameters: N a power of two with 2 ≤ N ≤ 2^20, 1 ≤ r ≤ 32, 1 ≤ p ≤ 16,
    /// 128·N·r ≤ 1 GiB and N·r·p ≤ 2^24. The same bounds apply to parameters read from a file.
    pub fn new(n: u64, r: u32, p: u32) -> Result<Self> {
        if n < 2 || !n.is_power_of_two() || n.trailing_zeros() > MAX_SCRYPT_LOG_N {
            return Err(Error::Keystore(
                "scrypt n must be a power of two between 2 and 2^20",
            ));
        }
        if r == 0 || r > MAX_SCRYPT_R {
            return Err(Error::Keystore("scrypt r must be between 1 and 32"));
        }
        if p == 0 || p > MAX_SCRYPT_P {
            return Err(Error::Keystore("scrypt p must be between 1 and 16"));
        }
        let n_r = n.saturating_mul(u64::from(r));
        if n_r > MAX_SCRYPT_N_TIMES_R {
            return Err(Error::Keystore(
                "scrypt parameters need more than 1 GiB of memory",
            ));
        }
        if n_r.saturating_mul(u64::from(p)) > MAX_SCRYPT_COST {
            return Err(Error::Keystore("scrypt parameters are too costly"));
        }
        let log_n =
            u8::try_from(n.trailing_zeros()).map_err(|_| Error::Keystore("scrypt n too large"))?;
        Ok(Self { log_n, r, p })
    }

    /// N.
    pub fn n(&self) -> u64 {
        1u64 << self.log_n
    }

    /// r.
    pub fn r(&self) -> u32 {
        self.r
    }

    /// p.
    pub fn p(&self) -> u32 {
        self.p
    }

    pub(super) fn log_n(&self) -> u8 {
        self.log_n
    }
}

impl Default for ScryptParams {
    fn default() -> Self {
        Self::standard()
    }
}

/// PBKDF2-HMAC-SHA256 iteration count. The derived key is always 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pbkdf2Params {
    iterations: u32,
}

impl Pbkdf2Params {
    /// The EIP-2335 reference value and crypto-libs' choice: 262144 iterations.
    pub const fn standard() -> Self {
        Self {
            iterations: 262_144,
        }
    }

    /// Checked iteration count: 1 ≤ c ≤ 10,000,000. The same bound applies to files.
    pub fn new(iterations: u64) -> Result<Self> {
        if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
            return Err(Error::Keystore(
                "pbkdf2 iteration count must be between 1 and 10000000",
            ));
        }
        let iterations = u32::try_from(iterations)
            .map_err(|_| Error::Keystore("pbkdf2 iteration count too large"))?;
        Ok(Self { iterations })
    }

    /// The iteration count c.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for Pbkdf2Params {
    fn default() -> Self {
        Self::standard()
    }
}

/// The KDF an EIP-2335 writer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfChoice {
    /// scrypt (crypto-libs' default).
    Scrypt(ScryptParams),
    /// PBKDF2-HMAC-SHA256.
    Pbkdf2(Pbkdf2Params),
}

/// A KDF with its salt, as read from a file or chosen by a writer.
pub(super) struct Kdf {
    pub(super) algorithm: KdfChoice,
    pub(super) salt: Vec<u8>,
}

impl Kdf {
    pub(super) fn new(algorithm: KdfChoice, salt: Vec<u8>) -> Result<Self> {
        if salt.len() > MAX_SALT_LEN {
            return Err(Error::Keystore("kdf salt is too long"));
        }
        Ok(Self { algorithm, salt })
    }
}

/// Checks a file's `dklen`.
pub(super) fn check_dklen(dklen: u64) -> Result<()> {
    if dklen == DK_LEN {
        Ok(())
    } else {
        Err(Error::Keystore("kdf dklen must be 32"))
    }
}

/// Reads scrypt's r or p from a file as a u32 before range checks.
pub(super) fn small_u32(v: u64, err: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Keystore(err))
}
