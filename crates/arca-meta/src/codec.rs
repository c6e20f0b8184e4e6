//! Value encodings: one format-version byte, then the row in postcard.
//!
//! This module owns how rows become value bytes and back. Every value starts
//! with [`VALUE_FORMAT`] so a later format can be told apart and migrated;
//! an unknown version or undecodable bytes are [`MetaError::Corrupt`], never
//! a panic. postcard's wire format is specified at
//! <https://postcard.jamesmunns.com/wire-format>; docs/design.md section 5
//! summarises the parts the rows use.

use arca_types::{ObjectId, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::MetaError;
use crate::rows::ObjectMeta;

/// The first byte of every value written by this version of Arca.
pub const VALUE_FORMAT: u8 = 1;

pub fn encode<T: Serialize>(row: &T) -> Result<Vec<u8>, MetaError> {
    postcard::to_extend(row, vec![VALUE_FORMAT])
        .map_err(|e| MetaError::Invalid(format!("row cannot be encoded: {e}")))
}

fn body(raw: &[u8]) -> Result<&[u8], MetaError> {
    match raw.split_first() {
        Some((&VALUE_FORMAT, rest)) => Ok(rest),
        Some((other, _)) => Err(MetaError::Corrupt(format!("unknown value format {other}"))),
        None => Err(MetaError::Corrupt("empty value".into())),
    }
}

pub fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, MetaError> {
    postcard::from_bytes(body(raw)?).map_err(|e| MetaError::Corrupt(format!("undecodable row: {e}")))
}

/// The leading fields of an [`ObjectRow`](crate::ObjectRow), in the same
/// order: postcard encodes a struct as its fields in order, so decoding this
/// prefix of the encoding stops before the body and never copies an inline
/// body. The key borrows from the value bytes.
#[derive(Debug, Deserialize)]
pub struct ObjectHead<'a> {
    #[allow(dead_code)] // read to advance past it; the bucket is known from the key
    pub bucket: ObjectId,
    #[serde(borrow)]
    #[allow(dead_code)] // the key is taken from the row key
    pub key: &'a str,
    #[allow(dead_code)]
    pub version: Option<ObjectId>,
    pub ts: Timestamp,
    pub deleted: bool,
    pub meta: ObjectMeta,
}

/// Decodes an object row's head (everything but the body).
pub fn decode_object_head(raw: &[u8]) -> Result<ObjectHead<'_>, MetaError> {
    postcard::take_from_bytes::<ObjectHead<'_>>(body(raw)?)
        .map(|(head, _body)| head)
        .map_err(|e| MetaError::Corrupt(format!("undecodable object row: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{ObjectBody, ObjectRow};

    fn row(body: ObjectBody) -> ObjectRow {
        ObjectRow {
            bucket: ObjectId([3; 16]),
            key: "photos/2026/日本.jpg".into(),
            version: None,
            ts: Timestamp::new(1_700_000_000_000_000, 7),
            deleted: false,
            meta: ObjectMeta {
                size: 5,
                etag: "\"abc\"".into(),
                owner: "AKIA".into(),
                content_type: Some("image/jpeg".into()),
                user: vec![("k".into(), "v".into())],
                ..Default::default()
            },
            body,
        }
    }

    #[test]
    fn rows_round_trip_and_the_head_skips_the_body() {
        let r = row(ObjectBody::Inline(vec![9; 1000]));
        let bytes = encode(&r).unwrap();
        assert_eq!(bytes[0], VALUE_FORMAT);
        assert_eq!(decode::<ObjectRow>(&bytes).unwrap(), r);
        let head = decode_object_head(&bytes).unwrap();
        assert_eq!((head.key, head.ts, head.deleted, &head.meta), (r.key.as_str(), r.ts, false, &r.meta));
    }

    #[test]
    fn inline_bodies_keep_the_layout_of_a_sequence_of_bytes() {
        // Rows written before inline bodies were read as a byte string
        // stored them as a sequence of u8: both must encode alike.
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        enum SequenceBody {
            Inline(Vec<u8>),
            Striped(crate::rows::Manifest),
        }
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let new = encode(&ObjectBody::Inline(data.clone())).unwrap();
        let old = encode(&SequenceBody::Inline(data.clone())).unwrap();
        assert_eq!(new, old);
        assert_eq!(decode::<ObjectBody>(&old).unwrap(), ObjectBody::Inline(data.clone()));
        assert_eq!(decode::<SequenceBody>(&new).unwrap(), SequenceBody::Inline(data));
    }

    #[test]
    fn bad_bytes_are_corrupt() {
        let bytes = encode(&row(ObjectBody::default())).unwrap();
        for raw in [&[][..], &[2, 0, 0][..], &bytes[..bytes.len() / 2], &[VALUE_FORMAT, 0xFF, 0xFF, 0xFF]] {
            assert!(matches!(decode::<ObjectRow>(raw), Err(MetaError::Corrupt(_))), "{raw:?}");
        }
        for raw in [&[][..], &[2, 0, 0][..], &bytes[..20], &[VALUE_FORMAT, 0xFF, 0xFF, 0xFF]] {
            assert!(matches!(decode_object_head(raw), Err(MetaError::Corrupt(_))), "{raw:?}");
        }
    }

    #[test]
    fn the_format_byte_and_postcard_layout_are_as_documented() {
        // A BucketStats of (objects 1, bytes 300, uploads 0): format byte,
        // then three varints; 300 = 0b1_0010_1100 -> 0xAC 0x02.
        let stats = crate::rows::BucketStats { objects: 1, bytes: 300, uploads: 0 };
        assert_eq!(encode(&stats).unwrap(), vec![1, 1, 0xAC, 0x02, 0]);
    }
}
