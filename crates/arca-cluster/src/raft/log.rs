//! A group's Raft log, vote and commit index, in the node's metadata store.
//!
//! Appends wait for the store's group commit (one fdatasync shared with
//! every other group's appends and applies) before they return and before
//! openraft is told they are durable. Entries are postcard-encoded
//! openraft `Entry` values under (group, index).

use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use arca_meta::MetaStore;
use arca_meta::raft::RaftMeta;
use openraft::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};

use super::C;

#[derive(Clone)]
pub struct LogStore {
    meta: Arc<MetaStore>,
    group: u64,
}

impl LogStore {
    pub fn new(meta: Arc<MetaStore>, group: u64) -> Self {
        LogStore { meta, group }
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
        let raw = self.meta.raft_entries(self.group, from, to).map_err(io::Error::other)?;
        raw.iter().map(|(_, bytes)| decode(bytes)).collect()
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.read_value(RaftMeta::Vote)
    }
}

impl RaftLogStorage<C> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let last_purged: Option<LogIdOf<C>> = self.read_value(RaftMeta::Purged)?;
        let last = match self.meta.raft_last_entry(self.group).map_err(io::Error::other)? {
            Some((_, bytes)) => Some(decode::<EntryOf<C>>(&bytes)?.log_id),
            None => None,
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
        // what it knows is committed before it serves.
        let bytes = committed.map(|c| encode(&c)).transpose()?;
        self.meta.raft_set_meta(self.group, RaftMeta::Committed, bytes, false).await.map_err(io::Error::other)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.read_value(RaftMeta::Committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id.index, encode(&entry)?));
        }
        if encoded.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        let result = self.meta.raft_append(self.group, encoded).await.map_err(io::Error::other);
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(err) => {
                callback.io_completed(Err(io::Error::other(err.to_string())));
                Err(err)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        self.meta.raft_truncate(self.group, from).await.map_err(io::Error::other)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        let purged = encode(&log_id)?;
        self.meta.raft_purge(self.group, log_id.index, purged).await.map_err(io::Error::other)
    }
}
