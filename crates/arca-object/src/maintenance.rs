//! Background upkeep of this node's blob stores and index.
//!
//! - Compaction: deleted and overwritten blobs leave garbage in their
//!   volumes (Q6: a delete only marks); every `compact_interval` each store
//!   rewrites the volumes whose garbage ratio passed `compact_garbage_ratio`.
//! - Scrub, the auditor (S9): every `scrub_interval` each store re-reads and
//!   verifies every record; a live blob that fails its checksum is moved to
//!   quarantine and a good copy is fetched from another replica
//!   (arca-cluster `auditor`). With one replica there is nothing to repair
//!   from; the log says which blob is lost.
//!
//! - Garbage collection: blobs that no row refers to — left by a crash
//!   between storing a body and committing its row, queued for deletion
//!   when the process stopped (see `reclaim`), or brought back by the
//!   replicator from a copy that missed a delete — are deleted every
//!   `gc_interval`, once their body is older than `gc_min_age`. What rows
//!   refer to is asked of every index range's leader (arca-cluster `gc`);
//!   if any cannot answer, nothing is deleted. Body ids are time-ordered,
//!   so a blob's age is read off its id; the age floor keeps the sweep away
//!   from bodies whose upload is still running (their row is not committed
//!   yet), so it must exceed the longest single upload.
//!
//! - Index upkeep: every `index_upkeep_interval` the index drops object and
//!   upload tombstones older than `tombstone_reclaim_age` (by then no write
//!   they must order can still arrive) and events older than
//!   `event_retention`.
//!
//! All run off the async threads, one store at a time, so upkeep never
//! takes more than one core from serving.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arca_blob::BlobStore;
use arca_cluster::Cluster;
use arca_meta::MetaStore;
use arca_types::{BlobId, ObjectId, Timestamp};

#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    pub compact_interval: Duration,
    /// A volume is rewritten once this share of its bytes is garbage.
    pub compact_garbage_ratio: f64,
    pub scrub_interval: Duration,
    pub gc_interval: Duration,
    pub gc_min_age: Duration,
    pub index_upkeep_interval: Duration,
    /// Tombstones older than this are removed: it must exceed the longest a
    /// write can be delayed (a replica down, a handoff not yet delivered).
    pub tombstone_reclaim_age: Duration,
    /// Events older than this are removed from the log.
    pub event_retention: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            compact_interval: Duration::from_secs(60),
            compact_garbage_ratio: 0.3,
            scrub_interval: Duration::from_secs(24 * 3600),
            gc_interval: Duration::from_secs(3600),
            gc_min_age: Duration::from_secs(24 * 3600),
            index_upkeep_interval: Duration::from_secs(3600),
            // Swift's reclaim_age.
            tombstone_reclaim_age: Duration::from_secs(7 * 24 * 3600),
            event_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Starts the upkeep tasks; they run until the runtime stops.
pub fn start_maintenance(cluster: Arc<Cluster>, config: MaintenanceConfig) {
    let ratio = config.compact_garbage_ratio;
    let meta = cluster.meta().clone();
    tokio::spawn(every(config.compact_interval, cluster.clone(), move |_, device, store| async move {
        let _ = tokio::task::spawn_blocking(move || compact(&device, &store, ratio)).await;
    }));
    tokio::spawn(every(config.scrub_interval, cluster.clone(), |cluster, device, store| async move {
        let report = arca_cluster::auditor::audit(&cluster, &device, store).await;
        tracing::info!(
            device,
            records = report.records_checked,
            corrupt = report.corrupt,
            repaired = report.repaired,
            "scrub finished"
        );
    }));
    tokio::spawn(collect_garbage(cluster, config.gc_interval, config.gc_min_age));
    tokio::spawn(index_upkeep(meta, config));
}

async fn index_upkeep(meta: Arc<MetaStore>, config: MaintenanceConfig) {
    let mut ticks = ticker(config.index_upkeep_interval).await;
    loop {
        ticks.tick().await;
        let meta = meta.clone();
        let now = wall_micros();
        let cutoff = |age: Duration| Timestamp::new(now.saturating_sub(age.as_micros() as u64), 0);
        let (tombstones, events) = (cutoff(config.tombstone_reclaim_age), cutoff(config.event_retention));
        let pass = tokio::task::spawn_blocking(move || {
            Ok::<_, arca_meta::MetaError>((meta.reclaim_tombstones(tombstones)?, meta.trim_events(events)?))
        });
        match pass.await {
            Ok(Ok((reclaimed, trimmed))) => tracing::info!(
                object_tombstones = reclaimed.objects,
                upload_tombstones = reclaimed.uploads,
                events = trimmed,
                "index upkeep removed old tombstones and events"
            ),
            Ok(Err(err)) => tracing::error!(error = %err, "index upkeep failed"),
            Err(err) => tracing::error!(error = %err, "index upkeep failed"),
        }
    }
}

async fn collect_garbage(cluster: Arc<Cluster>, period: Duration, min_age: Duration) {
    let mut ticks = ticker(period).await;
    loop {
        ticks.tick().await;
        // The cutoff is taken before the rows are read: a body created after
        // it is left alone whatever the ranges say about it.
        let cutoff = wall_micros().saturating_sub(min_age.as_micros() as u64);
        let referenced = match arca_cluster::gc::referenced_bodies(&cluster).await {
            Ok(bodies) => Arc::new(bodies),
            Err(err) => {
                tracing::warn!(error = %err, "garbage collection skipped: not every index range answered");
                continue;
            }
        };
        for (device, store) in cluster.blobs().local_stores() {
            let referenced = referenced.clone();
            let garbage =
                match tokio::task::spawn_blocking(move || unreferenced(&store, &referenced, cutoff)).await {
                    Ok(garbage) => garbage,
                    Err(err) => {
                        tracing::error!(device, error = %err, "garbage collection failed");
                        continue;
                    }
                };
            // Deleted wherever the rings place the blob, not only here: a
            // copy left on a peer would be pushed back by the replicator.
            for id in &garbage {
                if let Err(err) = cluster.blobs().delete(*id).await {
                    tracing::warn!(blob = %id, error = %err, "could not delete an unreferenced blob");
                }
            }
            if !garbage.is_empty() {
                tracing::info!(device, deleted = garbage.len(), "deleted unreferenced blobs");
            }
        }
    }
}

/// The blobs of `store` whose body is older than `cutoff` and not
/// referenced.
fn unreferenced(store: &BlobStore, referenced: &HashSet<ObjectId>, cutoff: u64) -> Vec<BlobId> {
    let mut out = Vec::new();
    for partition in store.partitions() {
        for (id, _) in store.partition_blobs(partition) {
            if id.object.created_micros() < cutoff && !referenced.contains(&id.object) {
                out.push(id);
            }
        }
    }
    out
}

/// An interval whose next tick is one `period` from now (a fresh interval
/// ticks at once) and that waits a whole period after a late pass rather
/// than catching up.
async fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    ticks
}

fn wall_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Runs `job` on each of this node's devices every `period` (the devices
/// are listed anew each time: a new ring may add some).
async fn every<F, Fut>(period: Duration, cluster: Arc<Cluster>, job: F)
where
    F: Fn(Arc<Cluster>, String, Arc<BlobStore>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut ticks = ticker(period).await;
    loop {
        ticks.tick().await;
        for (device, store) in cluster.blobs().local_stores() {
            if let Err(err) = tokio::spawn(job(cluster.clone(), device.clone(), store)).await {
                tracing::error!(device, error = %err, "a maintenance job failed");
            }
        }
    }
}

fn compact(device: &str, store: &BlobStore, ratio: f64) {
    match store.compact(ratio) {
        Ok(report) if report.volumes_compacted > 0 => tracing::info!(
            device,
            volumes = report.volumes_compacted,
            blobs_moved = report.blobs_moved,
            bytes_reclaimed = report.bytes_reclaimed,
            "compacted volumes"
        ),
        Ok(_) => {}
        Err(err) => tracing::error!(device, error = %err, "compaction failed"),
    }
}
