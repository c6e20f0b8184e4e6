//! Listing: ListObjects and ListMultipartUploads as ordered range scans.
//!
//! This module owns the listing algorithm (docs/design.md section 5.4). A
//! bucket's rows are one contiguous, ordered range of the `objects` (or
//! `uploads`) keyspace, so a page is a range scan that starts at the first
//! key after the marker and stops after `max + 1` live entries. With a
//! delimiter, the first live key under a common prefix emits the prefix and
//! the scan steps over at most [`STEPS_BEFORE_SEEK`] more keys that share
//! it, then SEEKS past the rest (a new range from the prefix's upper bound)
//! instead of reading them. A page therefore costs O(entries returned +
//! tombstones skipped + one seek per common prefix), whatever the size of
//! the bucket.
//!
//! All reads of one page come from one fjall snapshot, so a page is
//! consistent even if writes land while it is read.

use arca_types::{ObjectId, Timestamp};
use fjall::{Keyspace, Readable, Snapshot};

use crate::codec;
use crate::keys::{self, NULL_VERSION};
use crate::ranges::KeyRange;
use crate::rows::UploadRow;
use crate::store::MetaStore;
use crate::{
    ListEntry, ListPage, ListQuery, MetaError, ObjectSummary, Result, UploadListPage, UploadListQuery,
    VersionListEntry, VersionListPage, VersionListQuery, VersionSummary,
};

/// After a common prefix, how many of its further rows a scan steps over
/// before it seeks past them instead. A seek opens a new range iterator on
/// every table that overlaps it (~50 µs on a 1M-row bucket, where stepping
/// over a row costs ~1 µs), so "directories" of a few keys are cheaper to
/// step through, and large ones cost at most this many steps plus one seek.
const STEPS_BEFORE_SEEK: usize = 8;

/// One item of a page: a row, or a common prefix rolled up from many.
enum Item<T> {
    Row(T),
    CommonPrefix(String),
}

/// A scan of one bucket's rows under `prefix`, rolling up by `delimiter`.
struct Walk<'a> {
    snapshot: Snapshot,
    keyspace: &'a Keyspace,
    /// `partition | bucket id`.
    head: Vec<u8>,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    /// Row-key bounds of the index range the walk stays in.
    bounds: (Vec<u8>, Vec<u8>),
}

impl Walk<'_> {
    /// If `key` (a key under the prefix) rolls up, its common prefix:
    /// prefix + the rest up to and including the first delimiter.
    fn common_prefix<'k>(&self, key: &'k str) -> Option<&'k str> {
        let delimiter = self.delimiter?;
        let rest = key.strip_prefix(self.prefix)?;
        let at = rest.find(delimiter)?;
        key.get(..self.prefix.len() + at + delimiter.len())
    }

    /// The first row key a page after `marker` may hold: past every row of
    /// `marker`, and past its whole common prefix if `marker` falls inside
    /// one (so paging never returns a common prefix twice).
    fn start_after(&self, marker: &str) -> Vec<u8> {
        match self.common_prefix(marker) {
            Some(common) => keys::past_keys_starting_with(&self.head, common),
            None => keys::past_key(&self.head, marker),
        }
    }

    /// Up to `limit` items from `lower` on, and whether more exist.
    /// `decode` turns a row (object key, 16-byte suffix, value, and the
    /// suffix and value of the next row if it belongs to the same key) into
    /// up to two items, in order; rows it returns nothing for are skipped
    /// (tombstones, versions that are not current). Two items come from one
    /// row when a listing of versions places a held-back null version.
    fn run<T>(
        &self,
        lower: Vec<u8>,
        limit: usize,
        mut decode: impl FnMut(&str, [u8; 16], &[u8], Option<([u8; 16], &[u8])>) -> Result<[Option<T>; 2]>,
    ) -> Result<(Vec<Item<T>>, bool)> {
        let mut out = Vec::new();
        // No stored key holds a NUL byte, so a prefix with one matches
        // nothing (and would break the bounds, which rely on it).
        if limit == 0 || self.prefix.contains('\0') {
            return Ok((out, false));
        }
        let end = keys::past_keys_starting_with(&self.head, self.prefix).min(self.bounds.1.clone());
        let mut lower =
            lower.max([self.head.as_slice(), self.prefix.as_bytes()].concat()).max(self.bounds.0.clone());
        // The common prefix just emitted, and how many more of its rows to
        // step over before seeking past it instead.
        let mut rolled_up: Option<(Vec<u8>, usize)> = None;
        'seek: while lower < end {
            let mut rows = self
                .snapshot
                .range(self.keyspace, lower.as_slice()..end.as_slice())
                .map(|g| g.into_inner())
                .peekable();
            while let Some(row) = rows.next() {
                let (raw_key, value) = row?;
                if let Some((common, budget)) = &mut rolled_up {
                    if raw_key.starts_with(common) {
                        if *budget == 0 {
                            // `beyond(common)`: above every key under it.
                            lower = std::mem::take(common);
                            lower.push(keys::PAST_TEXT);
                            rolled_up = None;
                            continue 'seek;
                        }
                        *budget -= 1;
                        continue;
                    }
                    rolled_up = None;
                }
                let (key, suffix) = keys::split_row_key(&self.head, &raw_key)?;
                if !key.starts_with(self.prefix) {
                    return Err(MetaError::Corrupt(format!("row key {key:?} outside its range")));
                }
                let next = match rows.peek() {
                    Some(Ok((next_key, next_value))) => keys::split_row_key(&self.head, next_key)
                        .ok()
                        .filter(|(k, _)| *k == key)
                        .map(|(_, s)| (s, next_value.as_ref())),
                    _ => None,
                };
                for item in decode(key, suffix, &value, next)?.into_iter().flatten() {
                    if out.len() == limit {
                        return Ok((out, true));
                    }
                    if let Some(common) = self.common_prefix(key) {
                        rolled_up =
                            Some(([self.head.as_slice(), common.as_bytes()].concat(), STEPS_BEFORE_SEEK));
                        out.push(Item::CommonPrefix(common.to_owned()));
                        // Everything else of this key is under the prefix too.
                        break;
                    }
                    out.push(Item::Row(item));
                }
            }
            break;
        }
        Ok((out, false))
    }
}

fn no_empty(delimiter: &Option<String>) -> Option<&str> {
    delimiter.as_deref().filter(|d| !d.is_empty())
}

impl MetaStore {
    /// One page of a bucket's live objects (ListObjects v1/v2).
    ///
    /// Keys beginning with `prefix` and greater than `start_after`, in UTF-8
    /// binary order. With a delimiter, keys whose remainder after the prefix
    /// contains it roll up into one common prefix (prefix + remainder up to
    /// and including the first delimiter), counted once toward `max_keys`.
    /// If `start_after` falls inside a common prefix, that whole prefix is
    /// skipped. Tombstones are skipped. `max_keys == 0` returns nothing and
    /// is not truncated.
    pub fn list_objects(&self, bucket: ObjectId, q: &ListQuery) -> Result<ListPage> {
        self.list_objects_in(bucket, q, &KeyRange::whole())
    }

    /// [`list_objects`](Self::list_objects) within the keys of `range` (one
    /// index range, or the part of it a listing has yet to read): not
    /// truncated means nothing more in `range`.
    pub fn list_objects_in(&self, bucket: ObjectId, q: &ListQuery, range: &KeyRange) -> Result<ListPage> {
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let walk = Walk {
            snapshot: self.tables.db.snapshot(),
            keyspace: &self.tables.objects,
            bounds: range.row_bounds(&head),
            head,
            prefix: &q.prefix,
            delimiter: no_empty(&q.delimiter),
        };
        let lower = q.start_after.as_deref().map(|m| walk.start_after(m)).unwrap_or_default();
        // A key's rows come null version first, then the others newest
        // first: its current version is the live null row unless the next
        // row is newer, else the first other row unless the null row was
        // newer. Delete markers hide their key.
        let mut null_ts: Option<(String, Timestamp)> = None;
        let mut decided = String::new();
        let (items, is_truncated) = walk.run(lower, q.max_keys, |key, suffix, value, next| {
            if suffix != NULL_VERSION && decided == key {
                return Ok([None, None]);
            }
            let head = codec::decode_object_head(value)?;
            let current = if suffix == NULL_VERSION {
                let newer_next = match next {
                    Some((_, next)) => codec::decode_object_head(next)?.ts > head.ts,
                    None => false,
                };
                null_ts = (!head.deleted).then(|| (key.to_owned(), head.ts));
                !head.deleted && !newer_next
            } else {
                decided.clear();
                decided.push_str(key);
                null_ts.as_ref().is_none_or(|(k, ts)| k != key || *ts < head.ts)
            };
            let shown = current && !head.meta.delete_marker;
            Ok([shown.then(|| ObjectSummary { key: key.to_owned(), ts: head.ts, meta: head.meta }), None])
        })?;
        let entries: Vec<ListEntry> = items
            .into_iter()
            .map(|item| match item {
                Item::Row(summary) => ListEntry::Object(summary),
                Item::CommonPrefix(p) => ListEntry::CommonPrefix(p),
            })
            .collect();
        let next_marker = if is_truncated { entries.last().map(|e| e.marker().to_owned()) } else { None };
        Ok(ListPage { entries, is_truncated, next_marker })
    }

    /// One page of a bucket's versions and delete markers
    /// (ListObjectVersions): by key, each key's versions newest first, with
    /// prefix, delimiter and markers as in [`list_objects`](Self::list_objects).
    ///
    /// The null version is stored before a key's other versions whatever
    /// its age, so it is held back (one row at most) until the scan reaches
    /// the first older version, or the key's end.
    pub fn list_versions(&self, bucket: ObjectId, q: &VersionListQuery) -> Result<VersionListPage> {
        self.list_versions_in(bucket, q, &KeyRange::whole())
    }

    /// [`list_versions`](Self::list_versions) within the keys of `range`.
    pub fn list_versions_in(
        &self,
        bucket: ObjectId,
        q: &VersionListQuery,
        range: &KeyRange,
    ) -> Result<VersionListPage> {
        let partition = self.index_partition(bucket);
        let head = keys::bucket_prefix(partition, bucket);
        let walk = Walk {
            snapshot: self.tables.db.snapshot(),
            keyspace: &self.tables.objects,
            bounds: range.row_bounds(&head),
            head,
            prefix: &q.prefix,
            delimiter: no_empty(&q.delimiter),
        };
        // With a version marker the scan starts at the marker key's first
        // row (the places of its versions depend on all of them) and drops
        // what comes up to the marker: versions at or above its timestamp.
        let mut resume: Option<(&str, Timestamp)> = None;
        let lower = match (&q.key_marker, q.version_marker) {
            (None, _) => Vec::new(),
            (Some(marker), Some(version)) if walk.common_prefix(marker).is_none() => {
                let ts = match version {
                    Some(v) => keys::timestamp_of_version(v),
                    None => self.get_version(bucket, marker, None)?.map(|r| r.ts),
                };
                match ts {
                    Some(ts) => {
                        resume = Some((marker.as_str(), ts));
                        keys::version_key(partition, bucket, marker, None)
                    }
                    None => walk.start_after(marker),
                }
            }
            (Some(marker), _) => walk.start_after(marker),
        };
        // The key being scanned, its current version's timestamp, and its
        // held-back null version.
        let mut current: Option<(String, Timestamp)> = None;
        let mut held: Option<VersionSummary> = None;
        let (items, is_truncated) = walk.run(lower, q.max_keys, |key, suffix, value, next| {
            let head = codec::decode_object_head(value)?;
            let version = (suffix != NULL_VERSION).then_some(ObjectId(suffix));
            if head.deleted {
                return Ok([None, None]);
            }
            let next_ts = next.and_then(|(s, _)| keys::timestamp_of_version(ObjectId(s)));
            if current.as_ref().is_none_or(|(k, _)| k != key) {
                // The key's first live row: the null one, or its newest.
                current = Some((
                    key.to_owned(),
                    next_ts.filter(|_| version.is_none()).map_or(head.ts, |t| t.max(head.ts)),
                ));
            }
            let is_latest = current.as_ref().is_some_and(|(_, ts)| *ts == head.ts);
            let entry =
                VersionSummary { key: key.to_owned(), version, ts: head.ts, is_latest, meta: head.meta };
            let mut out = if version.is_none() {
                if next_ts.is_some_and(|t| t > entry.ts) {
                    held = Some(entry);
                    [None, None]
                } else {
                    [Some(entry), None]
                }
            } else {
                match held.take() {
                    Some(null) if null.key == key && null.ts > entry.ts => [Some(null), Some(entry)],
                    Some(null) if null.key == key && next.is_none() => [Some(entry), Some(null)],
                    other => {
                        held = other.filter(|n| n.key == key);
                        [Some(entry), None]
                    }
                }
            };
            if let Some((marker, ts)) = resume
                && marker == key
            {
                for item in &mut out {
                    if item.as_ref().is_some_and(|v| v.ts >= ts) {
                        *item = None;
                    }
                }
                out.sort_by_key(Option::is_none);
            }
            Ok(out)
        })?;
        let mut page = VersionListPage { is_truncated, ..Default::default() };
        if is_truncated {
            match items.last() {
                Some(Item::Row(v)) => {
                    page.next_key_marker = Some(v.key.clone());
                    page.next_version_marker = Some(v.version);
                }
                Some(Item::CommonPrefix(p)) => page.next_key_marker = Some(p.clone()),
                None => {}
            }
        }
        page.entries = items
            .into_iter()
            .map(|item| match item {
                Item::Row(v) => VersionListEntry::Version(v),
                Item::CommonPrefix(p) => VersionListEntry::CommonPrefix(p),
            })
            .collect();
        Ok(page)
    }

    /// One page of a bucket's live multipart uploads (ListMultipartUploads).
    ///
    /// Ordered by key, then upload id (= initiation order: the server makes
    /// time-ordered ids). With only `key_marker`: uploads of keys greater
    /// than it; with `upload_id_marker` too: also the uploads of
    /// `key_marker` itself with a greater id. Prefix, delimiter and the
    /// common-prefix skip work as in [`list_objects`](Self::list_objects).
    pub fn list_uploads(&self, bucket: ObjectId, q: &UploadListQuery) -> Result<UploadListPage> {
        self.list_uploads_in(bucket, q, &KeyRange::whole())
    }

    /// [`list_uploads`](Self::list_uploads) within the keys of `range`.
    pub fn list_uploads_in(
        &self,
        bucket: ObjectId,
        q: &UploadListQuery,
        range: &KeyRange,
    ) -> Result<UploadListPage> {
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let walk = Walk {
            snapshot: self.tables.db.snapshot(),
            keyspace: &self.tables.uploads,
            bounds: range.row_bounds(&head),
            head,
            prefix: &q.prefix,
            delimiter: no_empty(&q.delimiter),
        };
        let lower = match (&q.key_marker, q.upload_id_marker) {
            (None, _) => Vec::new(),
            (Some(marker), Some(id)) if walk.common_prefix(marker).is_none() => {
                // The successor of the marker's own row key.
                let mut k = keys::row_key(&walk.head, marker, id.as_bytes());
                k.push(0);
                k
            }
            (Some(marker), _) => walk.start_after(marker),
        };
        let (items, is_truncated) = walk.run(lower, q.max_uploads, |_key, _id, value, _next| {
            let row: UploadRow = codec::decode(value)?;
            Ok([(!row.deleted).then_some(row), None])
        })?;
        let mut page = UploadListPage { is_truncated, ..Default::default() };
        if is_truncated {
            match items.last() {
                Some(Item::Row(upload)) => {
                    page.next_key_marker = Some(upload.key.clone());
                    page.next_upload_id_marker = Some(upload.upload_id);
                }
                Some(Item::CommonPrefix(p)) => page.next_key_marker = Some(p.clone()),
                None => {}
            }
        }
        for item in items {
            match item {
                Item::Row(upload) => page.uploads.push(upload),
                Item::CommonPrefix(p) => page.common_prefixes.push(p),
            }
        }
        Ok(page)
    }
}
