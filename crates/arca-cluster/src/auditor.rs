//! The auditor (seeds S9): a scrub of a device finds blobs whose bytes no
//! longer match their checksum; each is moved to the device's quarantine
//! and a good copy is fetched from another replica and stored in its place.

use std::sync::Arc;

use arca_blob::BlobStore;
use arca_types::BlobId;

use crate::blobs::BlobPlacement;
use crate::cluster::Cluster;
use crate::topology::{Target, Topology};

/// What one audit of a device did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub records_checked: u64,
    pub corrupt: u64,
    pub repaired: u64,
}

/// Scrubs one local device and repairs what it finds.
pub async fn audit(cluster: &Arc<Cluster>, device: &str, store: Arc<BlobStore>) -> AuditReport {
    let scrub = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.scrub()).await
    };
    let report = match scrub {
        Ok(Ok(report)) => report,
        Ok(Err(err)) => {
            tracing::error!(device, error = %err, "scrub failed");
            return AuditReport::default();
        }
        Err(err) => {
            tracing::error!(device, error = %err, "scrub failed");
            return AuditReport::default();
        }
    };
    let mut audit = AuditReport {
        records_checked: report.records_checked,
        corrupt: report.corrupt.len() as u64,
        repaired: 0,
    };
    let me = Target { node: cluster.addr.clone(), device: device.to_owned() };
    for bad in report.corrupt {
        tracing::error!(device, blob = %bad.id, volume = bad.volume, offset = bad.offset, reason = %bad.reason,
            "scrub found a corrupt blob");
        let len = store.stat(&bad.id).map(|info| info.len);
        let quarantined = {
            let (store, id) = (store.clone(), bad.id);
            tokio::task::spawn_blocking(move || store.quarantine(&id)).await
        };
        match quarantined {
            Ok(Ok(Some(path))) => {
                tracing::warn!(blob = %bad.id, path = %path.display(), "corrupt blob quarantined")
            }
            Ok(Ok(None)) => continue,
            Ok(Err(err)) => {
                tracing::error!(blob = %bad.id, error = %err, "could not quarantine a corrupt blob");
                continue;
            }
            Err(err) => {
                tracing::error!(blob = %bad.id, error = %err, "could not quarantine a corrupt blob");
                continue;
            }
        }
        if let Some(len) = len
            && repair(cluster, &me, bad.id, len).await
        {
            audit.repaired += 1;
        }
    }
    audit
}

/// Fetches an intact copy of `id` from another replica and stores it on
/// `me`. Returns whether it did.
async fn repair(cluster: &Arc<Cluster>, me: &Target, id: BlobId, len: u64) -> bool {
    let rings = cluster.topology.rings();
    let partition = BlobPlacement::partition_of(&rings.current, &id);
    let mut sources = Topology::primaries(&rings.current, partition);
    if let Some(previous) = &rings.previous {
        sources.extend(Topology::primaries(previous, BlobPlacement::partition_of(previous, &id)));
    }
    sources.extend(Topology::handoffs(
        &rings.current,
        partition,
        usize::from(rings.current.replicas()) * 2 + 2,
    ));
    for source in sources.iter().filter(|s| *s != me) {
        match cluster.blobs.get_from(source, id, 0, len).await {
            Ok(data) => match cluster.blobs.put_to(me, id, partition, data).await {
                Ok(()) => {
                    tracing::warn!(blob = %id, from = %source, "repaired a corrupt blob copy from a good one");
                    return true;
                }
                Err(err) => {
                    tracing::error!(blob = %id, error = %err, "could not store the repaired blob");
                    return false;
                }
            },
            Err(err) => tracing::debug!(blob = %id, %source, error = %err, "no good copy there"),
        }
    }
    tracing::error!(blob = %id, "no intact copy of a corrupt blob was found; it stays lost here");
    false
}
