//! Identifiers of stored things: object versions and the blobs they are cut into.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Identifies one stored body: an object version, or one uploaded part of a
/// multipart upload. 16 random bytes; shown as 32 lower-case hex digits.
///
/// Blobs are named after the body they belong to, so a new version never
/// overwrites the blobs of an old one and replicas never hold two different
/// contents under one name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId(pub [u8; 16]);

impl ObjectId {
    /// A fresh random id (from the operating system's CSPRNG).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        ObjectId(bytes)
    }

    /// A fresh id whose first eight bytes are `micros` (big-endian) and the
    /// rest random: ids made this way sort by creation time, and their age
    /// can be read back with [`ObjectId::created_micros`].
    pub fn time_ordered(micros: u64) -> Self {
        let mut id = ObjectId::random();
        id.0[..8].copy_from_slice(&micros.to_be_bytes());
        id
    }

    /// The creation time of an id made by [`ObjectId::time_ordered`] (for
    /// any other id, a meaningless number).
    pub fn created_micros(&self) -> u64 {
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(micros)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a 32-digit hex id: {0:?}")]
pub struct IdParseError(pub String);

impl FromStr for ObjectId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| IdParseError(s.to_owned()))?;
        Ok(ObjectId(bytes))
    }
}

/// Names one blob: stripe `stripe` of the body `object`.
///
/// Encoded as 20 bytes: the 16 bytes of the object id, then the stripe index
/// as a big-endian u32, so the blobs of one body sort together and in order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobId {
    pub object: ObjectId,
    pub stripe: u32,
}

impl BlobId {
    pub const ENCODED_LEN: usize = 20;

    pub fn new(object: ObjectId, stripe: u32) -> Self {
        BlobId { object, stripe }
    }

    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..16].copy_from_slice(&self.object.0);
        out[16..].copy_from_slice(&self.stripe.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::ENCODED_LEN]) -> Self {
        let mut object = [0u8; 16];
        object.copy_from_slice(&bytes[..16]);
        let stripe = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        BlobId { object: ObjectId(object), stripe }
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.object, self.stripe)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn blob_id_bytes_round_trip_and_keep_order(a: [u8; 16], sa: u32, b: [u8; 16], sb: u32) {
            let x = BlobId::new(ObjectId(a), sa);
            let y = BlobId::new(ObjectId(b), sb);
            prop_assert_eq!(BlobId::from_bytes(&x.to_bytes()), x);
            prop_assert_eq!(x.cmp(&y), x.to_bytes().cmp(&y.to_bytes()));
        }

        #[test]
        fn object_id_text_round_trips(a: [u8; 16]) {
            let id = ObjectId(a);
            prop_assert_eq!(id.to_string().parse::<ObjectId>().unwrap(), id);
        }
    }

    #[test]
    fn time_ordered_ids_sort_by_time_and_tell_it() {
        let a = ObjectId::time_ordered(1_000);
        let b = ObjectId::time_ordered(2_000);
        assert!(a < b);
        assert_eq!(a.created_micros(), 1_000);
        assert_ne!(ObjectId::time_ordered(5), ObjectId::time_ordered(5));
    }

    #[test]
    fn object_id_rejects_bad_text() {
        assert!("xyz".parse::<ObjectId>().is_err());
        assert!("00".repeat(15).parse::<ObjectId>().is_err());
        assert_ne!(ObjectId::random(), ObjectId::random());
    }
}
