//! Server-side encryption of object bodies: the on-disk format of sealed
//! stripes, and the keys that seal them.
//!
//! A body is sealed in packages of [`PACKAGE`] plaintext bytes, each with
//! AES-256-GCM: the package's ciphertext followed by its 16-byte tag, so a
//! stripe of `n` plaintext bytes is stored as `n + 16 * ceil(n / PACKAGE)`
//! bytes and any byte range is read by opening only the packages that hold
//! it. Each part body (a PUT's body, an uploaded part) has its own key,
//! derived from the object's data key and the body's random id, so the
//! nonce of a package can simply be its position: stripe index (u32 BE) ‖
//! package index (u32 BE) ‖ 4 zero bytes, never reused under one key.
//!
//! The data key is random per object (SSE-S3), kept sealed with the
//! cluster's master key in the object's row; or derived from the customer's
//! key and a random salt (SSE-C), the customer's key itself never stored,
//! only its MD5 to tell a wrong key on every read.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use arca_types::ObjectId;
use hmac::Mac;
use sha2::Sha256;

use crate::error::{ObjectError, ObjectResult};

/// Plaintext bytes per package.
pub const PACKAGE: u64 = 64 << 10;
/// The GCM tag after every package.
pub const TAG: u64 = 16;

/// How many bytes `plain` plaintext bytes of one stripe take sealed.
pub fn sealed_len(plain: u64) -> u64 {
    plain + TAG * plain.div_ceil(PACKAGE)
}

/// A 256-bit key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn random() -> Key {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the OS random source works");
        Key(k)
    }

    /// HMAC-SHA256(self, label): a key for one purpose or one body.
    pub fn derive(&self, label: &[u8]) -> Key {
        let mut mac =
            <hmac::Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(label);
        Key(mac.finalize().into_bytes().into())
    }

    /// The key that seals the stripes of body `body`.
    pub fn for_body(&self, body: ObjectId) -> Key {
        self.derive(body.as_bytes())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.0).expect("32-byte key")
    }

    /// Seals a data key with this (master) key: random nonce (12) ‖
    /// ciphertext (32) ‖ tag (16).
    pub fn wrap(&self, data: &Key) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let sealed =
            self.cipher().encrypt(Nonce::from_slice(&nonce), &data.0[..]).expect("in-memory encryption");
        [&nonce[..], &sealed].concat()
    }

    /// Opens what [`wrap`](Self::wrap) sealed; a different master key (or
    /// damaged bytes) is an error.
    pub fn unwrap(&self, wrapped: &[u8]) -> ObjectResult<Key> {
        let (nonce, sealed) =
            wrapped.split_at_checked(12).ok_or_else(|| corrupt("a sealed data key is too short"))?;
        let plain = self
            .cipher()
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| corrupt("the object's data key does not open with this server's master key"))?;
        let key: [u8; 32] = plain.try_into().map_err(|_| corrupt("a data key is not 32 bytes"))?;
        Ok(Key(key))
    }
}

fn corrupt(what: &str) -> ObjectError {
    ObjectError::Corrupt(what.to_owned())
}

fn nonce(stripe: u32, package: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&stripe.to_be_bytes());
    n[4..8].copy_from_slice(&package.to_be_bytes());
    n
}

/// Seals stripe `stripe` of a body with its body key.
pub fn seal_stripe(key: &Key, stripe: u32, plain: &[u8]) -> Vec<u8> {
    let cipher = key.cipher();
    let mut out = Vec::with_capacity(sealed_len(plain.len() as u64) as usize);
    for (i, package) in plain.chunks(PACKAGE as usize).enumerate() {
        let n = nonce(stripe, i as u32);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&n), Payload { msg: package, aad: &[] })
            .expect("in-memory encryption");
        out.extend_from_slice(&sealed);
    }
    out
}

/// The sealed byte range `[start, end)` of a stripe that holds plaintext
/// `[from, to)`, and the index of its first package.
pub fn sealed_range(from: u64, to: u64, stripe_plain_len: u64) -> (u64, u64, u32) {
    let first = from / PACKAGE;
    let last = to.div_ceil(PACKAGE);
    let start = first * (PACKAGE + TAG);
    let end = (last * (PACKAGE + TAG)).min(sealed_len(stripe_plain_len));
    (start, end, first as u32)
}

/// Opens sealed packages starting at package `first` of stripe `stripe`,
/// and returns plaintext `[from, to)` of the stripe. A tag that does not
/// verify (a wrong key, damaged bytes) is an error, never wrong bytes.
pub fn open_range(
    key: &Key,
    stripe: u32,
    first: u32,
    sealed: &[u8],
    from: u64,
    to: u64,
) -> ObjectResult<Vec<u8>> {
    let cipher = key.cipher();
    let mut plain = Vec::with_capacity(sealed.len());
    for (i, package) in sealed.chunks((PACKAGE + TAG) as usize).enumerate() {
        let n = nonce(stripe, first + i as u32);
        let opened = cipher
            .decrypt(Nonce::from_slice(&n), Payload { msg: package, aad: &[] })
            .map_err(|_| corrupt("an encrypted stripe does not open: damaged, or another key"))?;
        plain.extend_from_slice(&opened);
    }
    let base = u64::from(first) * PACKAGE;
    let (a, b) = ((from - base) as usize, (to - base) as usize);
    plain
        .get(a..b)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| corrupt("an encrypted stripe is shorter than its manifest says"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_range_opens_to_the_plaintext(len in 0usize..200_000, a in any::<u64>(), b in any::<u64>(), stripe in any::<u32>()) {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let key = Key([9; 32]).for_body(ObjectId([1; 16]));
            let sealed = seal_stripe(&key, stripe, &plain);
            prop_assert_eq!(sealed.len() as u64, sealed_len(len as u64));
            if len > 0 {
                let (from, to) = { let x = a % len as u64; let y = b % len as u64; (x.min(y), x.max(y) + 1) };
                let (start, end, first) = sealed_range(from, to, len as u64);
                let got = open_range(&key, stripe, first, &sealed[start as usize..end as usize], from, to).unwrap();
                prop_assert_eq!(&got[..], &plain[from as usize..to as usize]);
            }
        }
    }

    #[test]
    fn a_wrong_key_a_moved_package_or_a_flipped_bit_is_refused() {
        let plain = vec![5u8; (PACKAGE * 2) as usize];
        let key = Key([1; 32]);
        let sealed = seal_stripe(&key, 0, &plain);
        assert!(open_range(&Key([2; 32]), 0, 0, &sealed, 0, 10).is_err());
        // The same bytes read as another stripe's (a misplaced blob).
        assert!(open_range(&key, 1, 0, &sealed, 0, 10).is_err());
        let mut flipped = sealed.clone();
        flipped[100] ^= 1;
        assert!(open_range(&key, 0, 0, &flipped, 0, 10).is_err());
        assert_eq!(open_range(&key, 0, 0, &sealed, 0, 10).unwrap(), vec![5u8; 10]);
    }

    #[test]
    fn data_keys_wrap_and_unwrap_only_with_their_master_key() {
        let (master, data) = (Key::random(), Key::random());
        let wrapped = master.wrap(&data);
        assert_eq!(wrapped.len(), 12 + 32 + 16);
        assert_eq!(master.unwrap(&wrapped).unwrap(), data);
        assert!(Key::random().unwrap(&wrapped).is_err());
        assert_ne!(data.for_body(ObjectId([1; 16])), data.for_body(ObjectId([2; 16])));
    }
}
