//! Keyed digests of secrets (the credential cache's verified passwords, the throttle's recent wrong ones):
//! HMAC-SHA-256 under a key drawn at start, over length-prefixed parts, compared in constant time. The key
//! never leaves the process, so a digest means nothing elsewhere, and passwords are never kept.

use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// A per-process HMAC key.
pub struct Keyed {
    key: [u8; 32],
}

impl Default for Keyed {
    fn default() -> Keyed {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Keyed { key }
    }
}

impl Keyed {
    /// The digest of `parts`, each length-prefixed (so `("ab", "c")` and `("a", "bc")` differ).
    pub fn of(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Whether two digests are equal, in constant time.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_keyed_and_parts_are_framed() {
        let (a, b) = (Keyed::default(), Keyed::default());
        assert_ne!(a.of(&[b"p"]), b.of(&[b"p"]));
        assert_ne!(a.of(&[b"ab", b"c"]), a.of(&[b"a", b"bc"]));
        assert!(same(&a.of(&[b"x"]), &a.of(&[b"x"])));
    }
}
