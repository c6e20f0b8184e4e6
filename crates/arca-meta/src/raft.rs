//! Storage for Raft groups: their logs, their votes, and the state machines
//! they drive — the catalog and the bucket index ranges.
//!
//! Every group of a node keeps its log in this node's one fjall database,
//! beside the rows it governs, so one journal and one group commit serve
//! every group's appends and applies (CLUSTER-NOTES: "keep all groups' logs
//! and state in the node's one fjall"). The consensus layer (arca-cluster,
//! on openraft) encodes log entries, votes and log ids itself; here they are
//! opaque bytes.
//!
//! - Log appends, truncations and votes are fdatasync'ed before they return:
//!   Raft counts them as promises to other nodes.
//! - Applies are committed without a sync: the entries they apply are
//!   already durable in the log, and the journal is written in order, so a
//!   crash can only lose applies that the group re-applies at restart. Each
//!   apply batch writes the rows and the group's `applied` marker in one
//!   fjall batch, so rows and marker never disagree.
//! - A state machine's entries are applied in log order, not by timestamp
//!   (`Txn::apply_for`); a retried proposal that already took effect is
//!   recognised by its write's unique timestamp and answered as the first
//!   time.
//!
//! Tables: `raft_log` (group u64 BE ‖ index u64 BE → entry), `raft_meta`
//! (group u64 BE ‖ tag u8 → value), `groups` (group u64 BE → [`GroupState`]),
//! and `cluster` (the catalog's own rows: ring, members, index ranges;
//! opaque keys and values chosen by the cluster layer).

use std::io::{Read, Write};

use arca_types::{ObjectId, Timestamp};
use fjall::Readable;
use serde::{Deserialize, Serialize};

use crate::ranges::{KeyRange, RangeDesc, Split};
use crate::rows::{AclGrant, BucketRow, BucketStats, KeyRow, ObjectRow, PartRow, Retention, UploadRow};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{
    CompleteOutcome, MetaError, PutCondition, PutOutcome, Result, catalog, codec, keys, multipart, objects,
};

/// The catalog's group id; every other group is an index range.
pub const CATALOG_GROUP: u64 = 0;

/// What a group's state machine has applied, stored with its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The bucket whose index range the group holds (`None` for the
    /// catalog).
    pub bucket: Option<ObjectId>,
    /// The last applied log id, as the consensus layer encodes it.
    pub applied: Option<Vec<u8>>,
    /// The last applied membership, as the consensus layer encodes it.
    pub membership: Option<Vec<u8>>,
    /// DeleteBucket closed the range: nothing may be added to it.
    pub closed: bool,
    /// A snapshot is being installed; found at open, the rows of `range`
    /// are wiped and the group starts over empty. While installing,
    /// `range` is the hull of the old and the new bounds.
    pub installing: bool,
    /// The object keys the range holds (the whole bucket until it splits).
    pub range: KeyRange,
    /// Bumped by every split of the range.
    pub epoch: u64,
}

/// Tags of a group's `raft_meta` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RaftMeta {
    Vote = 1,
    Committed = 2,
    Purged = 3,
}

fn log_key(group: u64, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&group.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn index_of(key: &[u8]) -> Result<u64> {
    key.get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| MetaError::Corrupt("malformed Raft log key".into()))
}

pub(crate) fn meta_key(group: u64, tag: RaftMeta) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&group.to_be_bytes());
    key[8] = tag as u8;
    key
}

/// A change to one object index range, as its Raft log carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexCommand {
    PutObject {
        row: ObjectRow,
        condition: PutCondition,
    },
    DeleteObject {
        bucket: ObjectId,
        key: String,
        ts: Timestamp,
    },
    CreateUpload {
        row: UploadRow,
    },
    PutPart {
        bucket: ObjectId,
        key: String,
        row: PartRow,
    },
    CompleteUpload {
        bucket: ObjectId,
        key: String,
        upload_id: ObjectId,
        row: ObjectRow,
    },
    AbortUpload {
        bucket: ObjectId,
        key: String,
        upload_id: ObjectId,
        ts: Timestamp,
    },
    /// DeleteBucket's first step: refuses (`BucketNotEmpty`) unless the
    /// range holds no live object, then aborts its uploads in progress and
    /// closes it.
    Close {
        bucket: ObjectId,
    },
    /// Undoes `Close` when the catalog refused the deletion.
    Reopen {
        bucket: ObjectId,
    },
    // New commands go last: postcard encodes a variant as its index.
    /// Removes one version for good (`None`: tombstones the null version),
    /// unless Object Lock keeps it (`Locked`); `bypass_governance` lifts a
    /// GOVERNANCE retention.
    DeleteVersion {
        bucket: ObjectId,
        key: String,
        version: Option<ObjectId>,
        ts: Timestamp,
        bypass_governance: bool,
    },
    /// Changes one version's tags or lock in place, if it is still the row
    /// written at `ts` (else `PreconditionFailed`).
    UpdateVersion {
        bucket: ObjectId,
        key: String,
        version: Option<ObjectId>,
        ts: Timestamp,
        change: VersionChange,
    },
    /// Cuts the range in two at an object key: the range keeps the keys
    /// below it, a new group the rest (crate::ranges).
    Split(Split),
    /// Many unconditional puts in one entry (a bulk load through the
    /// index's own write path); every key must be in the range.
    PutObjects {
        bucket: ObjectId,
        rows: Vec<ObjectRow>,
    },
}

impl IndexCommand {
    /// The object key the command writes, which must be in the range's
    /// bounds (`None`: a command on the whole range).
    pub fn key(&self) -> Option<&str> {
        match self {
            IndexCommand::PutObject { row, .. } => Some(&row.key),
            IndexCommand::CreateUpload { row } => Some(&row.key),
            IndexCommand::DeleteObject { key, .. }
            | IndexCommand::PutPart { key, .. }
            | IndexCommand::CompleteUpload { key, .. }
            | IndexCommand::AbortUpload { key, .. }
            | IndexCommand::DeleteVersion { key, .. }
            | IndexCommand::UpdateVersion { key, .. } => Some(key),
            IndexCommand::Close { .. }
            | IndexCommand::Reopen { .. }
            | IndexCommand::Split(_)
            | IndexCommand::PutObjects { .. } => None,
        }
    }
}

/// An in-place change to one version (S3's object sub-resources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersionChange {
    Tags(Vec<(String, String)>),
    /// PutObjectRetention at `now`: a retention in force may only be made
    /// stricter (same or COMPLIANCE mode, a later end), unless it is
    /// GOVERNANCE and `bypass_governance` is set.
    Retention {
        retention: Option<Retention>,
        bypass_governance: bool,
        now: Timestamp,
    },
    LegalHold(bool),
    /// PutObjectAcl: the grants beyond the owner's.
    Acl(Vec<AclGrant>),
}

/// What an index command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexOutcome {
    Put(PutOutcome),
    /// The live row a delete replaced.
    Deleted(Option<ObjectRow>),
    UploadCreated,
    /// The part a new part replaced.
    Part(Option<PartRow>),
    Completed(CompleteOutcome),
    /// The parts of an aborted upload.
    Aborted(Vec<PartRow>),
    /// The bounds of the range that closed.
    Closed(KeyRange),
    Reopened,
    Updated,
    Split,
    /// How many rows of a bulk load took effect.
    Loaded(u64),
}

/// A change to the catalog, as its Raft log carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogCommand {
    /// Creates a bucket and, in the same step, writes `cluster` rows (its
    /// index range).
    CreateBucket {
        row: BucketRow,
        cluster: Vec<(Vec<u8>, Vec<u8>)>,
    },
    UpdateBucket {
        row: BucketRow,
    },
    /// Tombstones the live bucket `name` if it still has id `id`, and
    /// removes `cluster` rows (its index range). Emptiness was checked by
    /// closing the range.
    DeleteBucket {
        name: String,
        id: ObjectId,
        ts: Timestamp,
        cluster: Vec<Vec<u8>>,
    },
    PutKey {
        row: KeyRow,
    },
    DeleteKey {
        access_key: String,
        ts: Timestamp,
    },
    /// Makes `row` the root key and deletes every other root key.
    SetRootKey {
        row: KeyRow,
    },
    PutCluster {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    RemoveCluster {
        key: Vec<u8>,
    },
    /// Compare and set: writes `value` only if the row now holds `expect`
    /// (`None`: absent), else `PreconditionFailed`; removes `remove` and
    /// writes `put` in the same step.
    SwapCluster {
        key: Vec<u8>,
        expect: Option<Vec<u8>>,
        value: Vec<u8>,
        remove: Vec<Vec<u8>>,
        put: Vec<(Vec<u8>, Vec<u8>)>,
    },
    // New commands go last: postcard encodes a variant as its index.
    /// `UpdateBucket` if the live bucket is still the row written at
    /// `expect` (else `PreconditionFailed`): a read-modify-write of one
    /// setting never drops another's concurrent change.
    UpdateBucketIf {
        row: BucketRow,
        expect: Timestamp,
    },
    /// Records a range in the map (crate::ranges::put_range_in): the
    /// bounds a split gave it, written by the range's leader.
    PutRange {
        name: String,
        desc: RangeDesc,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogOutcome {
    Done,
    /// The bucket a deletion removed.
    Bucket(Box<BucketRow>),
    /// Whether a deleted key existed.
    KeyDeleted(bool),
}

/// One log entry for a state machine: a command, a membership change, or
/// nothing (a leader's blank entry).
pub enum ApplyItem<C> {
    Command(C),
    Membership(Vec<u8>),
    Blank,
}

/// Each applied item's result: `None` for memberships and blanks.
pub type Applied<T> = Vec<Option<Result<T>>>;

type Mutation<R> = Box<dyn FnOnce(&mut Txn<'_>) -> Result<R> + Send>;

/// The ranges other groups of `bucket` hold on this node (of epoch
/// `min_epoch` or later, if given): rows a group's wipe or snapshot
/// install must not touch. A replica that missed a split, or a snapshot
/// built before one, spans rows that a split's half running here owns;
/// that half's epoch is the greater, as every split raises it. A group's
/// own state of a lower epoch is stale where it overlaps, and yields.
fn ranges_held_by_others(
    store: &MetaStore,
    group: u64,
    bucket: ObjectId,
    min_epoch: Option<u64>,
) -> Result<Vec<KeyRange>> {
    Ok(store
        .groups()?
        .into_iter()
        .filter(|(other, state)| {
            *other != group
                && state.bucket == Some(bucket)
                && (state.membership.is_some() || state.installing)
                && min_epoch.is_none_or(|epoch| state.epoch >= epoch)
        })
        .map(|(_, state)| state.range)
        .collect())
}

/// One snapshot install at a time on a node: each decides which rows are
/// its own by the states of the others.
static INSTALLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Removes every row of one range of a bucket's index (objects, uploads
/// and their parts, counters) in batches, except where one of `others`
/// holds them; the group's state is left alone.
fn wipe_range_rows(store: &MetaStore, bucket: ObjectId, range: &KeyRange, others: &[KeyRange]) -> Result<()> {
    const BATCH: usize = 1000;
    let head = keys::bucket_prefix(store.index_partition(bucket), bucket);
    let mut removals: Vec<(Table, Vec<u8>)> = Vec::new();
    for piece in range.minus(others) {
        let (lower, upper) = piece.row_bounds(&head);
        for guard in store.tables.uploads.range(lower.as_slice()..upper.as_slice()) {
            let (key, value) = guard.into_inner()?;
            let upload: UploadRow = codec::decode(&value)?;
            for part in store.tables.parts.prefix(upload.upload_id.as_bytes()) {
                removals.push((Table::Parts, part.key()?.to_vec()));
            }
            removals.push((Table::Uploads, key.to_vec()));
        }
        for guard in store.tables.objects.range(lower.as_slice()..upper.as_slice()) {
            removals.push((Table::Objects, guard.key()?.to_vec()));
        }
    }
    // The counters of the range starting here, unless another range here
    // starts at the same key (it is that range's).
    if !others.iter().any(|r| r.start == range.start) {
        removals.push((Table::Counters, crate::ranges::range_counter_key(bucket, &range.start)));
    }
    for chunk in removals.chunks(BATCH) {
        let chunk = chunk.to_vec();
        store.submit_unsynced(move |txn| {
            for (table, key) in chunk {
                txn.remove(table, key);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Removes the rows of `group`, a range of `bucket` with bounds `range`,
/// that no other range on this node holds.
fn wipe_group_rows(store: &MetaStore, group: u64, bucket: ObjectId, range: &KeyRange) -> Result<()> {
    wipe_range_rows(store, bucket, range, &ranges_held_by_others(store, group, bucket, None)?)
}

impl MetaStore {
    /// Commits one unsynced mutation (bulk removals of re-creatable state).
    fn submit_unsynced<R, F>(&self, mutation: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        let future = self.submit_all_async(vec![mutation], false);
        futures::executor::block_on(future)?.pop().unwrap_or(Err(MetaError::Closed))
    }

    /// At open: a group whose snapshot install was cut short by a crash
    /// holds an unknown mix of old and new rows. They are wiped, with its
    /// log (kept entries could not be applied to nothing), and the group
    /// starts over as an empty member its leader sends a snapshot to. The
    /// vote is kept: a vote, once given, must never be forgotten.
    pub(crate) fn finish_interrupted_installs(&self) -> Result<Vec<u64>> {
        let mut wiped = Vec::new();
        for (group, state) in self.groups()? {
            if !state.installing {
                continue;
            }
            // Only ranges are installed in steps (the catalog's snapshot is
            // one batch), so only a range can be found half installed.
            if let Some(bucket) = state.bucket {
                wipe_group_rows(self, group, bucket, &state.range)?;
            }
            let entries = self.raft_entries(group, 0, u64::MAX)?;
            let fresh = GroupState {
                bucket: state.bucket,
                range: state.range.clone(),
                epoch: state.epoch,
                ..GroupState::default()
            };
            self.submit(move |txn| {
                for (index, _) in entries {
                    txn.remove(Table::RaftLog, log_key(group, index).to_vec());
                }
                txn.remove(Table::RaftMeta, meta_key(group, RaftMeta::Committed).to_vec());
                txn.remove(Table::RaftMeta, meta_key(group, RaftMeta::Purged).to_vec());
                txn.put(Table::Groups, group.to_be_bytes().to_vec(), &fresh)
            })?;
            wiped.push(group);
        }
        Ok(wiped)
    }

    // ---- the log -------------------------------------------------------

    /// Entries `[from, to)` of a group's log, in order.
    pub fn raft_entries(&self, group: u64, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for guard in self.tables.raft_log.range(log_key(group, from)..log_key(group, to)) {
            let (key, value) = guard.into_inner()?;
            out.push((index_of(&key)?, value.to_vec()));
        }
        Ok(out)
    }

    /// The last entry of a group's log.
    pub fn raft_last_entry(&self, group: u64) -> Result<Option<(u64, Vec<u8>)>> {
        let range = log_key(group, 0)..=log_key(group, u64::MAX);
        match self.tables.raft_log.range(range).next_back() {
            Some(guard) => {
                let (key, value) = guard.into_inner()?;
                Ok(Some((index_of(&key)?, value.to_vec())))
            }
            None => Ok(None),
        }
    }

    pub fn raft_meta(&self, group: u64, tag: RaftMeta) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.raft_meta.get(meta_key(group, tag))?.map(|v| v.to_vec()))
    }

    /// Appends entries to a group's log; resolves once they are durable.
    pub fn raft_append(
        &self,
        group: u64,
        entries: Vec<(u64, Vec<u8>)>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let mutation = move |txn: &mut Txn<'_>| {
            for (index, entry) in entries {
                txn.put_raw(Table::RaftLog, log_key(group, index).to_vec(), entry);
            }
            Ok(())
        };
        let future = self.submit_all_async(vec![mutation], true);
        async move { future.await?.pop().unwrap_or(Err(MetaError::Closed)) }
    }

    /// Writes (or, with `None`, removes) one of a group's Raft values.
    pub fn raft_set_meta(
        &self,
        group: u64,
        tag: RaftMeta,
        value: Option<Vec<u8>>,
        sync: bool,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let mutation = move |txn: &mut Txn<'_>| {
            let key = meta_key(group, tag).to_vec();
            match value {
                Some(value) => txn.put_raw(Table::RaftMeta, key, value),
                None => txn.remove(Table::RaftMeta, key),
            }
            Ok(())
        };
        let future = self.submit_all_async(vec![mutation], sync);
        async move { future.await?.pop().unwrap_or(Err(MetaError::Closed)) }
    }

    /// Removes the entries at `from` and after (a new leader overwrites a
    /// follower's unmatched tail); durable on return.
    pub fn raft_truncate(&self, group: u64, from: u64) -> impl Future<Output = Result<()>> + Send + 'static {
        let mutation = move |txn: &mut Txn<'_>| {
            let to = log_key(group, u64::MAX);
            for key in txn.scan_keys(Table::RaftLog, &log_key(group, from), &to)? {
                txn.remove(Table::RaftLog, key);
            }
            txn.remove(Table::RaftLog, to.to_vec());
            Ok(())
        };
        let future = self.submit_all_async(vec![mutation], true);
        async move { future.await?.pop().unwrap_or(Err(MetaError::Closed)) }
    }

    /// Removes the entries up to and including `upto` (they are in a
    /// snapshot) and records `purged`, the last purged log id, in the same
    /// commit.
    pub fn raft_purge(
        &self,
        group: u64,
        upto: u64,
        purged: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let mutation = move |txn: &mut Txn<'_>| {
            let end = log_key(group, upto.saturating_add(1));
            for key in txn.scan_keys(Table::RaftLog, &log_key(group, 0), &end)? {
                txn.remove(Table::RaftLog, key);
            }
            if upto == u64::MAX {
                txn.remove(Table::RaftLog, log_key(group, u64::MAX).to_vec());
            }
            txn.put_raw(Table::RaftMeta, meta_key(group, RaftMeta::Purged).to_vec(), purged);
            Ok(())
        };
        let future = self.submit_all_async(vec![mutation], false);
        async move { future.await?.pop().unwrap_or(Err(MetaError::Closed)) }
    }

    // ---- state machines ------------------------------------------------

    pub fn group_state(&self, group: u64) -> Result<Option<GroupState>> {
        self.tables.get(Table::Groups, &group.to_be_bytes())
    }

    /// Every group this node holds state for.
    pub fn groups(&self) -> Result<Vec<(u64, GroupState)>> {
        let mut out = Vec::new();
        for guard in self.tables.groups.iter() {
            let (key, value) = guard.into_inner()?;
            let group = <[u8; 8]>::try_from(key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| MetaError::Corrupt("malformed group key".into()))?;
            out.push((group, codec::decode(&value)?));
        }
        Ok(out)
    }

    /// Creates the state row of a new group (a range of `bucket` holding
    /// `range` at `epoch`, or the catalog), durably. An existing row is left
    /// as it is.
    pub fn create_group(
        &self,
        group: u64,
        bucket: Option<ObjectId>,
        range: KeyRange,
        epoch: u64,
    ) -> Result<()> {
        self.submit(move |txn| {
            let key = group.to_be_bytes().to_vec();
            if txn.get::<GroupState>(Table::Groups, &key)?.is_none() {
                txn.put(Table::Groups, key, &GroupState { bucket, range, epoch, ..GroupState::default() })?;
            }
            Ok(())
        })
    }

    /// A range group of `bucket` other than `group` whose applied bounds
    /// overlap `range`: a node must not open a range over rows another of
    /// its groups still governs (that group has not applied the split
    /// that made the new one; its older entries could still write there).
    pub fn overlapping_group(&self, group: u64, bucket: ObjectId, range: &KeyRange) -> Result<Option<u64>> {
        Ok(self
            .groups()?
            .into_iter()
            .find(|(g, s)| *g != group && s.bucket == Some(bucket) && s.range.overlaps(range))
            .map(|(g, _)| g))
    }

    /// Applies a batch of an index range's log entries: each command's
    /// writes, and the group's new `applied` marker (and membership), in one
    /// commit. A command that fails (a precondition, `NoSuchUpload`, ...)
    /// writes nothing and its error is its result; that is deterministic,
    /// so every replica fails it alike.
    pub fn apply_index(
        &self,
        group: u64,
        items: Vec<ApplyItem<IndexCommand>>,
        applied: Vec<u8>,
    ) -> impl Future<Output = Result<Applied<IndexOutcome>>> + Send + 'static {
        let part_power = self.config.part_power;
        self.apply(group, items, applied, move |txn, command| run_index(txn, group, part_power, command))
    }

    /// Applies a batch of the catalog's log entries, as
    /// [`apply_index`](Self::apply_index) does for a range.
    pub fn apply_catalog(
        &self,
        items: Vec<ApplyItem<CatalogCommand>>,
        applied: Vec<u8>,
    ) -> impl Future<Output = Result<Applied<CatalogOutcome>>> + Send + 'static {
        self.apply(CATALOG_GROUP, items, applied, run_catalog)
    }

    /// One commit: each item's mutation (`run` for commands), then the
    /// group's `applied` marker.
    fn apply<C, T>(
        &self,
        group: u64,
        items: Vec<ApplyItem<C>>,
        applied: Vec<u8>,
        run: impl Fn(&mut Txn<'_>, C) -> Result<T> + Clone + Send + 'static,
    ) -> impl Future<Output = Result<Applied<T>>> + Send + 'static
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let mut mutations: Vec<Mutation<Option<T>>> = Vec::with_capacity(items.len() + 1);
        for item in items {
            let run = run.clone();
            mutations.push(match item {
                ApplyItem::Command(command) => Box::new(move |txn: &mut Txn<'_>| {
                    txn.apply_for(group);
                    run(txn, command).map(Some)
                }),
                ApplyItem::Membership(membership) => Box::new(move |txn: &mut Txn<'_>| {
                    update_state(txn, group, |s| s.membership = Some(membership))?;
                    Ok(None)
                }),
                ApplyItem::Blank => Box::new(|_: &mut Txn<'_>| Ok(None)),
            });
        }
        mutations.push(Box::new(move |txn: &mut Txn<'_>| {
            update_state(txn, group, |s| s.applied = Some(applied))?;
            Ok(None)
        }));
        finish_apply(self.submit_all_async(mutations, false))
    }

    /// One `cluster` row.
    pub fn cluster_row(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.cluster.get(key)?.map(|v| v.to_vec()))
    }

    /// The `cluster` rows whose key starts with `prefix`, in key order.
    pub fn cluster_rows_with_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for guard in self.tables.cluster.prefix(prefix) {
            let (key, value) = guard.into_inner()?;
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// Every `cluster` row, in key order.
    pub fn cluster_rows(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for guard in self.tables.cluster.iter() {
            let (key, value) = guard.into_inner()?;
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    // ---- snapshots -----------------------------------------------------

    /// The whole catalog (buckets, keys, cluster rows) and its state, read
    /// from one consistent view.
    pub fn catalog_snapshot(&self) -> Result<CatalogSnapshot> {
        let view = self.tables.db.snapshot();
        let state: GroupState = match view.get(&self.tables.groups, CATALOG_GROUP.to_be_bytes())? {
            Some(raw) => codec::decode(&raw)?,
            None => GroupState::default(),
        };
        let mut snapshot = CatalogSnapshot { state, ..CatalogSnapshot::default() };
        for guard in view.iter(&self.tables.buckets) {
            let (_, value) = guard.into_inner()?;
            snapshot.buckets.push(codec::decode(&value)?);
        }
        for guard in view.iter(&self.tables.keys) {
            let (_, value) = guard.into_inner()?;
            snapshot.keys.push(codec::decode(&value)?);
        }
        for guard in view.iter(&self.tables.cluster) {
            let (key, value) = guard.into_inner()?;
            snapshot.cluster.push((key.to_vec(), value.to_vec()));
        }
        Ok(snapshot)
    }

    /// Replaces the catalog with a snapshot's, in one durable commit.
    pub fn install_catalog_snapshot(&self, snapshot: CatalogSnapshot) -> Result<()> {
        self.submit(move |txn| {
            clear_catalog(txn)?;
            for row in snapshot.buckets {
                txn.name_bucket(row.id, &row.name);
                txn.put(Table::Buckets, row.name.as_bytes().to_vec(), &row)?;
            }
            for row in snapshot.keys {
                txn.put(Table::Keys, row.access_key.as_bytes().to_vec(), &row)?;
            }
            for (key, value) in snapshot.cluster {
                txn.put_raw(Table::Cluster, key, value);
            }
            txn.put(Table::Groups, CATALOG_GROUP.to_be_bytes().to_vec(), &snapshot.state)
        })
    }

    /// Writes an index range's rows and state to `out`, from one consistent
    /// view: frames of `u32 BE length ‖ postcard(SnapshotItem)`, ended by
    /// `SnapshotItem::End` with the frame count and the CRC32C of every
    /// frame before it. Returns the state the rows are at.
    pub fn index_snapshot(&self, group: u64, bucket: ObjectId, out: &mut impl Write) -> Result<GroupState> {
        let view = self.tables.db.snapshot();
        let state: GroupState = match view.get(&self.tables.groups, group.to_be_bytes())? {
            Some(raw) => codec::decode(&raw)?,
            None => GroupState { bucket: Some(bucket), ..GroupState::default() },
        };
        let mut frames = FrameWriter { out, count: 0, crc: 0 };
        frames.write(&SnapshotItem::State(state.clone()))?;
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let (lower, upper) = state.range.row_bounds(&head);
        for guard in view.range(&self.tables.objects, lower.as_slice()..upper.as_slice()) {
            let (_, value) = guard.into_inner()?;
            frames.write(&SnapshotItem::Object(codec::decode(&value)?))?;
        }
        for guard in view.range(&self.tables.uploads, lower.as_slice()..upper.as_slice()) {
            let (_, value) = guard.into_inner()?;
            let upload: UploadRow = codec::decode(&value)?;
            for part in view.prefix(&self.tables.parts, upload.upload_id.as_bytes()) {
                let (_, value) = part.into_inner()?;
                frames.write(&SnapshotItem::Part(codec::decode(&value)?))?;
            }
            frames.write(&SnapshotItem::Upload(upload))?;
        }
        let counters = crate::ranges::range_counter_key(bucket, &state.range.start);
        if let Some(raw) = view.get(&self.tables.counters, counters)? {
            frames.write(&SnapshotItem::Counters(codec::decode(&raw)?))?;
        }
        frames.finish()?;
        Ok(state)
    }

    /// Replaces an index range's rows and state with a snapshot read from
    /// `input` (as [`index_snapshot`](Self::index_snapshot) writes it). The
    /// group is marked `installing` first, so a crash part way leaves a
    /// group that is wiped at the next open rather than a silent mix.
    pub fn install_index_snapshot(
        &self,
        group: u64,
        bucket: ObjectId,
        input: &mut impl Read,
    ) -> Result<GroupState> {
        const BATCH: usize = 1000;
        let mut reader = FrameReader { input, count: 0, crc: 0 };
        let SnapshotItem::State(mut state) = reader.read()? else {
            return Err(MetaError::Corrupt("an index snapshot must begin with its state".into()));
        };
        // The rows to replace: those of the bounds this replica had and of
        // the snapshot's (they differ when the range split meanwhile). The
        // marker records both, so a crash part way wipes both at the next
        // open.
        let old = self.group_state(group)?.map(|s| s.range).unwrap_or_else(|| state.range.clone());
        let installing = GroupState {
            bucket: Some(bucket),
            installing: true,
            range: old.hull(&state.range),
            epoch: state.epoch,
            ..GroupState::default()
        };
        let _one_at_a_time = INSTALLS.lock().unwrap_or_else(|e| e.into_inner());
        // A snapshot built before a split spans the half that left; where
        // that half runs here, its own rows are newer than the snapshot's.
        // Within the snapshot's bounds, ranges of a later epoch here hold
        // their own rows; in the bounds this replica had beyond them, every
        // other range here does.
        let newer = ranges_held_by_others(self, group, bucket, Some(state.epoch))?;
        let others = ranges_held_by_others(self, group, bucket, None)?;
        let theirs = |key: &str| newer.iter().any(|r| r.contains(key));
        self.submit(move |txn| txn.put(Table::Groups, group.to_be_bytes().to_vec(), &installing))?;
        wipe_range_rows(self, bucket, &state.range, &newer)?;
        for piece in old.minus(std::slice::from_ref(&state.range)) {
            wipe_range_rows(self, bucket, &piece, &others)?;
        }
        let partition = self.index_partition(bucket);
        let counters = crate::ranges::range_counter_key(bucket, &state.range.start);
        let mut pending: Vec<(Table, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut held_parts: Vec<PartRow> = Vec::new();
        loop {
            let item = reader.read()?;
            let row = match item {
                SnapshotItem::End { .. } => break,
                SnapshotItem::State(_) => {
                    return Err(MetaError::Corrupt("an index snapshot with two states".into()));
                }
                SnapshotItem::Object(row) if theirs(&row.key) => continue,
                SnapshotItem::Object(row) => (
                    Table::Objects,
                    keys::version_key(partition, bucket, &row.key, row.version),
                    codec::encode(&row)?,
                ),
                // An upload's parts come just before it: held until it
                // says whose they are.
                SnapshotItem::Part(row) => {
                    held_parts.push(row);
                    continue;
                }
                SnapshotItem::Upload(row) => {
                    let parts = std::mem::take(&mut held_parts);
                    if theirs(&row.key) {
                        continue;
                    }
                    for part in parts {
                        let key = keys::part_key(part.upload_id, part.part_number).to_vec();
                        pending.push((Table::Parts, key, codec::encode(&part)?));
                    }
                    (
                        Table::Uploads,
                        keys::upload_key(partition, bucket, &row.key, row.upload_id),
                        codec::encode(&row)?,
                    )
                }
                SnapshotItem::Counters(stats) => (Table::Counters, counters.clone(), codec::encode(&stats)?),
            };
            pending.push(row);
            if pending.len() >= BATCH {
                let batch = std::mem::take(&mut pending);
                self.submit_unsynced(move |txn| {
                    for (table, key, value) in batch {
                        txn.put_raw(table, key, value);
                    }
                    Ok(())
                })?;
            }
        }
        state.bucket = Some(bucket);
        state.installing = false;
        let done = state.clone();
        self.submit(move |txn| {
            for (table, key, value) in pending {
                txn.put_raw(table, key, value);
            }
            txn.put(Table::Groups, group.to_be_bytes().to_vec(), &done)
        })?;
        Ok(state)
    }

    /// Forgets a group: its log, Raft values, state and (for a range) its
    /// rows. For a range that was deleted or moved to other nodes.
    pub fn drop_group(&self, group: u64) -> Result<()> {
        let state = self.group_state(group)?;
        match state.as_ref().and_then(|s| s.bucket.map(|b| (b, &s.range))) {
            Some((bucket, range)) => wipe_group_rows(self, group, bucket, range)?,
            None if group == CATALOG_GROUP => self.submit(clear_catalog)?,
            None => {}
        }
        let entries: Vec<u64> = self.raft_entries(group, 0, u64::MAX)?.into_iter().map(|(i, _)| i).collect();
        for chunk in entries.chunks(1000) {
            let chunk = chunk.to_vec();
            self.submit_unsynced(move |txn| {
                for index in chunk {
                    txn.remove(Table::RaftLog, log_key(group, index).to_vec());
                }
                Ok(())
            })?;
        }
        self.submit(move |txn| {
            txn.remove(Table::RaftLog, log_key(group, u64::MAX).to_vec());
            for tag in [RaftMeta::Vote, RaftMeta::Committed, RaftMeta::Purged] {
                txn.remove(Table::RaftMeta, meta_key(group, tag).to_vec());
            }
            txn.remove(Table::Groups, group.to_be_bytes().to_vec());
            Ok(())
        })
    }
}

/// Resolves an apply batch: a failed commit fails the whole batch (the
/// group must not go on as if it were applied).
async fn finish_apply<T>(future: impl Future<Output = Result<Vec<Result<Option<T>>>>>) -> Result<Applied<T>> {
    let mut results = future.await?;
    // The marker's result: an error here means nothing was committed.
    results.pop().unwrap_or(Err(MetaError::Closed))?;
    Ok(results
        .into_iter()
        .map(|r| match r {
            Ok(Some(outcome)) => Some(Ok(outcome)),
            Ok(None) => None,
            Err(MetaError::Closed) => Some(Err(MetaError::Closed)),
            Err(err) => Some(Err(err)),
        })
        .collect())
}

fn update_state(txn: &mut Txn<'_>, group: u64, change: impl FnOnce(&mut GroupState)) -> Result<()> {
    let key = group.to_be_bytes().to_vec();
    let mut state: GroupState = txn.get(Table::Groups, &key)?.unwrap_or_default();
    change(&mut state);
    txn.put(Table::Groups, key, &state)
}

fn run_index(txn: &mut Txn<'_>, group: u64, part_power: u8, command: IndexCommand) -> Result<IndexOutcome> {
    let partition = |bucket: ObjectId| keys::index_partition(bucket, part_power);
    // A key outside the range's bounds was routed by a range map older
    // than a split: refused here, in log order, so no row lands in a part
    // of the key space another group now governs.
    let state: GroupState = txn.group_state(group)?.unwrap_or_default();
    if let Some(key) = command.key()
        && !state.range.contains(key)
    {
        return Err(MetaError::WrongRange);
    }
    match command {
        IndexCommand::PutObject { row, condition } => {
            objects::check_object_row(&row)?;
            let p = partition(row.bucket);
            let event = crate::rows::EventKind::ObjectCreated;
            objects::put_in(txn, p, row, &condition, event).map(IndexOutcome::Put)
        }
        IndexCommand::DeleteObject { bucket, key, ts } => {
            keys::check_object_key(&key)?;
            objects::delete_in(txn, partition(bucket), bucket, key, ts).map(IndexOutcome::Deleted)
        }
        IndexCommand::UpdateVersion { bucket, key, version, ts, change } => {
            keys::check_object_key(&key)?;
            let raw = keys::version_key(partition(bucket), bucket, &key, version);
            objects::update_version_in(txn, raw, ts, change).map(|()| IndexOutcome::Updated)
        }
        IndexCommand::DeleteVersion { bucket, key, version, ts, bypass_governance } => {
            keys::check_object_key(&key)?;
            let p = partition(bucket);
            objects::delete_version_in(txn, p, bucket, key, version, ts, bypass_governance)
                .map(IndexOutcome::Deleted)
        }
        IndexCommand::CreateUpload { row } => {
            keys::check_object_key(&row.key)?;
            let key = keys::upload_key(partition(row.bucket), row.bucket, &row.key, row.upload_id);
            multipart::create_upload_in(txn, key, row).map(|()| IndexOutcome::UploadCreated)
        }
        IndexCommand::PutPart { bucket, key, row } => {
            keys::check_object_key(&key)?;
            let upload_key = keys::upload_key(partition(bucket), bucket, &key, row.upload_id);
            multipart::put_part_in(txn, &upload_key, row).map(IndexOutcome::Part)
        }
        IndexCommand::CompleteUpload { bucket, key, upload_id, row } => {
            keys::check_object_key(&key)?;
            objects::check_object_row(&row)?;
            if row.bucket != bucket || row.key != key {
                return Err(MetaError::Invalid("the completed object must be the upload's key".into()));
            }
            let p = partition(bucket);
            let upload_key = keys::upload_key(p, bucket, &key, upload_id);
            multipart::complete_in(txn, p, upload_key, upload_id, row).map(IndexOutcome::Completed)
        }
        IndexCommand::AbortUpload { bucket, key, upload_id, ts } => {
            keys::check_object_key(&key)?;
            let upload_key = keys::upload_key(partition(bucket), bucket, &key, upload_id);
            multipart::abort_in(txn, upload_key, bucket, &key, upload_id, ts).map(IndexOutcome::Aborted)
        }
        IndexCommand::Close { bucket } => {
            let counters = crate::ranges::range_counter_key(bucket, &state.range.start);
            let stats: BucketStats = txn.get(Table::Counters, &counters)?.unwrap_or_default();
            if stats.objects > 0 {
                return Err(MetaError::BucketNotEmpty);
            }
            // Uploads in progress do not keep a bucket (S3 deletes it and
            // aborts them). They are aborted here, in the range's log, so
            // no part or completion can follow; their parts' blobs are left
            // to garbage collection.
            if stats.uploads > 0 {
                let head = keys::bucket_prefix(partition(bucket), bucket);
                let (lower, upper) = state.range.row_bounds(&head);
                for (key, value) in txn.scan_range(Table::Uploads, &lower, &upper)? {
                    let upload: UploadRow = codec::decode(&value)?;
                    if !upload.deleted {
                        multipart::abort_in(txn, key, bucket, &upload.key, upload.upload_id, upload.ts)?;
                    }
                }
            }
            update_state(txn, group, |s| s.closed = true)?;
            Ok(IndexOutcome::Closed(state.range))
        }
        IndexCommand::Reopen { .. } => {
            update_state(txn, group, |s| s.closed = false)?;
            Ok(IndexOutcome::Reopened)
        }
        IndexCommand::Split(split) => {
            crate::ranges::split_in(txn, group, split).map(|()| IndexOutcome::Split)
        }
        IndexCommand::PutObjects { bucket, rows } => {
            if rows.iter().any(|row| row.bucket != bucket || !state.range.contains(&row.key)) {
                return Err(MetaError::WrongRange);
            }
            let p = partition(bucket);
            let mut loaded = 0;
            for row in rows {
                objects::check_object_row(&row)?;
                let event = crate::rows::EventKind::ObjectCreated;
                if objects::put_in(txn, p, row, &PutCondition::Always, event)?.applied {
                    loaded += 1;
                }
            }
            Ok(IndexOutcome::Loaded(loaded))
        }
    }
}

fn run_catalog(txn: &mut Txn<'_>, command: CatalogCommand) -> Result<CatalogOutcome> {
    match command {
        CatalogCommand::CreateBucket { row, cluster } => {
            keys::check_name(&row.name)?;
            catalog::create_bucket_in(txn, row)?;
            for (key, value) in cluster {
                txn.put_raw(Table::Cluster, key, value);
            }
            Ok(CatalogOutcome::Done)
        }
        CatalogCommand::UpdateBucketIf { row, expect } => {
            keys::check_name(&row.name)?;
            let stored: Option<BucketRow> = txn.get(Table::Buckets, row.name.as_bytes())?;
            if stored.is_none_or(|s| s.deleted || s.id != row.id || s.ts != expect) {
                return Err(MetaError::PreconditionFailed);
            }
            catalog::update_bucket_in(txn, row).map(|()| CatalogOutcome::Done)
        }
        CatalogCommand::PutRange { name, desc } => {
            crate::ranges::put_range_in(txn, &name, desc).map(|()| CatalogOutcome::Done)
        }
        CatalogCommand::UpdateBucket { row } => {
            keys::check_name(&row.name)?;
            catalog::update_bucket_in(txn, row).map(|()| CatalogOutcome::Done)
        }
        CatalogCommand::DeleteBucket { name, id, ts, cluster } => {
            let live = catalog::delete_bucket_in(txn, &name, Some(id), ts, false)?;
            for key in cluster {
                txn.remove(Table::Cluster, key);
            }
            crate::ranges::remove_ranges_in(txn, id)?;
            Ok(CatalogOutcome::Bucket(Box::new(live)))
        }
        CatalogCommand::PutKey { row } => {
            keys::check_name(&row.access_key)?;
            catalog::put_key_in(txn, row).map(|()| CatalogOutcome::Done)
        }
        CatalogCommand::DeleteKey { access_key, ts } => {
            catalog::delete_key_in(txn, &access_key, ts).map(CatalogOutcome::KeyDeleted)
        }
        CatalogCommand::SetRootKey { row } => {
            keys::check_name(&row.access_key)?;
            let others: Vec<KeyRow> = txn
                .scan_prefix(Table::Keys, b"")?
                .into_iter()
                .filter_map(|(_, v)| codec::decode::<KeyRow>(&v).ok())
                .filter(|k| k.is_root && !k.deleted && k.access_key != row.access_key)
                .collect();
            for old in others {
                catalog::delete_key_in(txn, &old.access_key, row.ts)?;
            }
            catalog::put_key_in(txn, row).map(|()| CatalogOutcome::Done)
        }
        CatalogCommand::PutCluster { key, value } => {
            txn.put_raw(Table::Cluster, key, value);
            Ok(CatalogOutcome::Done)
        }
        CatalogCommand::RemoveCluster { key } => {
            txn.remove(Table::Cluster, key);
            Ok(CatalogOutcome::Done)
        }
        CatalogCommand::SwapCluster { key, expect, value, remove, put } => {
            if txn.get_raw(Table::Cluster, &key)? != expect {
                return Err(MetaError::PreconditionFailed);
            }
            txn.put_raw(Table::Cluster, key, value);
            for key in remove {
                txn.remove(Table::Cluster, key);
            }
            for (key, value) in put {
                txn.put_raw(Table::Cluster, key, value);
            }
            Ok(CatalogOutcome::Done)
        }
    }
}

/// Stages the removal of every catalog row (buckets, keys, cluster).
fn clear_catalog(txn: &mut Txn<'_>) -> Result<()> {
    for table in [Table::Buckets, Table::Keys, Table::Cluster] {
        for (key, _) in txn.scan_prefix(table, b"")? {
            txn.remove(table, key);
        }
    }
    Ok(())
}

/// The catalog as a snapshot carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSnapshot {
    pub state: GroupState,
    pub buckets: Vec<BucketRow>,
    pub keys: Vec<KeyRow>,
    pub cluster: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One frame of an index range snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum SnapshotItem {
    State(GroupState),
    Object(ObjectRow),
    Upload(UploadRow),
    Part(PartRow),
    Counters(BucketStats),
    End { count: u64, crc: u32 },
}

/// The largest frame a reader accepts (a row with a 4 KiB inline body and
/// 2 KB of metadata is far below it).
const MAX_FRAME: usize = 16 << 20;

struct FrameWriter<'a, W: Write> {
    out: &'a mut W,
    count: u64,
    crc: u32,
}

impl<W: Write> FrameWriter<'_, W> {
    fn write(&mut self, item: &SnapshotItem) -> Result<()> {
        let body = postcard::to_stdvec(item).map_err(|e| MetaError::Invalid(e.to_string()))?;
        let len = (body.len() as u32).to_be_bytes();
        self.crc = crc32c::crc32c_append(self.crc, &len);
        self.crc = crc32c::crc32c_append(self.crc, &body);
        self.count += 1;
        self.out.write_all(&len).and_then(|()| self.out.write_all(&body)).map_err(io_error)
    }

    fn finish(self) -> Result<()> {
        let end = SnapshotItem::End { count: self.count, crc: self.crc };
        let body = postcard::to_stdvec(&end).map_err(|e| MetaError::Invalid(e.to_string()))?;
        self.out
            .write_all(&(body.len() as u32).to_be_bytes())
            .and_then(|()| self.out.write_all(&body))
            .and_then(|()| self.out.flush())
            .map_err(io_error)
    }
}

struct FrameReader<'a, R: Read> {
    input: &'a mut R,
    count: u64,
    crc: u32,
}

impl<R: Read> FrameReader<'_, R> {
    fn read(&mut self) -> Result<SnapshotItem> {
        let mut len = [0u8; 4];
        self.input.read_exact(&mut len).map_err(io_error)?;
        let size = u32::from_be_bytes(len) as usize;
        if size > MAX_FRAME {
            return Err(MetaError::Corrupt(format!("snapshot frame of {size} bytes")));
        }
        let mut body = vec![0u8; size];
        self.input.read_exact(&mut body).map_err(io_error)?;
        let item: SnapshotItem =
            postcard::from_bytes(&body).map_err(|e| MetaError::Corrupt(format!("snapshot frame: {e}")))?;
        if let SnapshotItem::End { count, crc } = item {
            if count != self.count || crc != self.crc {
                return Err(MetaError::Corrupt("snapshot frames do not match their checksum".into()));
            }
            return Ok(item);
        }
        self.crc = crc32c::crc32c_append(self.crc, &len);
        self.crc = crc32c::crc32c_append(self.crc, &body);
        self.count += 1;
        Ok(item)
    }
}

fn io_error(err: std::io::Error) -> MetaError {
    MetaError::Invalid(format!("snapshot I/O: {err}"))
}
