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

use arca_types::ObjectId;
use fjall::{Keyspace, Readable, Snapshot};

use crate::codec;
use crate::keys::{self, NULL_VERSION};
use crate::rows::UploadRow;
use crate::store::MetaStore;
use crate::{
    ListEntry, ListPage, ListQuery, MetaError, ObjectSummary, Result, UploadListPage, UploadListQuery,
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
    /// `decode` turns a row (object key, 16-byte suffix, value) into an item,
    /// or `None` to skip it (tombstones).
    fn run<T>(
        &self,
        lower: Vec<u8>,
        limit: usize,
        mut decode: impl FnMut(&str, [u8; 16], &[u8]) -> Result<Option<T>>,
    ) -> Result<(Vec<Item<T>>, bool)> {
        let mut out = Vec::new();
        // No stored key holds a NUL byte, so a prefix with one matches
        // nothing (and would break the bounds, which rely on it).
        if limit == 0 || self.prefix.contains('\0') {
            return Ok((out, false));
        }
        let end = keys::past_keys_starting_with(&self.head, self.prefix);
        let mut lower = lower.max([self.head.as_slice(), self.prefix.as_bytes()].concat());
        // The common prefix just emitted, and how many more of its rows to
        // step over before seeking past it instead.
        let mut rolled_up: Option<(Vec<u8>, usize)> = None;
        'seek: while lower < end {
            for guard in self.snapshot.range(self.keyspace, lower.as_slice()..end.as_slice()) {
                let (raw_key, value) = guard.into_inner()?;
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
                let Some(row) = decode(key, suffix, &value)? else { continue };
                if out.len() == limit {
                    return Ok((out, true));
                }
                if let Some(common) = self.common_prefix(key) {
                    rolled_up = Some(([self.head.as_slice(), common.as_bytes()].concat(), STEPS_BEFORE_SEEK));
                    out.push(Item::CommonPrefix(common.to_owned()));
                    continue;
                }
                out.push(Item::Row(row));
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
        let walk = Walk {
            snapshot: self.tables.db.snapshot(),
            keyspace: &self.tables.objects,
            head: keys::bucket_prefix(self.index_partition(bucket), bucket),
            prefix: &q.prefix,
            delimiter: no_empty(&q.delimiter),
        };
        let lower = q.start_after.as_deref().map(|m| walk.start_after(m)).unwrap_or_default();
        let (items, is_truncated) = walk.run(lower, q.max_keys, |key, version, value| {
            if version != NULL_VERSION {
                return Ok(None);
            }
            let head = codec::decode_object_head(value)?;
            Ok((!head.deleted).then(|| ObjectSummary { key: key.to_owned(), ts: head.ts, meta: head.meta }))
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

    /// One page of a bucket's live multipart uploads (ListMultipartUploads).
    ///
    /// Ordered by key, then upload id (= initiation order: the server makes
    /// time-ordered ids). With only `key_marker`: uploads of keys greater
    /// than it; with `upload_id_marker` too: also the uploads of
    /// `key_marker` itself with a greater id. Prefix, delimiter and the
    /// common-prefix skip work as in [`list_objects`](Self::list_objects).
    pub fn list_uploads(&self, bucket: ObjectId, q: &UploadListQuery) -> Result<UploadListPage> {
        let walk = Walk {
            snapshot: self.tables.db.snapshot(),
            keyspace: &self.tables.uploads,
            head: keys::bucket_prefix(self.index_partition(bucket), bucket),
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
        let (items, is_truncated) = walk.run(lower, q.max_uploads, |_key, _id, value| {
            let row: UploadRow = codec::decode(value)?;
            Ok((!row.deleted).then_some(row))
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
