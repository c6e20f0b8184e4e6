//! Index upkeep: reclaiming old tombstones and trimming the event log.
//!
//! Deletes write tombstones so that last writer wins can order a delete
//! against a put it has not yet met (a replica that missed the put, a
//! delayed write). Past a reclaim age no such put can still arrive (Swift's
//! `reclaim_age`), and the tombstone is only weight: this module removes
//! object and upload tombstones older than a cutoff. The event log is
//! trimmed by age the same way; when the event consumers keep offsets
//! (lifecycle, notifications, replication), trimming will also wait for the
//! slowest of them.
//!
//! Both scan outside the writer and remove in batches through it, each
//! removal re-checked in the writer so a row rewritten since the scan is
//! left alone.

use arca_types::Timestamp;

use crate::rows::{EventRow, ObjectRow, Row, UploadRow};
use crate::store::{MetaStore, Table};
use crate::{Result, codec};

/// Removals per mutation: bounds one group commit.
const BATCH: usize = 1000;

/// What a [`MetaStore::reclaim_tombstones`] pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    pub objects: u64,
    pub uploads: u64,
}

impl MetaStore {
    /// Removes every object and upload tombstone with a timestamp before
    /// `before`. Once a tombstone is gone, a put older than the delete is
    /// no longer refused by last writer wins, so `before` must lie further
    /// back than any write can be delayed.
    pub fn reclaim_tombstones(&self, before: Timestamp) -> Result<Reclaimed> {
        // Object rows are checked by their head alone (no body decode).
        let objects = self.reclaim_in::<ObjectRow>(Table::Objects, before, |value| {
            let head = codec::decode_object_head(value)?;
            Ok(head.deleted && head.ts < before)
        })?;
        let uploads = self.reclaim_in::<UploadRow>(Table::Uploads, before, |value| {
            let row: UploadRow = codec::decode(value)?;
            Ok(row.deleted && row.ts < before)
        })?;
        Ok(Reclaimed { objects, uploads })
    }

    /// One table's pass: every row `old` accepts is removed, in batches.
    fn reclaim_in<T>(
        &self,
        table: Table,
        before: Timestamp,
        old: impl Fn(&[u8]) -> Result<bool>,
    ) -> Result<u64>
    where
        T: Row + codec::Value,
    {
        let mut removed = 0;
        let mut batch = Vec::new();
        for guard in self.tables.keyspace(table).iter() {
            let (key, value) = guard.into_inner()?;
            if old(&value)? {
                batch.push(key.to_vec());
            }
            if batch.len() == BATCH {
                removed += self.remove_old_tombstones::<T>(table, std::mem::take(&mut batch), before)?;
            }
        }
        Ok(removed + self.remove_old_tombstones::<T>(table, batch, before)?)
    }

    /// Removes the rows at `keys` that are still tombstones older than
    /// `before` when the writer reaches them; returns how many it removed.
    fn remove_old_tombstones<T>(&self, table: Table, keys: Vec<Vec<u8>>, before: Timestamp) -> Result<u64>
    where
        T: Row + codec::Value,
    {
        if keys.is_empty() {
            return Ok(0);
        }
        self.submit(move |txn| {
            let mut removed = 0;
            for key in keys {
                if let Some(row) = txn.get::<T>(table, &key)?
                    && row.is_deleted()
                    && row.timestamp() < before
                {
                    txn.remove(table, key);
                    removed += 1;
                }
            }
            Ok(removed)
        })
    }

    /// Removes the events with a timestamp before `before`, oldest first
    /// (event keys are the big-endian sequence number, so key order is log
    /// order), stopping at the first newer one; returns how many it
    /// removed. The newest event is always kept: the next sequence number is
    /// recovered from it when the store opens, so numbers never repeat.
    pub fn trim_events(&self, before: Timestamp) -> Result<u64> {
        let mut trimmed = 0;
        loop {
            let mut batch = Vec::new();
            let mut iter = self.tables.events.iter().peekable();
            while let Some(guard) = iter.next() {
                if iter.peek().is_none() || batch.len() == BATCH {
                    break;
                }
                let (key, value) = guard.into_inner()?;
                let event: EventRow = codec::decode(&value)?;
                if event.ts >= before {
                    break;
                }
                batch.push(key.to_vec());
            }
            if batch.is_empty() {
                return Ok(trimmed);
            }
            let full = batch.len() == BATCH;
            trimmed += batch.len() as u64;
            self.submit(move |txn| {
                for key in batch {
                    txn.remove(Table::Events, key);
                }
                Ok(())
            })?;
            if !full {
                return Ok(trimmed);
            }
        }
    }
}
