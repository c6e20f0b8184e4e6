//! A group's Raft log, vote and commit index, in the node's metadata store.
//!
//! An append is queued to the store's writer and returns at once; openraft
//! is told the entries are durable (`IOFlushed`) only when the group commit
//! that holds them — one fdatasync shared with every other group's appends
//! and applies — has returned. Meanwhile the entries are served from memory
//! (`pending`), since openraft reads what it appended before it is flushed
//! (to replicate it), and the core goes on to its next append instead of
//! waiting out the disk. Entries are postcard-encoded openraft `Entry`
//! values under (group, index).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use arca_meta::MetaStore;
use arca_meta::raft::RaftMeta;
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use super::C;

/// Entries not yet known durable: index -> (append number, entry).
type Pending = BTreeMap<u64, (u64, EntryOf<C>)>;

#[derive(Clone)]
pub struct LogStore {
    meta: Arc<MetaStore>,
    group: u64,
    /// Entries appended but not yet known durable, by index, with the
    /// number of the append that wrote them (a later append may replace an
    /// index after a truncation; only its own completion removes it).
    pending: Arc<Mutex<Pending>>,
    appends: Arc<AtomicU64>,
}

impl LogStore {
    pub fn new(meta: Arc<MetaStore>, group: u64) -> Self {
        LogStore { meta, group, pending: Arc::default(), appends: Arc::default() }
    }

    fn read_value<T: serde::de::DeserializeOwned>(&self, tag: RaftMeta) -> Result<Option<T>, io::Error> {
        match self.meta.raft_meta(self.group, tag).map_err(io::Error::other)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, io::Error> {
    postcard::to_stdvec(value).map_err(io::Error::other)
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, io::Error> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl RaftLogReader<C> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        if from >= to {
            return Ok(Vec::new());
        }
        // The pending entries first, the store second: an append that
        // completes in between moves its entries from the one to the
        // other, and read the other way round they would be in neither.
        let pending: Vec<(u64, EntryOf<C>)> =
            self.pending.lock().range(from..to).map(|(index, (_, entry))| (*index, entry.clone())).collect();
        let raw = self.meta.raft_entries(self.group, from, to).map_err(io::Error::other)?;
        let mut entries = BTreeMap::new();
        for (index, bytes) in &raw {
            entries.insert(*index, decode::<EntryOf<C>>(bytes)?);
        }
        // A pending entry is the newer write of its index.
        entries.extend(pending);
        Ok(entries.into_values().collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.read_value(RaftMeta::Vote)
    }
}

impl RaftLogStorage<C> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let last_purged: Option<LogIdOf<C>> = self.read_value(RaftMeta::Purged)?;
        // Pending first, as in `try_get_log_entries`.
        let pending = self.pending.lock().values().next_back().map(|(_, e)| e.log_id);
        let stored = match self.meta.raft_last_entry(self.group).map_err(io::Error::other)? {
            // An entry's encoding starts with its log id: only that is read.
            Some((_, bytes)) => Some(
                postcard::take_from_bytes::<LogIdOf<C>>(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                    .0,
            ),
            None => None,
        };
        let last = match (stored, pending) {
            (Some(s), Some(p)) => Some(if p.index >= s.index { p } else { s }),
            (s, p) => s.or(p),
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last.or(last_purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        let bytes = encode(vote)?;
        self.meta.raft_set_meta(self.group, RaftMeta::Vote, Some(bytes), true).await.map_err(io::Error::other)
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        // Not a promise to anyone: it only lets a restarted node re-apply
        // what it knows is committed before it serves. So it is queued and
        // not waited for — the core must not stall on the writer for it.
        let bytes = committed.map(|c| encode(&c)).transpose()?;
        drop(self.meta.raft_set_meta(self.group, RaftMeta::Committed, bytes, false));
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.read_value(RaftMeta::Committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let append = self.appends.fetch_add(1, Ordering::Relaxed);
        let mut encoded = Vec::new();
        {
            let mut pending = self.pending.lock();
            for entry in entries {
                encoded.push((entry.log_id.index, encode(&entry)?));
                pending.insert(entry.log_id.index, (append, entry));
            }
        }
        if encoded.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        let indexes: Vec<u64> = encoded.iter().map(|(index, _)| *index).collect();
        // Queued now, in order with every other write of this store: the
        // writer commits in queue order, so a later completion implies the
        // earlier ones (openraft relies on that).
        let durable = self.meta.raft_append(self.group, encoded);
        let pending = self.pending.clone();
        tokio::spawn(async move {
            let result = durable.await;
            if result.is_ok() {
                let mut pending = pending.lock();
                for index in indexes {
                    if pending.get(&index).is_some_and(|(a, _)| *a == append) {
                        pending.remove(&index);
                    }
                }
            }
            callback.io_completed(result.map_err(|e| io::Error::other(e.to_string())));
        });
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        drop(self.pending.lock().split_off(&from));
        self.meta.raft_truncate(self.group, from).await.map_err(io::Error::other)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let purged = encode(&log_id)?;
        self.meta.raft_purge(self.group, log_id.index, purged).await.map_err(io::Error::other)
    }
}
