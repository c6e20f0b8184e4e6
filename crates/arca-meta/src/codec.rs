//! Value encodings: one format-version byte, then the row in postcard.
//!
//! This module owns how rows become value bytes and back. Every value starts
//! with its format byte so a later format can be told apart: values are
//! written in [`VALUE_FORMAT`], and values of earlier formats still decode
//! (module [`v1`] holds the layouts that changed since). An unknown version
//! or undecodable bytes are [`MetaError::Corrupt`], never a panic.
//! postcard's wire format is specified at
//! <https://postcard.jamesmunns.com/wire-format>; docs/design.md section 5
//! summarises the parts the rows use.

use arca_types::{ObjectId, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::MetaError;
use crate::rows::ObjectMeta;

/// The first byte of every value written by this version of Arca.
/// Format 2 added versioning, tags and redirects to object and bucket rows;
/// format 3 added key bounds and an epoch to a group's state (index ranges
/// that split).
pub const VALUE_FORMAT: u8 = 3;

/// A type stored as a value, and how values of earlier formats decode.
pub trait Value: Serialize + DeserializeOwned {
    /// Decodes the postcard body of a format-1 value. Types whose layout
    /// did not change read it as they read the current format.
    fn decode_v1(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes(body)
    }

    /// Decodes the postcard body of a format-2 value.
    fn decode_v2(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes(body)
    }
}

pub fn encode<T: Serialize>(row: &T) -> Result<Vec<u8>, MetaError> {
    postcard::to_extend(row, vec![VALUE_FORMAT])
        .map_err(|e| MetaError::Invalid(format!("row cannot be encoded: {e}")))
}

/// The format byte and the postcard body of a value.
fn split(raw: &[u8]) -> Result<(u8, &[u8]), MetaError> {
    match raw.split_first() {
        Some((&format @ 1..=VALUE_FORMAT, rest)) => Ok((format, rest)),
        Some((other, _)) => Err(MetaError::Corrupt(format!("unknown value format {other}"))),
        None => Err(MetaError::Corrupt("empty value".into())),
    }
}

pub fn decode<T: Value>(raw: &[u8]) -> Result<T, MetaError> {
    let decoded = match split(raw)? {
        (VALUE_FORMAT, body) => postcard::from_bytes(body),
        (2, body) => T::decode_v2(body),
        (_, body) => T::decode_v1(body),
    };
    decoded.map_err(|e| MetaError::Corrupt(format!("undecodable row: {e}")))
}

/// The leading fields of an [`ObjectRow`](crate::ObjectRow), in the same
/// order: postcard encodes a struct as its fields in order, so decoding this
/// prefix of the encoding stops before the body and never copies an inline
/// body. The key borrows from the value bytes.
#[derive(Debug, Deserialize)]
pub struct ObjectHead<'a, M = ObjectMeta> {
    #[allow(dead_code)] // read to advance past it; the bucket is known from the key
    pub bucket: ObjectId,
    #[serde(borrow)]
    #[allow(dead_code)] // the key is taken from the row key
    pub key: &'a str,
    #[allow(dead_code)]
    pub version: Option<ObjectId>,
    pub ts: Timestamp,
    pub deleted: bool,
    pub meta: M,
}

/// Decodes an object row's head (everything but the body).
pub fn decode_object_head(raw: &[u8]) -> Result<ObjectHead<'_>, MetaError> {
    let head = match split(raw)? {
        (2 | VALUE_FORMAT, body) => {
            postcard::take_from_bytes::<ObjectHead<'_>>(body).map(|(head, _body)| head)
        }
        (_, body) => {
            postcard::take_from_bytes::<ObjectHead<'_, v1::ObjectMeta>>(body).map(|(h, _body)| ObjectHead {
                bucket: h.bucket,
                key: h.key,
                version: h.version,
                ts: h.ts,
                deleted: h.deleted,
                meta: h.meta.into(),
            })
        }
    };
    head.map_err(|e| MetaError::Corrupt(format!("undecodable object row: {e}")))
}

macro_rules! same_layout_as_v1 {
    ($($t:ty),*) => {$( impl Value for $t {} )*};
}
same_layout_as_v1!(crate::KeyRow, crate::PartRow, crate::BucketStats, crate::EventRow, crate::ObjectBody);

impl Value for crate::raft::GroupState {
    fn decode_v1(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes::<v2::GroupState>(body).map(Into::into)
    }

    fn decode_v2(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes::<v2::GroupState>(body).map(Into::into)
    }
}

/// Format-2 layouts of the rows format 3 changed, and what they become.
pub mod v2 {
    use arca_types::ObjectId;
    use serde::Deserialize;

    use crate::raft;
    use crate::ranges::KeyRange;

    /// [`raft::GroupState`] before ranges split: every range held its
    /// whole bucket, at epoch 1.
    #[derive(Debug, Deserialize)]
    pub struct GroupState {
        bucket: Option<ObjectId>,
        applied: Option<Vec<u8>>,
        membership: Option<Vec<u8>>,
        closed: bool,
        installing: bool,
    }

    impl From<GroupState> for raft::GroupState {
        fn from(s: GroupState) -> Self {
            raft::GroupState {
                bucket: s.bucket,
                applied: s.applied,
                membership: s.membership,
                closed: s.closed,
                installing: s.installing,
                range: KeyRange::default(),
                epoch: 1,
            }
        }
    }
}

impl Value for crate::ObjectRow {
    fn decode_v1(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes::<v1::ObjectRow>(body).map(Into::into)
    }
}

impl Value for crate::UploadRow {
    fn decode_v1(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes::<v1::UploadRow>(body).map(Into::into)
    }
}

impl Value for crate::BucketRow {
    fn decode_v1(body: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes::<v1::BucketRow>(body).map(Into::into)
    }
}

/// Format-1 layouts of the rows format 2 changed, and what they become.
pub mod v1 {
    use arca_types::{ObjectId, Timestamp};
    use serde::Deserialize;

    use crate::rows::{self, ObjectBody, Versioning};

    /// [`rows::ObjectMeta`] before delete markers, tags and redirects.
    #[derive(Debug, Deserialize)]
    pub struct ObjectMeta {
        size: u64,
        etag: String,
        owner: String,
        content_type: Option<String>,
        content_encoding: Option<String>,
        content_disposition: Option<String>,
        content_language: Option<String>,
        cache_control: Option<String>,
        expires: Option<String>,
        storage_class: Option<String>,
        user: Vec<(String, String)>,
        checksums: Vec<(String, String)>,
    }

    impl From<ObjectMeta> for rows::ObjectMeta {
        fn from(m: ObjectMeta) -> Self {
            rows::ObjectMeta {
                size: m.size,
                etag: m.etag,
                owner: m.owner,
                content_type: m.content_type,
                content_encoding: m.content_encoding,
                content_disposition: m.content_disposition,
                content_language: m.content_language,
                cache_control: m.cache_control,
                expires: m.expires,
                storage_class: m.storage_class,
                user: m.user,
                checksums: m.checksums,
                ..rows::ObjectMeta::default()
            }
        }
    }

    #[derive(Debug, Deserialize)]
    pub struct ObjectRow {
        bucket: ObjectId,
        key: String,
        version: Option<ObjectId>,
        ts: Timestamp,
        deleted: bool,
        meta: ObjectMeta,
        body: ObjectBody,
    }

    impl From<ObjectRow> for rows::ObjectRow {
        fn from(r: ObjectRow) -> Self {
            rows::ObjectRow {
                bucket: r.bucket,
                key: r.key,
                version: r.version,
                ts: r.ts,
                deleted: r.deleted,
                meta: r.meta.into(),
                body: r.body,
            }
        }
    }

    #[derive(Debug, Deserialize)]
    pub struct UploadRow {
        bucket: ObjectId,
        key: String,
        upload_id: ObjectId,
        initiated: Timestamp,
        meta: ObjectMeta,
        ts: Timestamp,
        deleted: bool,
    }

    impl From<UploadRow> for rows::UploadRow {
        fn from(r: UploadRow) -> Self {
            rows::UploadRow {
                bucket: r.bucket,
                key: r.key,
                upload_id: r.upload_id,
                initiated: r.initiated,
                meta: r.meta.into(),
                ts: r.ts,
                deleted: r.deleted,
            }
        }
    }

    /// [`rows::BucketRow`] before versioning and tags.
    #[derive(Debug, Deserialize)]
    pub struct BucketRow {
        name: String,
        id: ObjectId,
        owner: String,
        created: Timestamp,
        region: String,
        grants: Vec<String>,
        ts: Timestamp,
        deleted: bool,
    }

    impl From<BucketRow> for rows::BucketRow {
        fn from(r: BucketRow) -> Self {
            rows::BucketRow {
                name: r.name,
                id: r.id,
                owner: r.owner,
                created: r.created,
                region: r.region,
                grants: r.grants,
                ts: r.ts,
                deleted: r.deleted,
                versioning: Versioning::Unversioned,
                tags: Vec::new(),
                object_lock: None,
                attrs: Vec::new(),
            }
        }
    }
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
        impl Value for SequenceBody {}
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let new = encode(&ObjectBody::Inline(data.clone())).unwrap();
        let old = encode(&SequenceBody::Inline(data.clone())).unwrap();
        assert_eq!(new, old);
        assert_eq!(decode::<ObjectBody>(&old).unwrap(), ObjectBody::Inline(data.clone()));
        assert_eq!(decode::<SequenceBody>(&new).unwrap(), SequenceBody::Inline(data));
    }

    #[test]
    fn format_1_rows_decode_with_the_fields_format_2_added_empty() {
        // The format-1 layout: the fields of today's row without the three
        // that format 2 appended to the metadata.
        #[derive(Serialize)]
        struct MetaV1 {
            size: u64,
            etag: String,
            owner: String,
            content: [Option<String>; 6],
            storage_class: Option<String>,
            user: Vec<(String, String)>,
            checksums: Vec<(String, String)>,
        }
        let r = row(ObjectBody::Inline(vec![1, 2, 3]));
        let meta = MetaV1 {
            size: r.meta.size,
            etag: r.meta.etag.clone(),
            owner: r.meta.owner.clone(),
            content: [r.meta.content_type.clone(), None, None, None, None, None],
            storage_class: None,
            user: r.meta.user.clone(),
            checksums: vec![],
        };
        let v1 = (r.bucket, r.key.clone(), r.version, r.ts, r.deleted, meta, r.body.clone());
        let bytes = postcard::to_extend(&v1, vec![1]).unwrap();
        assert_eq!(decode::<ObjectRow>(&bytes).unwrap(), r);
        let head = decode_object_head(&bytes).unwrap();
        assert_eq!((head.ts, &head.meta), (r.ts, &r.meta));
        assert!(encode(&r).unwrap().len() > bytes.len(), "format 2 writes the new fields");
    }

    #[test]
    fn bad_bytes_are_corrupt() {
        let bytes = encode(&row(ObjectBody::default())).unwrap();
        for raw in [&[][..], &[9, 0, 0][..], &bytes[..bytes.len() / 2], &[VALUE_FORMAT, 0xFF, 0xFF, 0xFF]] {
            assert!(matches!(decode::<ObjectRow>(raw), Err(MetaError::Corrupt(_))), "{raw:?}");
        }
        for raw in [&[][..], &[9, 0, 0][..], &bytes[..20], &[VALUE_FORMAT, 0xFF, 0xFF, 0xFF]] {
            assert!(matches!(decode_object_head(raw), Err(MetaError::Corrupt(_))), "{raw:?}");
        }
    }

    #[test]
    fn the_format_byte_and_postcard_layout_are_as_documented() {
        // A BucketStats of (objects 1, bytes 300, uploads 0): format byte,
        // then three varints; 300 = 0b1_0010_1100 -> 0xAC 0x02.
        let stats = crate::rows::BucketStats { objects: 1, bytes: 300, uploads: 0 };
        assert_eq!(encode(&stats).unwrap(), vec![3, 1, 0xAC, 0x02, 0]);
    }
}
