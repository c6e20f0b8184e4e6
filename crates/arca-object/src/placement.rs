//! Where blobs live: the ring maps a blob to the devices of its partition,
//! and this module writes to and reads from those devices with quorums.
//!
//! A blob's placement key is its 20-byte id, so the stripes of one object
//! spread over partitions (and, in a cluster, over devices) independently, as
//! RADOS objects do in Ceph RGW (R1). A write succeeds once a majority of the
//! partition's primaries hold it durably (W = N/2 + 1, seeds S6/S10); a read
//! tries the primaries in ring order and then the handoffs, skipping a copy
//! that is missing or fails its checksum (S7).
//!
//! Only devices of this node are reachable today; a device on another node
//! counts as a failed replica until node RPC exists, which keeps the quorum
//! arithmetic honest on the day it does.

use std::collections::HashMap;
use std::sync::Arc;

use arca_blob::{BlobError, BlobStore};
use arca_ring::Ring;
use arca_types::BlobId;
use bytes::Bytes;

use crate::error::{ObjectError, ObjectResult};

pub struct BlobPlacement {
    ring: Arc<Ring>,
    local: HashMap<u32, Arc<BlobStore>>,
}

impl BlobPlacement {
    /// `local` maps the ring's device ids to this node's blob stores.
    pub fn new(ring: Arc<Ring>, local: HashMap<u32, Arc<BlobStore>>) -> Self {
        BlobPlacement { ring, local }
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    pub fn local_stores(&self) -> impl Iterator<Item = (u32, &Arc<BlobStore>)> {
        self.local.iter().map(|(id, store)| (*id, store))
    }

    fn partition(&self, id: &BlobId) -> u32 {
        self.ring.partition_for_key(&id.to_bytes())
    }

    /// This node's stores for a partition, in the order a read tries them:
    /// primaries first (ring order), then handoffs.
    fn local_candidates(&self, partition: u32) -> impl Iterator<Item = (u32, Arc<BlobStore>)> + '_ {
        let primaries = self.ring.primaries(partition).iter().copied();
        let handoffs = self.ring.handoffs(partition).map(|device| device.id);
        primaries
            .chain(handoffs)
            .filter_map(|id| self.local.get(&id).map(|store| (id, store.clone())))
            .take(self.local.len())
    }

    /// Stores `data` as blob `id` on a write quorum of its primaries.
    pub async fn put(&self, id: BlobId, data: Bytes) -> ObjectResult<()> {
        let partition = self.partition(&id);
        let primaries: Vec<u32> = self.ring.primaries(partition).to_vec();
        let quorum = primaries.len() / 2 + 1;
        let mut tasks = Vec::with_capacity(primaries.len());
        for device in &primaries {
            if let Some(store) = self.local.get(device) {
                let store = store.clone();
                let data = data.clone();
                tasks.push(tokio::task::spawn_blocking(move || store.put(id, partition, &data)));
            }
        }
        let mut stored = 0;
        let mut last_error = None;
        for task in tasks {
            match task.await? {
                Ok(()) => stored += 1,
                Err(err) => {
                    tracing::warn!(blob = %id, error = %err, "blob write failed on a replica");
                    last_error = Some(err);
                }
            }
        }
        if stored >= quorum {
            Ok(())
        } else {
            Err(match last_error {
                Some(err) => err.into(),
                None => ObjectError::Internal(format!(
                    "blob {id}: {stored} of {} replicas reachable, {quorum} needed",
                    primaries.len()
                )),
            })
        }
    }

    /// Bytes `[offset, offset + len)` of blob `id`, from the first replica
    /// that has an intact copy.
    pub async fn get_range(&self, id: BlobId, offset: u64, len: u64) -> ObjectResult<Bytes> {
        let partition = self.partition(&id);
        let mut last_error: Option<BlobError> = None;
        for (device, store) in self.local_candidates(partition) {
            match tokio::task::spawn_blocking(move || store.get_range(&id, offset, len)).await? {
                Ok(data) => return Ok(Bytes::from(data)),
                Err(err) => {
                    if matches!(err, BlobError::Corrupt { .. }) {
                        tracing::error!(blob = %id, device, error = %err, "corrupt blob replica");
                    }
                    last_error = Some(err);
                }
            }
        }
        Err(match last_error {
            Some(BlobError::NotFound(_)) | None => ObjectError::Internal(format!("blob {id} is missing")),
            Some(err) => err.into(),
        })
    }

    /// Removes blob `id` from every local replica (best effort: a replica
    /// that is unreachable keeps an orphan that garbage collection finds).
    pub async fn delete(&self, id: BlobId) -> ObjectResult<()> {
        let partition = self.partition(&id);
        for (_, store) in self.local_candidates(partition) {
            tokio::task::spawn_blocking(move || store.delete(&id)).await??;
        }
        Ok(())
    }
}
