//! The replicator (seeds S4, S5): keeps every partition's blobs on all of
//! its primaries, and moves copies that are elsewhere home.
//!
//! Each pass walks this node's devices partition by partition:
//! - where the device is a primary of the partition, its digest (a hash of
//!   the partition's (id, length, checksum) set) is compared with every
//!   other primary's; where they differ, the two lists are compared and
//!   what the peer lacks is pushed to it. Every primary does the same, so
//!   copies converge on the union: a node that was down is made whole by
//!   its peers without anyone asking.
//! - where it is not (a handoff written while a primary was down, a
//!   device the ring moved the partition away from, a device no longer in
//!   the ring), every blob is pushed to the primaries that lack it, and
//!   once every primary holds every one of them they are deleted here.
//!
//! Blobs are immutable, so a union never conflicts. A blob deleted on some
//! copies while another was unreachable comes back from that copy; no row
//! refers to it, and garbage collection deletes it again — deletes cost
//! space until then, never correctness.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arca_blob::BlobStore;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::blobs::BlobEntry;
use crate::cluster::Cluster;
use crate::topology::{Target, Topology};

/// How the replicator is doing on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// Partitions found out of step (or that could not be checked) in the
    /// last finished pass.
    pub pending_partitions: u64,
    /// When the last pass finished, Unix seconds (0: none yet).
    pub last_pass_unix: u64,
    /// When this node started, Unix seconds.
    pub started_unix: u64,
    /// Passes finished since start.
    pub passes: u64,
    /// Blob copies pushed to peers, and handed-off copies removed, since start.
    pub pushed: u64,
    pub drained: u64,
}

impl ReplicationStatus {
    pub fn last_pass_age_secs(&self) -> u64 {
        let since = if self.last_pass_unix > 0 { self.last_pass_unix } else { self.started_unix };
        unix_now().saturating_sub(since)
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn start(cluster: Arc<Cluster>) {
    cluster.replication.write().started_unix = unix_now();
    let period = cluster.replication_interval;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let (pending, pushed, drained) = pass(&cluster).await;
            let mut status = cluster.replication.write();
            status.pending_partitions = pending;
            status.last_pass_unix = unix_now();
            status.passes += 1;
            status.pushed += pushed;
            status.drained += drained;
            if pending > 0 || pushed > 0 || drained > 0 {
                tracing::info!(pending, pushed, drained, "replication pass finished");
            }
        }
    });
}

/// One pass over every local device; returns (partitions pending, copies
/// pushed, handed-off copies removed).
pub async fn pass(cluster: &Arc<Cluster>) -> (u64, u64, u64) {
    if !cluster.role.stores() {
        return (0, 0, 0);
    }
    let ring = cluster.topology.ring();
    let (mut pending, mut pushed, mut drained) = (0, 0, 0);
    for (device, store) in cluster.blobs.local_stores() {
        let me = Target { node: cluster.addr.clone(), device };
        for partition in store.partitions() {
            let primaries = Topology::primaries(&ring, partition);
            let outcome = if primaries.contains(&me) {
                sync_partition(cluster, &store, &me, partition, &primaries).await
            } else {
                drain_partition(cluster, &store, partition, &primaries).await
            };
            pushed += outcome.pushed;
            drained += outcome.drained;
            if !outcome.settled {
                pending += 1;
            }
        }
    }
    (pending, pushed, drained)
}

#[derive(Default)]
struct Outcome {
    /// Every copy was where it belongs when the partition was checked.
    settled: bool,
    pushed: u64,
    drained: u64,
}

fn list(store: &BlobStore, partition: u32) -> Vec<BlobEntry> {
    store
        .partition_blobs(partition)
        .into_iter()
        .map(|(id, info)| BlobEntry { id, len: info.len, crc32c: info.crc32c })
        .collect()
}

/// Pushes to `peer` every local blob of the partition it lacks; returns how
/// many were pushed, or `None` if the peer could not be compared or a push
/// failed.
async fn push_missing(
    cluster: &Cluster,
    store: &Arc<BlobStore>,
    partition: u32,
    local: &[BlobEntry],
    peer: &Target,
) -> Option<u64> {
    let theirs = cluster.blobs.list_partition(peer, partition).await.ok()?;
    let theirs: HashMap<_, _> = theirs.into_iter().map(|e| (e.id, e)).collect();
    let mut pushed = 0;
    for entry in local {
        if theirs.contains_key(&entry.id) {
            continue;
        }
        let (store, id) = (store.clone(), entry.id);
        let data = match tokio::task::spawn_blocking(move || store.get(&id)).await {
            Ok(Ok(data)) => Bytes::from(data),
            // A copy gone since the listing, or corrupt (the auditor's
            // business): nothing to push.
            _ => continue,
        };
        if let Err(err) = cluster.blobs.put_to(peer, entry.id, partition, data).await {
            tracing::debug!(blob = %entry.id, %peer, error = %err, "could not push a blob copy");
            return None;
        }
        pushed += 1;
    }
    Some(pushed)
}

/// A primary's partition: compare with every other primary, push what they
/// lack.
async fn sync_partition(
    cluster: &Cluster,
    store: &Arc<BlobStore>,
    me: &Target,
    partition: u32,
    primaries: &[Target],
) -> Outcome {
    let digest = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.partition_digest(partition)).await.unwrap_or_default()
    };
    let mut outcome = Outcome { settled: true, ..Outcome::default() };
    let mut local: Option<Vec<BlobEntry>> = None;
    for peer in primaries.iter().filter(|p| *p != me) {
        match cluster.blobs.digest(peer, partition).await {
            Ok(theirs) if theirs == digest => continue,
            Ok(_) => {}
            Err(_) => {
                outcome.settled = false;
                continue;
            }
        }
        outcome.settled = false;
        if local.is_none() {
            let store = store.clone();
            local =
                Some(tokio::task::spawn_blocking(move || list(&store, partition)).await.unwrap_or_default());
        }
        if let Some(pushed) =
            push_missing(cluster, store, partition, local.as_deref().unwrap_or(&[]), peer).await
        {
            outcome.pushed += pushed;
        }
    }
    outcome
}

/// A partition this device holds without being its primary: hand every
/// blob to the primaries, then let go of it.
async fn drain_partition(
    cluster: &Cluster,
    store: &Arc<BlobStore>,
    partition: u32,
    primaries: &[Target],
) -> Outcome {
    let local = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || list(&store, partition)).await.unwrap_or_default()
    };
    let mut outcome = Outcome::default();
    let mut everywhere = !primaries.is_empty();
    for primary in primaries {
        match push_missing(cluster, store, partition, &local, primary).await {
            Some(pushed) => outcome.pushed += pushed,
            None => everywhere = false,
        }
    }
    if !everywhere {
        return outcome;
    }
    // Deleted only once every primary lists every blob, length and
    // checksum alike.
    for primary in primaries {
        let Ok(theirs) = cluster.blobs.list_partition(primary, partition).await else { return outcome };
        let theirs: HashMap<_, _> = theirs.into_iter().map(|e| (e.id, e)).collect();
        if local.iter().any(|e| theirs.get(&e.id).is_none_or(|t| t.len != e.len || t.crc32c != e.crc32c)) {
            return outcome;
        }
    }
    for entry in &local {
        let (store, id) = (store.clone(), entry.id);
        if let Ok(Ok(true)) = tokio::task::spawn_blocking(move || store.delete(&id)).await {
            outcome.drained += 1;
        }
    }
    outcome.settled = true;
    outcome
}

/// How often the replicator runs by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
