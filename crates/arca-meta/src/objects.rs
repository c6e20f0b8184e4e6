//! Object rows: get, put (with conditions and last writer wins), delete.
//!
//! This module owns what an object write does to the index: which row wins,
//! how the bucket's counters move, and which event it appends — all staged in
//! the same commit.
//!
//! Versions (docs/design.md section 5.2): a key's null version sits at the
//! all-zero suffix, its other versions after it at [`keys::version_of`]
//! their timestamps, newest first. The current version is the newer of the
//! live null row and the first other row, so finding it reads at most two
//! rows; a delete marker is a version whose `meta.delete_marker` is set.

use arca_types::{ObjectId, Timestamp};

use crate::raft::VersionChange;
use crate::rows::{EventKind, LockMode, ObjectBody, ObjectMeta, ObjectRow, Row};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{MetaError, PutCondition, PutOutcome, Result, codec, keys};

impl MetaStore {
    /// The live null version of `key` (possibly a delete marker), or `None`
    /// if absent or deleted. In an unversioned bucket it is the object.
    pub fn get_object(&self, bucket: ObjectId, key: &str) -> Result<Option<ObjectRow>> {
        self.get_version(bucket, key, None)
    }

    /// One version of `key` (`None`: the null version), if stored and not
    /// a tombstone; delete markers included.
    pub fn get_version(
        &self,
        bucket: ObjectId,
        key: &str,
        version: Option<ObjectId>,
    ) -> Result<Option<ObjectRow>> {
        keys::check_object_key(key)?;
        let raw = keys::version_key(self.index_partition(bucket), bucket, key, version);
        let row: Option<ObjectRow> = self.tables.get(Table::Objects, &raw)?;
        Ok(row.filter(|r| !r.deleted))
    }

    /// The current version of `key` in a bucket that may hold versions
    /// (possibly a delete marker), or `None` if it has no live version.
    pub fn get_current(&self, bucket: ObjectId, key: &str) -> Result<Option<ObjectRow>> {
        keys::check_object_key(key)?;
        let partition = self.index_partition(bucket);
        let null = self.get_version(bucket, key, None)?;
        let (from, to) = keys::versions_range(&keys::bucket_prefix(partition, bucket), key);
        let newest = match self.tables.objects.range(from..to).next() {
            Some(guard) => Some(codec::decode::<ObjectRow>(&guard.value()?)?),
            None => None,
        };
        Ok(newer(null, newest))
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

    /// Removes one version of `key` for good (`None`: the null version,
    /// which becomes a tombstone). Returns the row it removed, or `None` if
    /// there was none.
    pub fn delete_version(
        &self,
        bucket: ObjectId,
        key: &str,
        version: Option<ObjectId>,
        ts: Timestamp,
    ) -> Result<Option<ObjectRow>> {
        keys::check_object_key(key)?;
        let (partition, key) = (self.index_partition(bucket), key.to_owned());
        self.submit(move |txn| delete_version_in(txn, partition, bucket, key, version, ts, false))
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
    delete_null_in(txn, partition, bucket, key, ts, false)
}

fn delete_null_in(
    txn: &mut Txn<'_>,
    partition: u32,
    bucket: ObjectId,
    key: String,
    ts: Timestamp,
    bypass_governance: bool,
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
    let outcome = put_locked_in(
        txn,
        partition,
        tombstone,
        &PutCondition::Always,
        EventKind::ObjectRemoved,
        bypass_governance,
    )?;
    Ok(outcome.replaced)
}

/// Removes a version other than the null one (the null one gets a
/// tombstone, as any delete of it does).
pub(crate) fn delete_version_in(
    txn: &mut Txn<'_>,
    partition: u32,
    bucket: ObjectId,
    key: String,
    version: Option<ObjectId>,
    ts: Timestamp,
    bypass_governance: bool,
) -> Result<Option<ObjectRow>> {
    let raw = keys::version_key(partition, bucket, &key, version);
    // Absent: never written, or removed before (a retried proposal).
    let Some(stored) = txn.get::<ObjectRow>(Table::Objects, &raw)?.filter(|r| !r.deleted) else {
        return Ok(None);
    };
    check_unlocked(&stored, ts, bypass_governance)?;
    if version.is_none() {
        return delete_null_in(txn, partition, bucket, key, ts, bypass_governance);
    }
    txn.count(bucket, -1, -i128::from(stored.meta.size), 0);
    txn.event(EventKind::ObjectRemoved, ts, bucket, &key, stored.meta.size, &stored.meta.etag);
    txn.remove(Table::Objects, raw);
    Ok(Some(stored))
}

/// Changes the version row at `raw` in place; it must still be the live row
/// written at `ts`. No timestamp, counter or body changes.
pub(crate) fn update_version_in(
    txn: &mut Txn<'_>,
    raw: Vec<u8>,
    ts: Timestamp,
    change: VersionChange,
) -> Result<()> {
    let mut row = match txn.get::<ObjectRow>(Table::Objects, &raw)? {
        Some(row) if !row.deleted && row.ts == ts && !row.meta.delete_marker => row,
        _ => return Err(MetaError::PreconditionFailed),
    };
    match change {
        VersionChange::Tags(tags) => row.meta.tags = tags,
        VersionChange::LegalHold(on) => row.meta.legal_hold = on,
        VersionChange::Acl(grants) => row.meta.acl = grants,
        VersionChange::Retention { retention, bypass_governance, now } => {
            if let Some(old) = row.meta.retention.filter(|r| r.until_micros > now.micros) {
                let stricter = retention.is_some_and(|new| {
                    new.until_micros >= old.until_micros
                        && (new.mode == LockMode::Compliance || old.mode == LockMode::Governance)
                });
                let lifted = old.mode == LockMode::Governance && bypass_governance;
                if !stricter && !lifted {
                    return Err(MetaError::Locked(format!(
                        "the version is under {:?} retention until {} µs",
                        old.mode, old.until_micros
                    )));
                }
            }
            row.meta.retention = retention;
        }
    }
    txn.put(Table::Objects, raw, &row)
}

/// Refuses to destroy a version that Object Lock keeps at `now`.
fn check_unlocked(row: &ObjectRow, now: Timestamp, bypass_governance: bool) -> Result<()> {
    if row.meta.legal_hold {
        return Err(MetaError::Locked("the version is under a legal hold".into()));
    }
    if let Some(r) = row.meta.retention
        && r.until_micros > now.micros
        && (r.mode == LockMode::Compliance || !bypass_governance)
    {
        return Err(MetaError::Locked(format!("the version is under {:?} retention", r.mode)));
    }
    Ok(())
}

/// Of a key's live null row and its newest other version, the current one.
fn newer(null: Option<ObjectRow>, newest: Option<ObjectRow>) -> Option<ObjectRow> {
    match (null, newest) {
        (Some(n), Some(v)) => Some(if n.ts > v.ts { n } else { v }),
        (n, v) => n.or(v),
    }
}

/// The current version of `key` as a mutation sees it.
fn current_in(txn: &Txn<'_>, partition: u32, bucket: ObjectId, key: &str) -> Result<Option<ObjectRow>> {
    let null: Option<ObjectRow> = txn
        .get::<ObjectRow>(Table::Objects, &keys::version_key(partition, bucket, key, None))?
        .filter(|r| !r.deleted);
    let (from, to) = keys::versions_range(&keys::bucket_prefix(partition, bucket), key);
    let newest = match txn.first_in(Table::Objects, &from, &to)? {
        Some((_, value)) => Some(codec::decode::<ObjectRow>(&value)?),
        None => None,
    };
    Ok(newer(null, newest))
}

pub(crate) fn check_object_row(row: &ObjectRow) -> Result<()> {
    keys::check_object_key(&row.key)?;
    if let Some(version) = row.version
        && version != keys::version_of(row.ts)
    {
        return Err(MetaError::Invalid("a version id must be version_of its timestamp".into()));
    }
    if row.deleted {
        return Err(MetaError::Invalid("write a tombstone with delete_object".into()));
    }
    if row.meta.delete_marker && (row.meta.size != 0 || row.body != ObjectBody::default()) {
        return Err(MetaError::Invalid("a delete marker has no body".into()));
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
    put_locked_in(txn, partition, row, cond, kind, false)
}

/// [`put_in`], where replacing a null version under a GOVERNANCE retention
/// is allowed if `bypass_governance`.
fn put_locked_in(
    txn: &mut Txn<'_>,
    partition: u32,
    row: ObjectRow,
    cond: &PutCondition,
    kind: EventKind,
    bypass_governance: bool,
) -> Result<PutOutcome> {
    if !row.deleted {
        txn.check_bucket_live(row.bucket)?;
    }
    let key = keys::version_key(partition, row.bucket, &row.key, row.version);
    let stored: Option<ObjectRow> = txn.get(Table::Objects, &key)?;
    if txn.log_ordered() && stored.as_ref().is_some_and(|s| s.ts == row.ts && s.deleted == row.deleted) {
        // This very write, applied before: a proposal retried after its
        // outcome was lost (timestamps are unique per write). Applying it
        // again would fail its own condition or count it twice.
        return Ok(PutOutcome { applied: true, replaced: None });
    }
    if *cond != PutCondition::Always {
        // Conditions hold on the current version; a delete marker is no
        // object.
        let current = current_in(txn, partition, row.bucket, &row.key)?.filter(|r| !r.meta.delete_marker);
        match cond {
            PutCondition::IfAbsent if current.is_some() => return Err(MetaError::PreconditionFailed),
            PutCondition::IfEtag(etag) => match current {
                Some(live) if etag_matches(&live.meta.etag, etag) => {}
                _ => return Err(MetaError::PreconditionFailed),
            },
            _ => {}
        }
    }
    // Last writer wins, unless a Raft log orders the writes.
    if let Some(stored) = &stored
        && stored.timestamp() >= row.ts
        && !txn.log_ordered()
    {
        return Ok(PutOutcome { applied: false, replaced: None });
    }
    let replaced = stored.filter(|r| !r.deleted);
    if let Some(old) = &replaced {
        // Replacing the null version destroys it: Object Lock must allow it.
        check_unlocked(old, row.ts, bypass_governance)?;
    }
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
