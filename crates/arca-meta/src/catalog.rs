//! The catalog: buckets (by name) and access keys (by access key id).
//!
//! This module owns the rules of catalog writes: a name is taken by at most
//! one live bucket, a bucket is deleted only when it holds no live object and
//! no live upload (checked against its counters in the same mutation), and a
//! write older than the stored row is refused with `Stale` rather than
//! silently dropped. Bucket writes append events; key writes do not (the
//! event log must not carry secrets).

use arca_types::{ObjectId, Timestamp};

use crate::rows::{BucketRow, BucketStats, EventKind, KeyRow, Row};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{MetaError, Result, codec, keys};

/// Last writer wins refuses a write that is not newer than the stored row.
/// Writes ordered by a Raft log are applied in log order instead, whatever
/// the clocks of the gateways that stamped them.
fn refuse_if_not_newer(txn: &Txn<'_>, stored: Option<&impl Row>, ts: Timestamp) -> Result<()> {
    match stored {
        Some(stored) if stored.timestamp() >= ts && !txn.log_ordered() => {
            Err(MetaError::Stale { stored: stored.timestamp() })
        }
        _ => Ok(()),
    }
}

pub(crate) fn create_bucket_in(txn: &mut Txn<'_>, row: BucketRow) -> Result<()> {
    let key = row.name.as_bytes().to_vec();
    let stored: Option<BucketRow> = txn.get(Table::Buckets, &key)?;
    if let Some(live) = stored.as_ref().filter(|r| !r.deleted) {
        if txn.log_ordered() && live.id == row.id {
            // The same creation applied twice (a retried proposal).
            return Ok(());
        }
        return Err(MetaError::BucketExists(Box::new(live.clone())));
    }
    refuse_if_not_newer(txn, stored.as_ref(), row.ts)?;
    txn.name_bucket(row.id, &row.name);
    txn.event(EventKind::BucketCreated, row.ts, row.id, "", 0, "");
    txn.put(Table::Buckets, key, &row)
}

pub(crate) fn update_bucket_in(txn: &mut Txn<'_>, row: BucketRow) -> Result<()> {
    let key = row.name.as_bytes().to_vec();
    let stored: Option<BucketRow> = txn.get(Table::Buckets, &key)?;
    match stored.as_ref().filter(|r| !r.deleted) {
        Some(live) if live.id == row.id => {}
        _ => return Err(MetaError::NoSuchBucket),
    }
    refuse_if_not_newer(txn, stored.as_ref(), row.ts)?;
    txn.event(EventKind::BucketUpdated, row.ts, row.id, "", 0, "");
    txn.put(Table::Buckets, key, &row)
}

/// Tombstones the live bucket `name` (of id `id`, when given). With
/// `check_empty`, refuses a bucket whose counters show live objects or
/// uploads (a cluster checks emptiness in the bucket's index range
/// instead, which is where its counters are).
pub(crate) fn delete_bucket_in(
    txn: &mut Txn<'_>,
    name: &str,
    id: Option<ObjectId>,
    ts: Timestamp,
    check_empty: bool,
) -> Result<BucketRow> {
    let key = name.as_bytes().to_vec();
    let live = match txn.get::<BucketRow>(Table::Buckets, &key)? {
        Some(row) if !row.deleted && id.is_none_or(|id| id == row.id) => row,
        // This very deletion, applied before (a retried proposal).
        Some(row) if row.deleted && row.ts == ts && txn.log_ordered() => {
            return Ok(BucketRow { deleted: false, ..row });
        }
        _ => return Err(MetaError::NoSuchBucket),
    };
    refuse_if_not_newer(txn, Some(&live), ts)?;
    if check_empty {
        let stats: BucketStats = txn.get(Table::Counters, &keys::counter_key(live.id))?.unwrap_or_default();
        if stats.objects > 0 || stats.uploads > 0 {
            return Err(MetaError::BucketNotEmpty);
        }
    }
    let tombstone = BucketRow { ts, deleted: true, grants: Vec::new(), ..live.clone() };
    txn.event(EventKind::BucketRemoved, ts, live.id, "", 0, "");
    txn.put(Table::Buckets, key, &tombstone)?;
    Ok(live)
}

pub(crate) fn put_key_in(txn: &mut Txn<'_>, row: KeyRow) -> Result<()> {
    let key = row.access_key.as_bytes().to_vec();
    let stored: Option<KeyRow> = txn.get(Table::Keys, &key)?;
    refuse_if_not_newer(txn, stored.as_ref(), row.ts)?;
    txn.put(Table::Keys, key, &row)
}

pub(crate) fn delete_key_in(txn: &mut Txn<'_>, access_key: &str, ts: Timestamp) -> Result<bool> {
    let key = access_key.as_bytes().to_vec();
    let live = match txn.get::<KeyRow>(Table::Keys, &key)? {
        Some(row) if !row.deleted => row,
        // This very deletion, applied before (a retried proposal).
        Some(row) if row.ts == ts && txn.log_ordered() => return Ok(true),
        _ => return Ok(false),
    };
    refuse_if_not_newer(txn, Some(&live), ts)?;
    let tombstone = KeyRow { secret_key: String::new(), ts, deleted: true, ..live };
    txn.put(Table::Keys, key, &tombstone)?;
    Ok(true)
}

impl MetaStore {
    /// The live bucket named `name`, or `None` if absent or deleted.
    pub fn get_bucket(&self, name: &str) -> Result<Option<BucketRow>> {
        if keys::check_name(name).is_err() {
            return Ok(None);
        }
        let row: Option<BucketRow> = self.tables.get(Table::Buckets, name.as_bytes())?;
        Ok(row.filter(|r| !r.deleted))
    }

    /// Every live bucket, by name.
    pub fn list_buckets(&self) -> Result<Vec<BucketRow>> {
        let mut out = Vec::new();
        for guard in self.tables.buckets.iter() {
            let (_, value) = guard.into_inner()?;
            let row: BucketRow = codec::decode(&value)?;
            if !row.deleted {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Creates a bucket: `Err(BucketExists(live row))` if the name is taken,
    /// `Err(Stale)` if a newer tombstone of the name is stored.
    pub fn create_bucket(&self, row: BucketRow) -> Result<()> {
        keys::check_name(&row.name)?;
        if row.deleted {
            return Err(MetaError::Invalid("a new bucket row cannot be a tombstone".into()));
        }
        self.submit(move |txn| create_bucket_in(txn, row))
    }

    /// Replaces a live bucket's row (grants, ...): `NoSuchBucket` unless a
    /// live bucket of that name and id exists, `Stale` unless `row.ts` is
    /// newer than the stored row.
    pub fn update_bucket(&self, row: BucketRow) -> Result<()> {
        keys::check_name(&row.name)?;
        if row.deleted {
            return Err(MetaError::Invalid("use delete_bucket to delete a bucket".into()));
        }
        self.submit(move |txn| update_bucket_in(txn, row))
    }

    /// Deletes a bucket by writing a tombstone at `ts`, and returns the row
    /// it deleted. `NoSuchBucket` if there is no live bucket of that name;
    /// `BucketNotEmpty` if it holds live objects or live uploads — checked
    /// in the same mutation, so no put can slip in between.
    pub fn delete_bucket(&self, name: &str, ts: Timestamp) -> Result<BucketRow> {
        let name = name.to_owned();
        self.submit(move |txn| delete_bucket_in(txn, &name, None, ts, true))
    }

    /// The live access key `access_key`, or `None`.
    pub fn get_key(&self, access_key: &str) -> Result<Option<KeyRow>> {
        if keys::check_name(access_key).is_err() {
            return Ok(None);
        }
        let row: Option<KeyRow> = self.tables.get(Table::Keys, access_key.as_bytes())?;
        Ok(row.filter(|r| !r.deleted))
    }

    /// Every live access key, by access key id.
    pub fn list_keys(&self) -> Result<Vec<KeyRow>> {
        let mut out = Vec::new();
        for guard in self.tables.keys.iter() {
            let (_, value) = guard.into_inner()?;
            let row: KeyRow = codec::decode(&value)?;
            if !row.deleted {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Creates or replaces an access key (last writer wins; `Stale` if the
    /// stored row is not older).
    pub fn put_key(&self, row: KeyRow) -> Result<()> {
        keys::check_name(&row.access_key)?;
        if row.deleted {
            return Err(MetaError::Invalid("use delete_key to delete a key".into()));
        }
        self.submit(move |txn| put_key_in(txn, row))
    }

    /// Deletes an access key by writing a tombstone (without its secret) at
    /// `ts`. `Ok(false)` if there was no live key of that id.
    pub fn delete_key(&self, access_key: &str, ts: Timestamp) -> Result<bool> {
        let access_key = access_key.to_owned();
        self.submit(move |txn| delete_key_in(txn, &access_key, ts))
    }
}
