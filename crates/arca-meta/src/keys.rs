//! Key encodings of every table (fjall keyspace) of the metadata index.
//!
//! This module owns the byte layout of keys and nothing else; docs/design.md
//! section 5 specifies the same layout byte by byte. Every layout is chosen so
//! that byte order equals the logical order the index needs:
//!
//! - objects and uploads: `partition u32 BE | bucket id (16) | key | 0x00 |
//!   version or upload id (16)`. The partition groups a bucket's index shard
//!   for replication; the bucket id keeps one bucket's rows a single range;
//!   the NUL terminator makes `"a" < "a/b" < "a0"` hold on the encoded bytes
//!   exactly as it does on the UTF-8 keys (object keys never contain NUL).
//! - parts: `upload id (16) | part number u32 BE`.
//! - events: `seq u64 BE`. counters: `bucket id (16)`.
//! - buckets and access keys: the name's bytes.

use arca_types::{ObjectId, Timestamp, partition_of, placement_hash};

use crate::MetaError;

/// Length of the `partition | bucket id` head of object and upload keys.
pub const BUCKET_PREFIX_LEN: usize = 4 + 16;
/// Length of the version (objects) or upload id (uploads) suffix.
pub const SUFFIX_LEN: usize = 16;
/// The version component of S3's "null" version.
pub const NULL_VERSION: [u8; 16] = [0; 16];
/// Longest object key the index stores (S3 allows 1024 bytes; the slack
/// leaves room for gateways that relax it, far below fjall's 64 KiB keys).
pub const MAX_OBJECT_KEY_LEN: usize = 4096;
/// Longest bucket name or access key id the catalog stores.
pub const MAX_NAME_LEN: usize = 1024;
/// A byte that never occurs in UTF-8 text: appended to a key prefix it gives
/// a bound above every key that starts with that prefix.
pub const PAST_TEXT: u8 = 0xFF;

/// The index partition of a bucket's (only, for now) index shard: the
/// partition of the placement key `bucket id | shard u16 BE` with shard 0.
pub fn index_partition(bucket: ObjectId, part_power: u8) -> u32 {
    let mut placement = [0u8; 18];
    placement[..16].copy_from_slice(bucket.as_bytes());
    placement[16..].copy_from_slice(&0u16.to_be_bytes());
    partition_of(&placement_hash(&placement), part_power)
}

/// `partition | bucket id`: the common head of every object and upload key of
/// a bucket.
pub fn bucket_prefix(partition: u32, bucket: ObjectId) -> Vec<u8> {
    let mut out = Vec::with_capacity(BUCKET_PREFIX_LEN + 64);
    out.extend_from_slice(&partition.to_be_bytes());
    out.extend_from_slice(bucket.as_bytes());
    out
}

/// Checks that `key` can be stored as an object (or upload) key.
pub fn check_object_key(key: &str) -> Result<(), MetaError> {
    if key.len() > MAX_OBJECT_KEY_LEN {
        return Err(MetaError::Invalid(format!("object key longer than {MAX_OBJECT_KEY_LEN} bytes")));
    }
    if key.as_bytes().contains(&0) {
        return Err(MetaError::Invalid("object key contains a NUL byte".into()));
    }
    Ok(())
}

/// Checks a bucket name or access key id.
pub fn check_name(name: &str) -> Result<(), MetaError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(MetaError::Invalid(format!("name must be 1 to {MAX_NAME_LEN} bytes")));
    }
    Ok(())
}

/// `prefix | key | 0x00 | suffix`: an object row key (suffix = version) or an
/// upload row key (suffix = upload id).
pub fn row_key(prefix: &[u8], key: &str, suffix: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + key.len() + 1 + SUFFIX_LEN);
    out.extend_from_slice(prefix);
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    out.extend_from_slice(suffix);
    out
}

/// The object row key of one version of `key` (`None`: the null version).
pub fn version_key(partition: u32, bucket: ObjectId, key: &str, version: Option<ObjectId>) -> Vec<u8> {
    row_key(&bucket_prefix(partition, bucket), key, &version.map_or(NULL_VERSION, |v| v.0))
}

/// `[from, to)` holding exactly the rows of `key`'s versions other than
/// the null one, newest first (their suffixes are [`version_of`] their
/// timestamps).
pub fn versions_range(prefix: &[u8], key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut first = NULL_VERSION;
    first[SUFFIX_LEN - 1] = 1;
    (row_key(prefix, key, &first), past_key(prefix, key))
}

/// The version id of the version written at `ts`: the timestamp's bytes
/// inverted (`!micros` BE, `!node` BE, 4 zero bytes), so that byte order is
/// newest first and a listing of versions is one forward scan. Timestamps
/// are unique per write, so version ids are too; no timestamp maps to the
/// null version's all-zero suffix.
pub fn version_of(ts: Timestamp) -> ObjectId {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(!ts.micros).to_be_bytes());
    out[8..12].copy_from_slice(&(!ts.node).to_be_bytes());
    ObjectId(out)
}

/// The timestamp a version id was made from, if it is one.
pub fn timestamp_of_version(version: ObjectId) -> Option<Timestamp> {
    let b = version.0;
    if b[12..] != [0; 4] || b == NULL_VERSION {
        return None;
    }
    let micros = !u64::from_be_bytes(b[..8].try_into().ok()?);
    let node = !u32::from_be_bytes(b[8..12].try_into().ok()?);
    Some(Timestamp::new(micros, node))
}

/// The upload row key of `upload_id` of `key` in `bucket`.
pub fn upload_key(partition: u32, bucket: ObjectId, key: &str, upload_id: ObjectId) -> Vec<u8> {
    row_key(&bucket_prefix(partition, bucket), key, upload_id.as_bytes())
}

/// Splits a row key of the bucket whose head is `prefix` into the object key
/// text and the 16-byte suffix.
pub fn split_row_key<'a>(prefix: &[u8], raw: &'a [u8]) -> Result<(&'a str, [u8; 16]), MetaError> {
    let corrupt = || MetaError::Corrupt(format!("malformed row key {raw:02x?}"));
    let rest = raw.strip_prefix(prefix).ok_or_else(corrupt)?;
    if rest.len() < 1 + SUFFIX_LEN {
        return Err(corrupt());
    }
    let (text, tail) = rest.split_at(rest.len() - 1 - SUFFIX_LEN);
    if tail[0] != 0 {
        return Err(corrupt());
    }
    let mut suffix = [0u8; 16];
    suffix.copy_from_slice(&tail[1..]);
    let text = std::str::from_utf8(text).map_err(|_| corrupt())?;
    Ok((text, suffix))
}

/// `prefix | text | 0xFF`: above every row key whose object key starts with
/// `text` (UTF-8 never contains 0xFF), below every key that does not and is
/// greater.
pub fn past_keys_starting_with(prefix: &[u8], text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + text.len() + 1);
    out.extend_from_slice(prefix);
    out.extend_from_slice(text.as_bytes());
    out.push(PAST_TEXT);
    out
}

/// `prefix | key | 0x01`: above every row of `key` itself (all its versions
/// or uploads) and below every greater key (the smallest greater key is
/// `key` followed by more text, whose first byte is at least 0x01).
pub fn past_key(prefix: &[u8], key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + key.len() + 1);
    out.extend_from_slice(prefix);
    out.extend_from_slice(key.as_bytes());
    out.push(1);
    out
}

/// `upload id | part number u32 BE`.
pub fn part_key(upload_id: ObjectId, part_number: u32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[..16].copy_from_slice(upload_id.as_bytes());
    out[16..].copy_from_slice(&part_number.to_be_bytes());
    out
}

/// The part number of a part key.
pub fn part_number_of(raw: &[u8]) -> Result<u32, MetaError> {
    match raw {
        [_id @ .., a, b, c, d] if raw.len() == 20 => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(MetaError::Corrupt(format!("malformed part key {raw:02x?}"))),
    }
}

/// `seq u64 BE`.
pub fn event_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn event_seq_of(raw: &[u8]) -> Result<u64, MetaError> {
    let bytes: [u8; 8] =
        raw.try_into().map_err(|_| MetaError::Corrupt(format!("malformed event key {raw:02x?}")))?;
    Ok(u64::from_be_bytes(bytes))
}

/// `bucket id (16)`.
pub fn counter_key(bucket: ObjectId) -> [u8; 16] {
    bucket.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('b'),
                Just('0'),
                Just('/'),
                Just('-'),
                Just('\u{1}'),
                Just('é'),
                Just('日'),
                Just('\u{10348}'),
                Just('\u{7f}'),
            ],
            0..8,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn object_key_order_is_utf8_binary_order(a in key_text(), b in key_text(), p in any::<u32>(), id in any::<[u8; 16]>()) {
            let bucket = ObjectId(id);
            let ka = version_key(p, bucket, &a, None);
            let kb = version_key(p, bucket, &b, None);
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ka.cmp(&kb));
            let prefix = bucket_prefix(p, bucket);
            let (text, version) = split_row_key(&prefix, &ka).unwrap();
            prop_assert_eq!(text, a.as_str());
            prop_assert_eq!(version, NULL_VERSION);
        }

        #[test]
        fn bounds_separate_keys_as_documented(a in key_text(), b in key_text(), u in any::<[u8; 16]>()) {
            let bucket = ObjectId([7; 16]);
            let prefix = bucket_prefix(3, bucket);
            let kb = row_key(&prefix, &b, &u);
            // past_keys_starting_with(a) is above exactly the keys starting with a,
            // and below every other key greater than a.
            let past = past_keys_starting_with(&prefix, &a);
            if b.starts_with(&a) {
                prop_assert!(kb < past);
            } else if b > a {
                prop_assert!(kb > past);
            }
            // past_key(a) is above every row of a and below every key greater than a.
            let past = past_key(&prefix, &a);
            if b == a {
                prop_assert!(kb < past);
            } else if b > a {
                prop_assert!(kb > past);
            } else {
                prop_assert!(kb < past);
            }
        }

        #[test]
        fn upload_keys_order_by_key_then_upload_id(a in key_text(), b in key_text(), ua in any::<[u8; 16]>(), ub in any::<[u8; 16]>()) {
            let bucket = ObjectId([1; 16]);
            let ka = upload_key(9, bucket, &a, ObjectId(ua));
            let kb = upload_key(9, bucket, &b, ObjectId(ub));
            prop_assert_eq!((a.as_bytes(), ua).cmp(&(b.as_bytes(), ub)), ka.cmp(&kb));
        }

        #[test]
        fn part_and_event_keys_keep_order(ua in any::<[u8; 16]>(), pa: u32, ub in any::<[u8; 16]>(), pb: u32, sa: u64, sb: u64) {
            let (ka, kb) = (part_key(ObjectId(ua), pa), part_key(ObjectId(ub), pb));
            prop_assert_eq!((ua, pa).cmp(&(ub, pb)), ka.cmp(&kb));
            prop_assert_eq!(part_number_of(&ka).unwrap(), pa);
            prop_assert_eq!(sa.cmp(&sb), event_key(sa).cmp(&event_key(sb)));
            prop_assert_eq!(event_seq_of(&event_key(sa)).unwrap(), sa);
        }
    }

    proptest! {
        #[test]
        fn version_ids_sort_newest_first_after_the_null_version(
            a in any::<(u64, u32)>(), b in any::<(u64, u32)>(), key in key_text()
        ) {
            let (ta, tb) = (Timestamp::new(a.0, a.1), Timestamp::new(b.0, b.1));
            let (va, vb) = (version_of(ta), version_of(tb));
            prop_assert_eq!(tb.cmp(&ta), va.0.cmp(&vb.0));
            prop_assert_eq!(timestamp_of_version(va), Some(ta));
            let bucket = ObjectId([5; 16]);
            let prefix = bucket_prefix(1, bucket);
            let (from, to) = versions_range(&prefix, &key);
            let null = version_key(1, bucket, &key, None);
            let ka = version_key(1, bucket, &key, Some(va));
            prop_assert!(null < from && from <= ka && ka < to);
        }
    }

    #[test]
    fn malformed_keys_are_corrupt_not_panics() {
        let prefix = bucket_prefix(0, ObjectId([0; 16]));
        assert!(split_row_key(&prefix, b"short").is_err());
        let mut bad = prefix.clone();
        bad.extend_from_slice(&[b'a', 1]);
        bad.extend_from_slice(&[0; 16]);
        assert!(split_row_key(&prefix, &bad).is_err(), "missing NUL terminator");
        let mut bad = prefix.clone();
        bad.extend_from_slice(&[0xC3, 0]);
        bad.extend_from_slice(&[0; 16]);
        assert!(split_row_key(&prefix, &bad).is_err(), "invalid UTF-8");
        assert!(part_number_of(&[0; 19]).is_err());
        assert!(event_seq_of(&[0; 7]).is_err());
    }

    #[test]
    fn index_partition_hashes_bucket_id_and_shard_zero() {
        let bucket = ObjectId([0xAB; 16]);
        let mut placement = vec![0xAB; 16];
        placement.extend_from_slice(&[0, 0]);
        assert_eq!(index_partition(bucket, 10), partition_of(&placement_hash(&placement), 10));
        assert!(index_partition(bucket, 10) < 1024);
        assert_eq!(index_partition(bucket, 0), 0);
    }

    #[test]
    fn the_example_of_design_md_encodes_as_documented() {
        let bucket: ObjectId = "00112233445566778899aabbccddeeff".parse().unwrap();
        assert_eq!(index_partition(bucket, 10), 568);
        let mut want = vec![0x00, 0x00, 0x02, 0x38];
        want.extend_from_slice(&bucket.0);
        want.extend_from_slice(b"a/b");
        want.push(0);
        want.extend_from_slice(&[0; 16]);
        assert_eq!(version_key(568, bucket, "a/b", None), want);
    }

    #[test]
    fn keys_with_nul_or_too_long_are_rejected() {
        assert!(check_object_key("a\0b").is_err());
        assert!(check_object_key(&"x".repeat(MAX_OBJECT_KEY_LEN + 1)).is_err());
        assert!(check_object_key("ok/key").is_ok());
        assert!(check_name("").is_err());
    }
}
