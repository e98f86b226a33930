//! `Secret<T>`: the only way this project holds secret material.
//!
//! Not `Copy` or `Clone` by accident, redacted in `Debug`/`Display`, zeroized on drop, compared in
//! constant time, and readable only inside a closure so that a secret cannot be logged or formatted
//! by mistake.

use core::fmt;
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value. Boxed so that moves do not leave stray copies on the stack.
pub struct Secret<T: Zeroize>(Box<T>);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value. The caller should not keep another copy of it.
    pub fn new(value: T) -> Self {
        Self(Box::new(value))
    }

    /// Gives temporary read access to the secret.
    pub fn expose<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }

    /// Gives temporary write access (for in-place decryption or derivation).
    pub fn expose_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0)
    }

    /// An explicit copy; deliberately named so that copies are visible in review.
    pub fn duplicate(&self) -> Self
    where
        T: Clone,
    {
        Self::new((*self.0).clone())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Constant-time equality for the kinds of values kept in a `Secret`.
pub trait CtEq {
    /// Compares without branching on the contents.
    fn ct_eq(&self, other: &Self) -> Choice;
}

impl<const N: usize> CtEq for [u8; N] {
    fn ct_eq(&self, other: &Self) -> Choice {
        self[..].ct_eq(&other[..])
    }
}

impl CtEq for Vec<u8> {
    fn ct_eq(&self, other: &Self) -> Choice {
        // Lengths are not secret; contents are.
        self.as_slice().ct_eq(other.as_slice())
    }
}

impl CtEq for String {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl CtEq for ark_bn254::Fr {
    fn ct_eq(&self, other: &Self) -> Choice {
        use ark_ff::PrimeField;
        self.into_bigint().0[..].ct_eq(&other.into_bigint().0[..])
    }
}

impl<T: Zeroize + CtEq> ConstantTimeEq for Secret<T> {
    fn ct_eq(&self, other: &Self) -> Choice {
        CtEq::ct_eq(&*self.0, &*other.0)
    }
}

impl<T: Zeroize + CtEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        ConstantTimeEq::ct_eq(self, other).into()
    }
}

impl<T: Zeroize + CtEq> Eq for Secret<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new([0x42u8; 32]);
        let shown = format!("{s:?} {s}");
        assert!(!shown.contains("42"), "{shown}");
        assert!(!shown.contains("66"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(Secret::new([1u8; 32]), Secret::new([1u8; 32]));
        assert_ne!(Secret::new([1u8; 32]), Secret::new([2u8; 32]));
    }

    #[test]
    fn duplicate_is_equal_and_independent() {
        let a = Secret::new(vec![7u8; 4]);
        let mut b = a.duplicate();
        b.expose_mut(|v| v[0] = 8);
        assert_eq!(a.expose(|v| v[0]), 7);
        assert_eq!(b.expose(|v| v[0]), 8);
    }

    #[test]
    fn zeroize_clears_the_value() {
        // Drop runs zeroize on the box contents; check the mechanism directly.
        let mut v = [9u8; 16];
        v.zeroize();
        assert_eq!(v, [0u8; 16]);
    }
}
