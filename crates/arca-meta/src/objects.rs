//! Object rows: get, put (with conditions and last writer wins), delete.
//!
//! This module owns what an object write does to the index: which row wins,
//! how the bucket's counters move, and which event it appends — all staged in
//! the same commit. Only S3's null version exists so far; the key layout
//! leaves room for versions (docs/design.md section 5).

use arca_types::{ObjectId, Timestamp};

use crate::rows::{EventKind, ObjectBody, ObjectMeta, ObjectRow, Row};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{MetaError, PutCondition, PutOutcome, Result, keys};

impl MetaStore {
    /// The live null version of `key`, or `None` if absent or deleted.
    pub fn get_object(&self, bucket: ObjectId, key: &str) -> Result<Option<ObjectRow>> {
        keys::check_object_key(key)?;
        let raw = keys::object_key(self.index_partition(bucket), bucket, key);
        let row: Option<ObjectRow> = self.tables.get(Table::Objects, &raw)?;
        Ok(row.filter(|r| !r.deleted))
    }

    /// Stores an object row, if `cond` holds and no newer row is stored.
    ///
    /// `Err(NoSuchBucket)` if the row's bucket is known to this index and no
    /// longer live. The condition is checked against the live row,
    /// atomically with the write: `Err(PreconditionFailed)` if it does not
    /// hold. Then last writer wins: if the stored row (live or tombstone)
    /// has a timestamp at or above `row.ts`, nothing is written and
    /// `applied` is `false`. Otherwise the row, the bucket's counters and an
    /// `ObjectCreated` event are committed together, and the replaced live
    /// row is returned so the caller can free its blobs.
    pub fn put_object(&self, row: ObjectRow, cond: PutCondition) -> Result<PutOutcome> {
        check_object_row(&row)?;
        let partition = self.index_partition(row.bucket);
        self.submit(move |txn| put_in(txn, partition, row, &cond, EventKind::ObjectCreated))
    }

    /// [`put_object`](Self::put_object) for async callers: queued at the
    /// call, resolved when durable, no thread blocked meanwhile.
    pub fn put_object_async(
        &self,
        row: ObjectRow,
        cond: PutCondition,
    ) -> impl Future<Output = Result<PutOutcome>> + Send + 'static {
        let partition = self.index_partition(row.bucket);
        let put = check_object_row(&row).map(|()| {
            self.submit_async(move |txn| put_in(txn, partition, row, &cond, EventKind::ObjectCreated))
        });
        async move { put?.await }
    }

    /// Stores many rows as one mutation (one commit, one sync): the bulk
    /// path for loading and catch-up. Each row is handled exactly as
    /// [`put_object`](Self::put_object) with `PutCondition::Always`, in order;
    /// the outcomes are in the same order.
    pub fn put_objects(&self, rows: Vec<ObjectRow>) -> Result<Vec<PutOutcome>> {
        let mut placed = Vec::with_capacity(rows.len());
        for row in rows {
            check_object_row(&row)?;
            placed.push((self.index_partition(row.bucket), row));
        }
        self.submit(move |txn| {
            placed
                .into_iter()
                .map(|(partition, row)| {
                    put_in(txn, partition, row, &PutCondition::Always, EventKind::ObjectCreated)
                })
                .collect()
        })
    }

    /// Deletes the null version of `key` by writing a tombstone at `ts`.
    ///
    /// Returns the live row it deleted (the caller frees its blobs), or
    /// `None` if there was none. If the stored row is newer than `ts`,
    /// nothing is written and `None` is returned. A tombstone is written
    /// even when the key is absent, so a replica that has not yet seen an
    /// older put still learns of the delete; every applied delete appends an
    /// `ObjectRemoved` event.
    pub fn delete_object(&self, bucket: ObjectId, key: &str, ts: Timestamp) -> Result<Option<ObjectRow>> {
        keys::check_object_key(key)?;
        self.submit(delete_job(self.index_partition(bucket), bucket, key.to_owned(), ts))
    }

    /// [`delete_object`](Self::delete_object) for async callers: queued at
    /// the call, resolved when durable, no thread blocked meanwhile.
    pub fn delete_object_async(
        &self,
        bucket: ObjectId,
        key: &str,
        ts: Timestamp,
    ) -> impl Future<Output = Result<Option<ObjectRow>>> + Send + 'static {
        let partition = self.index_partition(bucket);
        let delete = keys::check_object_key(key)
            .map(|()| self.submit_async(delete_job(partition, bucket, key.to_owned(), ts)));
        async move { delete?.await }
    }
}

/// The mutation of a delete: a tombstone, written as any row is.
fn delete_job(
    partition: u32,
    bucket: ObjectId,
    key: String,
    ts: Timestamp,
) -> impl FnOnce(&mut Txn<'_>) -> Result<Option<ObjectRow>> + Send + 'static {
    move |txn| delete_in(txn, partition, bucket, key, ts)
}

pub(crate) fn delete_in(
    txn: &mut Txn<'_>,
    partition: u32,
    bucket: ObjectId,
    key: String,
    ts: Timestamp,
) -> Result<Option<ObjectRow>> {
    let tombstone = ObjectRow {
        bucket,
        key,
        version: None,
        ts,
        deleted: true,
        meta: ObjectMeta::default(),
        body: ObjectBody::default(),
    };
    let outcome = put_in(txn, partition, tombstone, &PutCondition::Always, EventKind::ObjectRemoved)?;
    Ok(outcome.replaced)
}

pub(crate) fn check_object_row(row: &ObjectRow) -> Result<()> {
    keys::check_object_key(&row.key)?;
    if row.version.is_some() {
        return Err(MetaError::Invalid("object versions are not supported yet".into()));
    }
    if row.deleted {
        return Err(MetaError::Invalid("write a tombstone with delete_object".into()));
    }
    Ok(())
}

fn etag_matches(stored: &str, wanted: &str) -> bool {
    let trim = |s: &str| s.trim().trim_matches('"').to_owned();
    wanted.trim() == "*" || trim(stored) == trim(wanted)
}

/// Writes an object row or tombstone inside a mutation: condition, last
/// writer wins, counters, event. Shared by put, delete and completing an
/// upload (`kind` is the event it appends).
pub(crate) fn put_in(
    txn: &mut Txn<'_>,
    partition: u32,
    row: ObjectRow,
    cond: &PutCondition,
    kind: EventKind,
) -> Result<PutOutcome> {
    if !row.deleted {
        txn.check_bucket_live(row.bucket)?;
    }
    let key = keys::object_key(partition, row.bucket, &row.key);
    let stored: Option<ObjectRow> = txn.get(Table::Objects, &key)?;
    if txn.log_ordered() && stored.as_ref().is_some_and(|s| s.ts == row.ts && s.deleted == row.deleted) {
        // This very write, applied before: a proposal retried after its
        // outcome was lost (timestamps are unique per write). Applying it
        // again would fail its own condition or count it twice.
        return Ok(PutOutcome { applied: true, replaced: None });
    }
    let live = stored.as_ref().filter(|r| !r.deleted);
    match cond {
        PutCondition::Always => {}
        PutCondition::IfAbsent if live.is_some() => return Err(MetaError::PreconditionFailed),
        PutCondition::IfAbsent => {}
        PutCondition::IfEtag(etag) => match live {
            Some(live) if etag_matches(&live.meta.etag, etag) => {}
            _ => return Err(MetaError::PreconditionFailed),
        },
    }
    // Last writer wins, unless a Raft log orders the writes.
    if let Some(stored) = &stored
        && stored.timestamp() >= row.ts
        && !txn.log_ordered()
    {
        return Ok(PutOutcome { applied: false, replaced: None });
    }
    let replaced = stored.filter(|r| !r.deleted);
    let (old_objects, old_bytes) = replaced.as_ref().map_or((0, 0), |r| (1, i128::from(r.meta.size)));
    let (new_objects, new_bytes) = if row.deleted { (0, 0) } else { (1, i128::from(row.meta.size)) };
    txn.count(row.bucket, new_objects - old_objects, new_bytes - old_bytes, 0);
    let (size, etag) = match (&replaced, row.deleted) {
        (_, false) => (row.meta.size, row.meta.etag.as_str()),
        (Some(old), true) => (old.meta.size, old.meta.etag.as_str()),
        (None, true) => (0, ""),
    };
    txn.event(kind, row.ts, row.bucket, &row.key, size, etag);
    txn.put(Table::Objects, key, &row)?;
    Ok(PutOutcome { applied: true, replaced })
}
