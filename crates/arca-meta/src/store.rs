//! The store: opening the fjall database, its tables, and the reads and
//! submissions every other module builds on.
//!
//! This module owns the [`MetaStore`] handle, the set of keyspaces
//! ([`Tables`]), the on-disk format marker, and the counters and event log
//! reads. Mutations are closures submitted to the writer thread
//! ([`crate::writer`]); reads go straight to fjall, which only ever holds
//! durable writes in its memtables (see the writer for why).

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use arca_types::{ObjectId, Timestamp};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use futures::channel::oneshot;

use crate::rows::{BucketRow, BucketStats, EventRow, KeyRow, ObjectBody, ObjectRow, PartRow, Row, UploadRow};
use crate::writer::{self, Job, Txn, Work, WriterState};
use crate::{MetaConfig, MetaError, Result, codec, keys};

/// The on-disk layout version of keys (values carry their own version
/// byte). Stored under `format` in the `meta` keyspace at creation.
pub const KEY_FORMAT: u8 = 1;
const FORMAT_MARKER: &[u8] = b"format";
const INDEX_PART_POWER: &[u8] = b"index_part_power";

/// The tables of the index. Ordered so a group's staged writes sort by
/// table, then key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Table {
    Buckets,
    Keys,
    Objects,
    Uploads,
    Parts,
    Counters,
    Events,
    /// Raft log entries of every group this node holds (crate::raft).
    RaftLog,
    /// Per Raft group: vote, committed and purged log ids.
    RaftMeta,
    /// Per Raft group: what its state machine has applied.
    Groups,
    /// The catalog's cluster rows: ring, members, index ranges.
    Cluster,
}

/// The fjall database and one keyspace per table.
#[derive(Clone)]
pub(crate) struct Tables {
    pub db: Database,
    pub buckets: Keyspace,
    pub keys: Keyspace,
    pub objects: Keyspace,
    pub uploads: Keyspace,
    pub parts: Keyspace,
    pub counters: Keyspace,
    pub events: Keyspace,
    pub raft_log: Keyspace,
    pub raft_meta: Keyspace,
    pub groups: Keyspace,
    pub cluster: Keyspace,
    pub meta: Keyspace,
}

impl Tables {
    pub fn keyspace(&self, table: Table) -> &Keyspace {
        match table {
            Table::Buckets => &self.buckets,
            Table::Keys => &self.keys,
            Table::Objects => &self.objects,
            Table::Uploads => &self.uploads,
            Table::Parts => &self.parts,
            Table::Counters => &self.counters,
            Table::Events => &self.events,
            Table::RaftLog => &self.raft_log,
            Table::RaftMeta => &self.raft_meta,
            Table::Groups => &self.groups,
            Table::Cluster => &self.cluster,
        }
    }

    /// Reads and decodes one row.
    pub fn get<T: codec::Value>(&self, table: Table, key: &[u8]) -> Result<Option<T>> {
        match self.keyspace(table).get(key)? {
            Some(raw) => codec::decode(&raw).map(Some),
            None => Ok(None),
        }
    }
}

/// The metadata index of one node. `Send + Sync`: share it in an `Arc`.
pub struct MetaStore {
    pub(crate) tables: Tables,
    pub(crate) config: MetaConfig,
    jobs: Option<mpsc::Sender<Work>>,
    writer: Option<JoinHandle<()>>,
}

impl MetaStore {
    /// Opens (or creates) the index in `dir` and starts its writer thread.
    /// Recovery (replaying fjall's journal) happens here.
    pub fn open(dir: impl AsRef<Path>, config: MetaConfig) -> Result<MetaStore> {
        if config.part_power > 32 {
            return Err(MetaError::Invalid(format!("partition power {} is above 32", config.part_power)));
        }
        let db = Database::builder(dir.as_ref()).cache_size(config.cache_bytes).open()?;
        let open = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let tables = Tables {
            buckets: open("buckets")?,
            keys: open("keys")?,
            objects: open("objects")?,
            uploads: open("uploads")?,
            parts: open("parts")?,
            counters: open("counters")?,
            events: open("events")?,
            raft_log: open("raft_log")?,
            raft_meta: open("raft_meta")?,
            groups: open("groups")?,
            cluster: open("cluster")?,
            meta: open("meta")?,
            db: db.clone(),
        };
        match tables.meta.get(FORMAT_MARKER)? {
            Some(v) if v.as_ref() == [KEY_FORMAT] => {}
            Some(v) => return Err(MetaError::Corrupt(format!("unsupported index format {:?}", v.as_ref()))),
            None => {
                let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
                batch.insert(&tables.meta, FORMAT_MARKER, [KEY_FORMAT]);
                batch.commit()?;
            }
        }
        // Object and upload keys begin with an index partition computed
        // with the partition power the index was created with; a later ring
        // with another power must not move existing rows out of reach.
        let mut config = config;
        match tables.meta.get(INDEX_PART_POWER)? {
            Some(v) if v.len() == 1 => config.part_power = v[0],
            Some(v) => return Err(MetaError::Corrupt(format!("bad index partition power {:?}", v.as_ref()))),
            None => {
                let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
                batch.insert(&tables.meta, INDEX_PART_POWER, [config.part_power]);
                batch.commit()?;
            }
        }
        let state = WriterState::recover(&tables, &config)?;
        let (jobs, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("arca-meta-writer".into())
            .spawn({
                let tables = tables.clone();
                move || writer::run(tables, state, receiver)
            })
            .map_err(|e| MetaError::Invalid(format!("cannot start the metadata writer: {e}")))?;
        let store = MetaStore { tables, config, jobs: Some(jobs), writer: Some(writer) };
        for group in store.finish_interrupted_installs()? {
            tracing::warn!(group, "a snapshot install was interrupted; the group starts over empty");
        }
        Ok(store)
    }

    /// Runs `mutation` on the writer thread and waits until its writes (if
    /// it returned `Ok`) are durable. An `Err` from the mutation discards
    /// everything it staged.
    pub(crate) fn submit<R, F>(&self, mutation: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel::<Result<R>>(1);
        let job = Self::job(mutation, move |result| {
            let _ = reply.send(result);
        });
        self.send(Work { jobs: vec![job], sync: true })?;
        answer.recv().map_err(|_| MetaError::Closed)?
    }

    /// Queues mutations that commit together (in one fjall batch), synced
    /// or not; the future resolves with each one's result once the batch
    /// is committed.
    pub(crate) fn submit_all_async<R, F>(
        &self,
        mutations: Vec<F>,
        sync: bool,
    ) -> impl Future<Output = Result<Vec<Result<R>>>> + Send + 'static
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        let mut answers = Vec::with_capacity(mutations.len());
        let mut jobs = Vec::with_capacity(mutations.len());
        for mutation in mutations {
            let (reply, answer) = oneshot::channel::<Result<R>>();
            jobs.push(Self::job(mutation, move |result| {
                let _ = reply.send(result);
            }));
            answers.push(answer);
        }
        let queued = self.send(Work { jobs, sync });
        async move {
            queued?;
            let mut out = Vec::with_capacity(answers.len());
            for answer in answers {
                out.push(answer.await.map_err(|_| MetaError::Closed)?);
            }
            Ok(out)
        }
    }

    /// [`submit`](Self::submit) for async callers: the mutation is queued
    /// now, and the future resolves once its writes are durable, without a
    /// thread blocked on the commit meanwhile. Dropping the future does not
    /// cancel the mutation.
    pub(crate) fn submit_async<R, F>(&self, mutation: F) -> impl Future<Output = Result<R>> + Send + 'static
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<R>>();
        let job = Self::job(mutation, move |result| {
            let _ = reply.send(result);
        });
        let queued = self.send(Work { jobs: vec![job], sync: true });
        async move {
            queued?;
            answer.await.map_err(|_| MetaError::Closed)?
        }
    }

    /// A job for the writer thread: `deliver` gets the mutation's result
    /// once the group it joined is committed (or failed to commit). A
    /// mutation that panics drops `deliver`, which its caller sees as
    /// `Closed`.
    fn job<R, F, D>(mutation: F, deliver: D) -> Job
    where
        R: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
        D: FnOnce(Result<R>) + Send + 'static,
    {
        Box::new(move |txn| {
            let result = mutation(txn);
            let keep = result.is_ok();
            let done: writer::Reply = Box::new(move |committed| deliver(committed.and(result)));
            (keep, done)
        })
    }

    fn send(&self, work: Work) -> Result<()> {
        let jobs = self.jobs.as_ref().ok_or(MetaError::Closed)?;
        jobs.send(work).map_err(|_| MetaError::Closed)
    }

    /// A value this node keeps for itself (never replicated): node-local
    /// facts such as "this node joined a cluster".
    pub fn local_value(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.meta.get(format!("local:{name}"))?.map(|v| v.to_vec()))
    }

    /// Stores a node-local value durably.
    pub fn set_local_value(&self, name: &str, value: &[u8]) -> Result<()> {
        let mut batch = self.tables.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.tables.meta, format!("local:{name}"), value);
        batch.commit()?;
        Ok(())
    }

    /// The index partition of `bucket`'s index shard: the first four bytes of
    /// every object and upload key of the bucket.
    pub fn index_partition(&self, bucket: ObjectId) -> u32 {
        keys::index_partition(bucket, self.config.part_power)
    }

    /// Live objects and bytes, and live multipart uploads, of a bucket
    /// (zeros for a bucket never written). Updated in the same commit as the
    /// rows they count.
    /// With several ranges of the bucket on this node, the sum of their
    /// counters.
    pub fn bucket_stats(&self, bucket: ObjectId) -> Result<BucketStats> {
        let mut total = BucketStats::default();
        for guard in self.tables.counters.prefix(keys::counter_key(bucket)) {
            let (_, value) = guard.into_inner()?;
            let stats: BucketStats = codec::decode(&value)?;
            total.objects += stats.objects;
            total.bytes += stats.bytes;
            total.uploads += stats.uploads;
        }
        Ok(total)
    }

    /// Every body id a row refers to: the blob runs of striped objects and of
    /// uploaded parts. Read from one snapshot, so a body moving from a part
    /// row to an object row (a completing upload) is seen in one of them.
    /// Garbage collection deletes blobs of bodies outside this set; the cost
    /// is one pass over the objects and parts tables.
    pub fn referenced_bodies(&self) -> Result<HashSet<ObjectId>> {
        let snapshot = self.tables.db.snapshot();
        let mut bodies = HashSet::new();
        for guard in snapshot.iter(&self.tables.objects) {
            let (_key, value) = guard.into_inner()?;
            let row: ObjectRow = codec::decode(&value)?;
            if let ObjectBody::Striped(manifest) = row.body {
                bodies.extend(manifest.parts.iter().map(|p| p.body));
            }
        }
        for guard in snapshot.iter(&self.tables.parts) {
            let (_key, value) = guard.into_inner()?;
            let row: PartRow = codec::decode(&value)?;
            bodies.insert(row.body);
        }
        Ok(bodies)
    }

    /// The greatest timestamp of the rows this store holds, or `None` if
    /// it holds none: a clock that observes it keeps ordering new writes
    /// after stored ones even if the wall clock stepped back while the
    /// server was down.
    ///
    /// Read at open, not kept: the catalog, uploads and parts tables are
    /// read whole (they are small: buckets, keys, uploads in progress and
    /// recently closed), and every object write appends an event, so the
    /// last events stand for the object rows. Events are numbered in commit
    /// order while their timestamps come from the request, so the last
    /// `EVENT_WINDOW` are read, not only the last one.
    pub fn latest_timestamp(&self) -> Result<Option<Timestamp>> {
        const EVENT_WINDOW: usize = 1000;
        fn max_in<T: Row + codec::Value>(keyspace: &Keyspace, latest: &mut Option<Timestamp>) -> Result<()> {
            for guard in keyspace.iter() {
                let (_, value) = guard.into_inner()?;
                let ts = codec::decode::<T>(&value)?.timestamp();
                *latest = (*latest).max(Some(ts));
            }
            Ok(())
        }
        let mut latest = None;
        max_in::<BucketRow>(&self.tables.buckets, &mut latest)?;
        max_in::<KeyRow>(&self.tables.keys, &mut latest)?;
        max_in::<UploadRow>(&self.tables.uploads, &mut latest)?;
        max_in::<PartRow>(&self.tables.parts, &mut latest)?;
        for guard in self.tables.events.iter().rev().take(EVENT_WINDOW) {
            let (_, value) = guard.into_inner()?;
            let event: EventRow = codec::decode(&value)?;
            latest = latest.max(Some(event.ts));
        }
        Ok(latest)
    }

    /// Up to `limit` events with a sequence number above `seq`, in order.
    /// Sequence numbers start at 1, so `events_after(0, n)` reads from the
    /// start of the log.
    pub fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<EventRow>> {
        let Some(from) = seq.checked_add(1) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for guard in self.tables.events.range(keys::event_key(from)..).take(limit) {
            let (_key, value) = guard.into_inner()?;
            out.push(codec::decode(&value)?);
        }
        Ok(out)
    }
}

impl Drop for MetaStore {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has committed and
        // answered everything already queued.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
