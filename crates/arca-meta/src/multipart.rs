//! Multipart uploads and their parts.
//!
//! This module owns the life of an upload in the index: created (a live
//! upload row, counted in the bucket's `uploads`), parts added (part rows
//! keyed by upload id and part number; only while the upload is live), and
//! closed exactly once — completed (the object row is written, the upload
//! row becomes a tombstone, the part rows are removed) or aborted (the same
//! without the object). Each step is one atomic mutation, so a part can
//! never be attached to an upload that is already closed, and a completed
//! object never references a part row that is gone.

use std::collections::BTreeMap;

use arca_types::{ObjectId, Timestamp};

use crate::objects::put_in;
use crate::rows::{EventKind, ObjectBody, ObjectRow, PartRow, UploadRow};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{CompleteOutcome, MetaError, PutCondition, Result, codec, keys};

/// The live upload row at `key`, or `NoSuchUpload`.
fn live_upload(txn: &Txn<'_>, key: &[u8]) -> Result<UploadRow> {
    match txn.get::<UploadRow>(Table::Uploads, key)? {
        Some(row) if !row.deleted => Ok(row),
        _ => Err(MetaError::NoSuchUpload),
    }
}

/// Every live part of an upload, by part number; the staged removal of all
/// its part rows.
fn take_parts(txn: &mut Txn<'_>, upload_id: ObjectId) -> Result<Vec<PartRow>> {
    let mut parts = Vec::new();
    for (key, value) in txn.scan_prefix(Table::Parts, upload_id.as_bytes())? {
        let part: PartRow = codec::decode(&value)?;
        txn.remove(Table::Parts, key);
        if !part.deleted {
            parts.push(part);
        }
    }
    Ok(parts)
}

/// Closes a live upload: a tombstone at `ts`, one fewer upload counted.
fn close_upload(txn: &mut Txn<'_>, key: Vec<u8>, upload: UploadRow, ts: Timestamp) -> Result<()> {
    if upload.ts >= ts && !txn.log_ordered() {
        return Err(MetaError::Stale { stored: upload.ts });
    }
    txn.count(upload.bucket, 0, 0, -1);
    txn.put(Table::Uploads, key, &UploadRow { ts, deleted: true, ..upload })
}

pub(crate) fn create_upload_in(txn: &mut Txn<'_>, key: Vec<u8>, row: UploadRow) -> Result<()> {
    txn.check_bucket_live(row.bucket)?;
    let stored: Option<UploadRow> = txn.get(Table::Uploads, &key)?;
    if let Some(stored) = &stored {
        if txn.log_ordered() && stored.ts == row.ts {
            // The same creation applied twice (a retried proposal).
            return Ok(());
        }
        if stored.ts >= row.ts && !txn.log_ordered() {
            return Err(MetaError::Stale { stored: stored.ts });
        }
        if !stored.deleted {
            txn.count(row.bucket, 0, 0, -1);
        }
    }
    txn.count(row.bucket, 0, 0, 1);
    txn.event(EventKind::UploadCreated, row.ts, row.bucket, &row.key, 0, "");
    txn.put(Table::Uploads, key, &row)
}

pub(crate) fn put_part_in(txn: &mut Txn<'_>, upload_key: &[u8], row: PartRow) -> Result<Option<PartRow>> {
    live_upload(txn, upload_key)?;
    let part_key = keys::part_key(row.upload_id, row.part_number).to_vec();
    let replaced: Option<PartRow> = txn.get(Table::Parts, &part_key)?;
    if txn.log_ordered() && replaced.as_ref().is_some_and(|p| p.ts == row.ts) {
        return Ok(None);
    }
    txn.put(Table::Parts, part_key, &row)?;
    Ok(replaced.filter(|p| !p.deleted))
}

pub(crate) fn complete_in(
    txn: &mut Txn<'_>,
    partition: u32,
    upload_key: Vec<u8>,
    upload_id: ObjectId,
    object: ObjectRow,
) -> Result<CompleteOutcome> {
    let ObjectBody::Striped(manifest) = &object.body else {
        return Err(MetaError::Invalid("a completed upload's body must be a striped manifest".into()));
    };
    let wanted: Vec<(u32, ObjectId)> = manifest.parts.iter().map(|p| (p.part_number, p.body)).collect();
    let upload = match live_upload(txn, &upload_key) {
        Ok(upload) => upload,
        Err(MetaError::NoSuchUpload) if txn.log_ordered() => {
            // A retried completion that already took effect answers as the
            // first one did, rather than NoSuchUpload.
            let object_key = keys::version_key(partition, object.bucket, &object.key, object.version);
            let stored: Option<ObjectRow> = txn.get(Table::Objects, &object_key)?;
            if stored.is_some_and(|s| s.ts == object.ts) {
                return Ok(CompleteOutcome { applied: true, replaced: None, unused_parts: Vec::new() });
            }
            return Err(MetaError::NoSuchUpload);
        }
        Err(err) => return Err(err),
    };
    let mut parts: BTreeMap<u32, PartRow> =
        take_parts(txn, upload_id)?.into_iter().map(|p| (p.part_number, p)).collect();
    for &(number, body) in &wanted {
        match parts.get(&number) {
            Some(part) if part.body == body => {}
            _ => return Err(MetaError::InvalidPart(number)),
        }
    }
    let ts = object.ts;
    close_upload(txn, upload_key, upload, ts)?;
    let outcome = put_in(txn, partition, object, &PutCondition::Always, EventKind::UploadCompleted)?;
    if outcome.applied {
        for (number, _) in &wanted {
            parts.remove(number);
        }
    }
    Ok(CompleteOutcome {
        applied: outcome.applied,
        replaced: outcome.replaced,
        unused_parts: parts.into_values().collect(),
    })
}

pub(crate) fn abort_in(
    txn: &mut Txn<'_>,
    upload_key: Vec<u8>,
    bucket: ObjectId,
    key: &str,
    upload_id: ObjectId,
    ts: Timestamp,
) -> Result<Vec<PartRow>> {
    if txn.log_ordered()
        && let Some(stored) = txn.get::<UploadRow>(Table::Uploads, &upload_key)?
        && stored.deleted
        && stored.ts == ts
    {
        // This very abort, applied before (a retried proposal).
        return Ok(Vec::new());
    }
    let upload = live_upload(txn, &upload_key)?;
    let parts = take_parts(txn, upload_id)?;
    close_upload(txn, upload_key, upload, ts)?;
    txn.event(EventKind::UploadAborted, ts, bucket, key, 0, "");
    Ok(parts)
}

impl MetaStore {
    /// Starts a multipart upload: a live upload row, counted in the bucket's
    /// `uploads`, and an `UploadCreated` event. `NoSuchBucket` if the bucket
    /// is known and no longer live; `Stale` if a row with that upload id and
    /// a timestamp at or above `row.ts` exists.
    pub fn create_upload(&self, row: UploadRow) -> Result<()> {
        keys::check_object_key(&row.key)?;
        if row.deleted {
            return Err(MetaError::Invalid("a new upload row cannot be a tombstone".into()));
        }
        let key = keys::upload_key(self.index_partition(row.bucket), row.bucket, &row.key, row.upload_id);
        self.submit(move |txn| create_upload_in(txn, key, row))
    }

    /// The live upload `upload_id` of `key` in `bucket`, or `None` if absent,
    /// completed or aborted.
    pub fn get_upload(&self, bucket: ObjectId, key: &str, upload_id: ObjectId) -> Result<Option<UploadRow>> {
        keys::check_object_key(key)?;
        let raw = keys::upload_key(self.index_partition(bucket), bucket, key, upload_id);
        let row: Option<UploadRow> = self.tables.get(Table::Uploads, &raw)?;
        Ok(row.filter(|r| !r.deleted))
    }

    /// Stores an uploaded part of the upload `row.upload_id` of `key` in
    /// `bucket`, replacing any part of the same number, and returns the
    /// replaced part (the caller frees its blobs). `NoSuchUpload` unless the
    /// upload is live — checked in the same mutation, so a part never lands
    /// on an upload that was just completed or aborted.
    pub fn put_part(&self, bucket: ObjectId, key: &str, row: PartRow) -> Result<Option<PartRow>> {
        keys::check_object_key(key)?;
        if row.deleted {
            return Err(MetaError::Invalid("a part row cannot be a tombstone".into()));
        }
        let upload_key = keys::upload_key(self.index_partition(bucket), bucket, key, row.upload_id);
        self.submit(move |txn| put_part_in(txn, &upload_key, row))
    }

    /// Up to `max_parts` parts of an upload with a number above
    /// `after_part`, in part-number order, and whether more exist.
    pub fn list_parts(
        &self,
        upload_id: ObjectId,
        after_part: u32,
        max_parts: usize,
    ) -> Result<(Vec<PartRow>, bool)> {
        let Some(first) = after_part.checked_add(1).filter(|_| max_parts > 0) else {
            return Ok((Vec::new(), false));
        };
        let lower = keys::part_key(upload_id, first);
        let upper = keys::part_key(upload_id, u32::MAX);
        let mut parts = Vec::new();
        for guard in self.tables.parts.range(lower..=upper) {
            let (key, value) = guard.into_inner()?;
            let part: PartRow = codec::decode(&value)?;
            if keys::part_number_of(&key)? != part.part_number {
                return Err(MetaError::Corrupt(format!(
                    "part row {} filed under another number",
                    part.part_number
                )));
            }
            if part.deleted {
                continue;
            }
            if parts.len() == max_parts {
                return Ok((parts, true));
            }
            parts.push(part);
        }
        Ok((parts, false))
    }

    /// Completes an upload as one mutation: the upload must be live
    /// (`NoSuchUpload`); every part of `object`'s manifest must match a live
    /// part by part number and body (`InvalidPart(n)`); then the object row
    /// is written as by `put_object` (last writer wins, counters, an
    /// `UploadCompleted` event), the upload becomes a tombstone at
    /// `object.ts`, and every part row is removed. Parts not in the manifest
    /// (or all parts, if a newer object row won) are returned for the caller
    /// to free.
    pub fn complete_upload(
        &self,
        bucket: ObjectId,
        key: &str,
        upload_id: ObjectId,
        object: ObjectRow,
    ) -> Result<CompleteOutcome> {
        crate::objects::check_object_row(&object)?;
        if object.bucket != bucket || object.key != key {
            return Err(MetaError::Invalid(
                "the completed object must be a version of the upload's key".into(),
            ));
        }
        if !matches!(object.body, ObjectBody::Striped(_)) {
            return Err(MetaError::Invalid("a completed upload's body must be a striped manifest".into()));
        }
        let partition = self.index_partition(bucket);
        let upload_key = keys::upload_key(partition, bucket, key, upload_id);
        self.submit(move |txn| complete_in(txn, partition, upload_key, upload_id, object))
    }

    /// Aborts a live upload (`NoSuchUpload` otherwise): the upload becomes a
    /// tombstone at `ts`, its part rows are removed, an `UploadAborted` event
    /// is appended. Returns the parts, whose blobs the caller frees.
    pub fn abort_upload(
        &self,
        bucket: ObjectId,
        key: &str,
        upload_id: ObjectId,
        ts: Timestamp,
    ) -> Result<Vec<PartRow>> {
        keys::check_object_key(key)?;
        let upload_key = keys::upload_key(self.index_partition(bucket), bucket, key, upload_id);
        let key = key.to_owned();
        self.submit(move |txn| abort_in(txn, upload_key, bucket, &key, upload_id, ts))
    }
}
