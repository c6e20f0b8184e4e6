//! The writer thread: every mutation of the index, serialized, with group
//! commit.
//!
//! This module owns the order of mutations and their durability. Callers
//! queue closures ([`Job`]s) on a channel; one thread takes everything queued
//! (a group), runs each job against a [`Txn`] — reads see the stored rows
//! plus the writes of earlier jobs of the same group, so conditions are
//! checked as if jobs ran one by one — and stages its writes, the counter
//! changes and its events. Then the whole group is committed as ONE fjall
//! batch with `PersistMode::SyncData`: fjall appends the batch to its journal
//! and fdatasyncs it before inserting it into the memtables, so
//!
//! - a caller is answered only after its writes are on stable storage,
//! - other threads, which read the memtables, never see a write that is not
//!   yet durable (a reply computed from a lost write cannot happen), and
//! - a crash keeps all of a group or none of it (fjall's journal batches are
//!   framed by an item count and a checksum; a torn tail batch is dropped on
//!   recovery), so a row never survives without its counter or event.
//!
//! A group costs one fdatasync however many mutations it holds: while the
//! disk syncs one group, the next one queues up.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use arca_types::{ObjectId, Timestamp};
use fjall::PersistMode;
use serde::Serialize;

use crate::rows::{BucketRow, BucketStats, EventKind, EventRow};
use crate::store::{Table, Tables};
use crate::{MetaConfig, MetaError, Result, codec, keys};

/// Answers a caller once its group is committed (or failed to commit).
pub(crate) type Reply = Box<dyn FnOnce(Result<()>) + Send>;
/// A mutation: stages writes into the `Txn` and says whether to keep them.
pub(crate) type Job = Box<dyn FnOnce(&mut Txn<'_>) -> (bool, Reply) + Send>;

/// What a caller queues: mutations that must land in the same commit, and
/// whether that commit must be fdatasync'ed before they are answered.
///
/// Unsynced work is what a Raft state machine applies: its entries are
/// already durable in the Raft log (in the same journal, which is written
/// in order), so a crash can only lose applies that are re-applied from the
/// log at restart. The group is synced if any of its work asks for it.
pub(crate) struct Work {
    pub jobs: Vec<Job>,
    pub sync: bool,
}

/// Staged writes by (table, key): `Some(value)` to insert, `None` to remove.
pub(crate) type Overlay = BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>;

/// A group stops taking jobs past this many (bounds the latency a caller
/// sees and the memory a group holds).
const MAX_GROUP_JOBS: usize = 1024;
/// ... or past this many staged writes.
const MAX_GROUP_WRITES: usize = 256 * 1024;

/// What the writer keeps between groups.
pub(crate) struct WriterState {
    /// The sequence number the next event gets.
    next_seq: u64,
    /// Bucket names by id, to name buckets in events (object rows carry
    /// only the id).
    bucket_names: HashMap<ObjectId, String>,
    sync: bool,
}

impl WriterState {
    /// Rebuilds the writer's state from the stored tables after opening.
    pub fn recover(tables: &Tables, config: &MetaConfig) -> Result<WriterState> {
        let next_seq = match tables.events.last_key_value() {
            Some(guard) => keys::event_seq_of(&guard.key()?)? + 1,
            None => 1,
        };
        let mut bucket_names = HashMap::new();
        for guard in tables.buckets.iter() {
            let (_, value) = guard.into_inner()?;
            let row: BucketRow = codec::decode(&value)?;
            bucket_names.insert(row.id, row.name);
        }
        Ok(WriterState { next_seq, bucket_names, sync: config.sync })
    }
}

/// The writer thread's loop: runs until every sender is gone.
pub(crate) fn run(tables: Tables, mut state: WriterState, works: mpsc::Receiver<Work>) {
    while let Ok(first) = works.recv() {
        let mut staged = Overlay::new();
        let mut replies: Vec<Reply> = Vec::new();
        let mut sync = false;
        let mut next = Some(first);
        while let Some(work) = next.take() {
            sync |= work.sync;
            // The jobs of one work item always share a commit.
            for job in work.jobs {
                let mut txn = Txn::new(&tables, &staged, &mut state);
                match catch_unwind(AssertUnwindSafe(|| job(&mut txn))) {
                    Ok((true, reply)) => match txn.finish() {
                        Ok(own) => {
                            staged.extend(own);
                            replies.push(reply);
                        }
                        Err(e) => reply(Err(e)),
                    },
                    Ok((false, reply)) => replies.push(reply),
                    // The job's reply channel was dropped while unwinding:
                    // its caller gets `Closed`; nothing it staged is kept.
                    Err(_) => tracing::error!("a metadata mutation panicked; it was discarded"),
                }
            }
            if replies.len() < MAX_GROUP_JOBS && staged.len() < MAX_GROUP_WRITES {
                next = works.try_recv().ok();
            }
        }
        let committed = commit(&tables, staged, state.sync && sync);
        if let Err(e) = &committed {
            tracing::error!("metadata commit failed: {e}");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// Writes a group as one atomic fjall batch, durably when `sync`.
fn commit(tables: &Tables, staged: Overlay, sync: bool) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let mode = if sync { PersistMode::SyncData } else { PersistMode::Buffer };
    let mut batch = tables.db.batch().durability(Some(mode));
    for ((table, key), value) in staged {
        let keyspace = tables.keyspace(table);
        match value {
            Some(value) => batch.insert(keyspace, key, value),
            None => batch.remove(keyspace, key),
        }
    }
    batch.commit()?;
    Ok(())
}

/// Signed changes to one bucket's counters.
#[derive(Debug, Default, Clone, Copy)]
struct StatsDelta {
    objects: i64,
    bytes: i128,
    uploads: i64,
}

/// One mutation's view of the index and its staged writes.
pub(crate) struct Txn<'a> {
    tables: &'a Tables,
    /// Writes of earlier jobs of this group (not yet in fjall).
    group: &'a Overlay,
    state: &'a mut WriterState,
    own: Overlay,
    deltas: BTreeMap<ObjectId, StatsDelta>,
    events: Vec<EventRow>,
    /// The Raft group whose log this mutation applies, if any. Its
    /// entries are ordered by the log, not by their timestamps, and the
    /// group's own state (not this node's view of the catalog) says
    /// whether its bucket is still live, so every replica decides alike.
    raft_group: Option<u64>,
    /// That group's state as this mutation sees it, read once: every
    /// command checks its bounds, its liveness and its counter key against
    /// it. Forgotten whenever the mutation writes a group state.
    raft_state: std::cell::OnceCell<Option<crate::raft::GroupState>>,
}

impl<'a> Txn<'a> {
    fn new(tables: &'a Tables, group: &'a Overlay, state: &'a mut WriterState) -> Self {
        Txn {
            tables,
            group,
            state,
            own: Overlay::new(),
            deltas: BTreeMap::new(),
            events: Vec::new(),
            raft_group: None,
            raft_state: std::cell::OnceCell::new(),
        }
    }

    /// The state of `group` — from memory after the first read when it is
    /// the group this mutation applies for.
    pub fn group_state(&self, group: u64) -> Result<Option<crate::raft::GroupState>> {
        if self.raft_group != Some(group) {
            return self.get(Table::Groups, &group.to_be_bytes());
        }
        if let Some(state) = self.raft_state.get() {
            return Ok(state.clone());
        }
        let state: Option<crate::raft::GroupState> = self.get(Table::Groups, &group.to_be_bytes())?;
        let _ = self.raft_state.set(state.clone());
        Ok(state)
    }

    /// Marks this mutation as applying an entry of Raft group `group`.
    pub fn apply_for(&mut self, group: u64) {
        self.raft_group = Some(group);
    }

    /// Whether writes are ordered by a Raft log rather than by timestamps
    /// (last writer wins).
    pub fn log_ordered(&self) -> bool {
        self.raft_group.is_some()
    }

    /// The current value of a key: this job's writes, then the group's, then
    /// the stored one.
    pub fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let staged_key = (table, key.to_vec());
        if let Some(v) = self.own.get(&staged_key).or_else(|| self.group.get(&staged_key)) {
            return Ok(v.clone());
        }
        Ok(self.tables.keyspace(table).get(key)?.map(|v| v.to_vec()))
    }

    pub fn get<T: codec::Value>(&self, table: Table, key: &[u8]) -> Result<Option<T>> {
        self.get_raw(table, key)?.map(|raw| codec::decode(&raw)).transpose()
    }

    pub fn put<T: Serialize>(&mut self, table: Table, key: Vec<u8>, row: &T) -> Result<()> {
        let value = codec::encode(row)?;
        self.stage(table, key, Some(value));
        Ok(())
    }

    /// Stages an already encoded value.
    pub fn put_raw(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.stage(table, key, Some(value));
    }

    pub fn remove(&mut self, table: Table, key: Vec<u8>) {
        self.stage(table, key, None);
    }

    fn stage(&mut self, table: Table, key: Vec<u8>, value: Option<Vec<u8>>) {
        if table == Table::Groups {
            self.raft_state = std::cell::OnceCell::new();
        }
        self.own.insert((table, key), value);
    }

    /// Every current (key, value) whose key starts with `prefix`, in key
    /// order: the stored range overlaid with the group's and this job's
    /// writes. Materialized; used for the parts of one upload (at most
    /// 10,000).
    pub fn scan_prefix(&self, table: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for guard in self.tables.keyspace(table).prefix(prefix) {
            let (k, v) = guard.into_inner()?;
            merged.insert(k.to_vec(), v.to_vec());
        }
        for overlay in [self.group, &self.own] {
            let staged = overlay
                .range((table, prefix.to_vec())..)
                .take_while(|((t, k), _)| *t == table && k.starts_with(prefix));
            for ((_, k), v) in staged {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Every current (key, value) in `[from, to)` of a table, in key order:
    /// the stored range overlaid with the group's and this job's writes.
    pub fn scan_range(&self, table: Table, from: &[u8], to: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for guard in self.tables.keyspace(table).range(from.to_vec()..to.to_vec()) {
            let (k, v) = guard.into_inner()?;
            merged.insert(k.to_vec(), v.to_vec());
        }
        for overlay in [self.group, &self.own] {
            for ((_, k), v) in overlay.range((table, from.to_vec())..(table, to.to_vec())) {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// The first current (key, value) in `[from, to)` of a table: the
    /// stored range overlaid with the group's and this job's writes, read
    /// lazily (a key's versions may be many; only the first is wanted).
    pub fn first_in(&self, table: Table, from: &[u8], to: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let staged = |key: &[u8]| {
            let k = (table, key.to_vec());
            self.own.get(&k).or_else(|| self.group.get(&k)).cloned()
        };
        let mut first: Option<Vec<u8>> = None;
        for guard in self.tables.keyspace(table).range(from.to_vec()..to.to_vec()) {
            let key = guard.key()?;
            if !matches!(staged(&key), Some(None)) {
                first = Some(key.to_vec());
                break;
            }
        }
        for overlay in [self.group, &self.own] {
            let written = overlay
                .range((table, from.to_vec())..(table, to.to_vec()))
                .filter(|((_, k), _)| matches!(staged(k), Some(Some(_))))
                .map(|((_, k), _)| k)
                .next();
            if let Some(k) = written
                && first.as_ref().is_none_or(|f| k < f)
            {
                first = Some(k.clone());
            }
        }
        match first {
            Some(key) => Ok(self.get_raw(table, &key)?.map(|value| (key, value))),
            None => Ok(None),
        }
    }

    /// Every current key in `[from, to)` of a table, in key order: the
    /// stored keys overlaid with the group's and this job's writes.
    pub fn scan_keys(&self, table: Table, from: &[u8], to: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut merged: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
        for guard in self.tables.keyspace(table).range(from.to_vec()..to.to_vec()) {
            merged.insert(guard.key()?.to_vec());
        }
        for overlay in [self.group, &self.own] {
            let staged = overlay.range((table, from.to_vec())..(table, to.to_vec()));
            for ((_, k), v) in staged {
                match v {
                    Some(_) => merged.insert(k.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Adds to a bucket's counters in this commit.
    pub fn count(&mut self, bucket: ObjectId, objects: i64, bytes: i128, uploads: i64) {
        let d = self.deltas.entry(bucket).or_default();
        d.objects += objects;
        d.bytes += bytes;
        d.uploads += uploads;
    }

    /// Appends an event in this commit (its sequence number is assigned when
    /// the mutation succeeds).
    pub fn event(
        &mut self,
        kind: EventKind,
        ts: Timestamp,
        bucket_id: ObjectId,
        key: &str,
        size: u64,
        etag: &str,
    ) {
        self.events.push(EventRow {
            seq: 0,
            ts,
            kind,
            bucket: String::new(),
            bucket_id,
            key: key.to_owned(),
            size,
            etag: etag.to_owned(),
        });
    }

    /// Records a bucket's name for the events of its objects.
    pub fn name_bucket(&mut self, id: ObjectId, name: &str) {
        self.state.bucket_names.insert(id, name.to_owned());
    }

    /// `NoSuchBucket` if this index has seen bucket `id` and it is no longer
    /// live (deleted, or its name now belongs to another bucket).
    ///
    /// Checked here, in the serialized writer, because a gateway's own check
    /// happens before it streams the body: a DeleteBucket committed in
    /// between would otherwise leave a row nobody can list or free. "Seen"
    /// is every bucket created since the store opened plus the id of each
    /// name's stored row, live or tombstone, so the race is closed exactly
    /// (both sides run in this process). A bucket this index has never seen
    /// passes: a replica may learn of an object before it learns of its
    /// bucket.
    pub fn check_bucket_live(&self, id: ObjectId) -> Result<()> {
        if let Some(group) = self.raft_group {
            // Inside a Raft group the range's own state decides: DeleteBucket
            // closes the range in its log (crate::raft), ordered with every
            // put.
            return match self.group_state(group)? {
                Some(state) if state.closed => Err(MetaError::NoSuchBucket),
                _ => Ok(()),
            };
        }
        let Some(name) = self.state.bucket_names.get(&id) else { return Ok(()) };
        match self.get::<BucketRow>(Table::Buckets, name.as_bytes())? {
            Some(row) if row.id == id && !row.deleted => Ok(()),
            _ => Err(MetaError::NoSuchBucket),
        }
    }

    /// Folds the counter changes and events into the staged writes and
    /// returns them.
    fn finish(mut self) -> Result<Overlay> {
        let deltas = std::mem::take(&mut self.deltas);
        for (bucket, d) in deltas {
            if d.objects == 0 && d.bytes == 0 && d.uploads == 0 {
                continue;
            }
            // A range's counters are its own (crate::ranges): keyed by the
            // bucket and the range's first key; outside Raft, by the bucket.
            let key = match self.raft_group {
                Some(group) => {
                    let state = self.group_state(group)?;
                    crate::ranges::range_counter_key(bucket, &state.unwrap_or_default().range.start)
                }
                None => keys::counter_key(bucket).to_vec(),
            };
            let stats: BucketStats = self.get(Table::Counters, &key)?.unwrap_or_default();
            let add = |value: u64, delta: i128, what: &str| -> u64 {
                let sum = i128::from(value) + delta;
                if sum < 0 || sum > i128::from(u64::MAX) {
                    // Only a bug or damaged counters get here; clamp rather
                    // than refuse every later write to the bucket.
                    tracing::error!(%bucket, "counter {what} out of range ({sum}); clamped");
                }
                sum.clamp(0, i128::from(u64::MAX)) as u64
            };
            let stats = BucketStats {
                objects: add(stats.objects, d.objects.into(), "objects"),
                bytes: add(stats.bytes, d.bytes, "bytes"),
                uploads: add(stats.uploads, d.uploads.into(), "uploads"),
            };
            self.put(Table::Counters, key, &stats)?;
        }
        let events = std::mem::take(&mut self.events);
        for mut event in events {
            event.seq = self.state.next_seq;
            self.state.next_seq += 1;
            if let Some(name) = self.state.bucket_names.get(&event.bucket_id) {
                event.bucket = name.clone();
            }
            self.put(Table::Events, keys::event_key(event.seq).to_vec(), &event)?;
        }
        Ok(self.own)
    }
}
