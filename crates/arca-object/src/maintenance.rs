//! Background upkeep of this node's blob stores.
//!
//! - Compaction: deleted and overwritten blobs leave garbage in their
//!   volumes (Q6: a delete only marks); every `compact_interval` each store
//!   rewrites the volumes whose garbage ratio passed `compact_garbage_ratio`.
//! - Scrub, the auditor (S9): every `scrub_interval` each store re-reads and
//!   verifies every record and reports live blobs that fail their checksum.
//!   With one replica there is nothing to repair them from; the report says
//!   which objects are hurt. (The replicator will restore them from a good
//!   replica once objects have more than one.)
//!
//! Both run off the async threads, one store at a time, so upkeep never
//! takes more than one core from serving.

use std::sync::Arc;
use std::time::Duration;

use arca_blob::BlobStore;

use crate::placement::BlobPlacement;

#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    pub compact_interval: Duration,
    /// A volume is rewritten once this share of its bytes is garbage.
    pub compact_garbage_ratio: f64,
    pub scrub_interval: Duration,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            compact_interval: Duration::from_secs(60),
            compact_garbage_ratio: 0.3,
            scrub_interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// Starts the upkeep tasks; they run until the runtime stops.
pub fn start_maintenance(placement: Arc<BlobPlacement>, config: MaintenanceConfig) {
    let stores: Vec<(u32, Arc<BlobStore>)> =
        placement.local_stores().map(|(id, s)| (id, s.clone())).collect();
    let ratio = config.compact_garbage_ratio;
    tokio::spawn(every(config.compact_interval, stores.clone(), move |device, store| {
        compact(device, store, ratio)
    }));
    tokio::spawn(every(config.scrub_interval, stores, scrub));
}

async fn every(
    period: Duration,
    stores: Vec<(u32, Arc<BlobStore>)>,
    job: impl Fn(u32, &BlobStore) + Send + Sync + Copy + 'static,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate: wait one period first
    loop {
        ticks.tick().await;
        for (device, store) in &stores {
            let store = store.clone();
            let device = *device;
            if let Err(err) = tokio::task::spawn_blocking(move || job(device, &store)).await {
                tracing::error!(device, error = %err, "a maintenance job failed");
            }
        }
    }
}

fn compact(device: u32, store: &BlobStore, ratio: f64) {
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

fn scrub(device: u32, store: &BlobStore) {
    match store.scrub() {
        Ok(report) => {
            for bad in &report.corrupt {
                tracing::error!(device, blob = %bad.id, volume = bad.volume, offset = bad.offset, reason = %bad.reason,
                    "scrub found a corrupt blob");
            }
            tracing::info!(
                device,
                records = report.records_checked,
                bytes = report.bytes_read,
                corrupt = report.corrupt.len(),
                "scrub finished"
            );
        }
        Err(err) => tracing::error!(device, error = %err, "scrub failed"),
    }
}
