//! Replicated blobs (seeds S6, S7, S10): where a blob's copies go, writing
//! them with a quorum, reading one and falling back, and the RPC routes that
//! serve this node's devices to the others.
//!
//! A blob's placement key is its 20-byte id, so the stripes of one object
//! spread over partitions and devices independently (R1). A write sends the
//! stripe to every primary of its partition at once and succeeds once
//! `W = N/2 + 1` of them hold it durably; a primary that is down or fails is
//! replaced by the next handoff device on a node that is up (hinted handoff:
//! the replicator later moves that copy home). A read tries the primaries —
//! this node's own first — then the previous ring's primaries (data not yet
//! moved by a rebalance), this node's other devices, then the handoffs, and
//! skips a copy that is missing, unreachable or fails its checksum; a
//! corrupt copy it met is overwritten with the good bytes once found.
//!
//! Blobs are immutable and uniquely named, so copies never conflict and no
//! consensus is needed for data.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arca_blob::{BlobError, BlobStore, BlobStoreConfig};
use arca_ring::Ring;
use arca_types::BlobId;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, StatusCode};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, ClusterResult};
use crate::rpc::{
    self, Handler, Rpc, RpcError, RpcRequest, RpcResponse, error_response, full_body, msg_response,
};
use crate::topology::{Target, Topology};

/// The CRC32C of the bytes a blob read answers, checked on arrival.
const CRC_HEADER: &str = "x-arca-crc32c";

/// One blob as a partition listing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub id: BlobId,
    pub len: u64,
    pub crc32c: u32,
}

/// How long a blob transfer may take: a base plus time per MiB, so a slow
/// but moving peer is not cut off and a dead one is noticed quickly.
fn transfer_timeout(len: u64) -> Duration {
    Duration::from_secs(5) + Duration::from_millis(len.div_ceil(1 << 20) * 500)
}

/// How many handoff devices a read or write looks at beyond the primaries.
fn handoff_limit(ring: &Ring) -> usize {
    usize::from(ring.replicas()) * 2 + 2
}

pub struct BlobPlacement {
    topology: Arc<Topology>,
    /// `None` for a cluster of one without node RPC.
    rpc: Option<Rpc>,
    /// This node's blob stores by device name: the ring's devices of this
    /// node and any other device directory found (left by an older ring;
    /// the replicator drains them).
    local: RwLock<HashMap<String, Arc<BlobStore>>>,
    devices_dir: PathBuf,
    /// Devices configured to live elsewhere than `devices_dir/NAME`.
    device_paths: BTreeMap<String, PathBuf>,
    blob_config: BlobStoreConfig,
    /// Repairs in flight, so a hot corrupt blob is repaired once.
    repairing: Mutex<HashSet<(BlobId, Target)>>,
}

impl BlobPlacement {
    /// Opens every device directory under `devices_dir`, every device
    /// configured elsewhere (`device_paths`) and every device the ring gives
    /// this node (none with `stores` false: a gateway-only node).
    pub fn open(
        topology: Arc<Topology>,
        rpc: Option<Rpc>,
        devices_dir: PathBuf,
        device_paths: BTreeMap<String, PathBuf>,
        blob_config: BlobStoreConfig,
        stores: bool,
    ) -> ClusterResult<Self> {
        let placement = BlobPlacement {
            topology,
            rpc,
            local: RwLock::new(HashMap::new()),
            devices_dir,
            device_paths,
            blob_config,
            repairing: Mutex::new(HashSet::new()),
        };
        if !stores {
            // A gateway-only node holds no data.
            return Ok(placement);
        }
        let mut names: Vec<String> = placement.topology.local_devices();
        names.extend(placement.device_paths.keys().cloned());
        if let Ok(entries) = std::fs::read_dir(&placement.devices_dir) {
            for entry in entries.flatten() {
                if entry.path().is_dir()
                    && let Some(name) = entry.file_name().to_str()
                {
                    names.push(name.to_owned());
                }
            }
        }
        for name in names {
            placement.open_device(&name)?;
        }
        Ok(placement)
    }

    /// Opens (or creates) this node's device `name`.
    pub fn open_device(&self, name: &str) -> ClusterResult<Arc<BlobStore>> {
        if let Some(store) = self.local.read().get(name) {
            return Ok(store.clone());
        }
        let mut local = self.local.write();
        if let Some(store) = local.get(name) {
            return Ok(store.clone());
        }
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(ClusterError::Internal(format!("invalid device name {name:?}")));
        }
        let dir = match self.device_paths.get(name) {
            Some(path) => path.clone(),
            None => self.devices_dir.join(name),
        };
        let store = BlobStore::open(&dir, self.blob_config.clone())
            .map_err(|e| ClusterError::Internal(format!("{}: {e}", dir.display())))?;
        let store = Arc::new(store);
        local.insert(name.to_owned(), store.clone());
        Ok(store)
    }

    /// Opens the devices a new ring gives this node.
    pub fn open_ring_devices(&self) -> ClusterResult<()> {
        for name in self.topology.local_devices() {
            self.open_device(&name)?;
        }
        Ok(())
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn ring(&self) -> Arc<Ring> {
        self.topology.ring()
    }

    pub fn rpc(&self) -> Option<&Rpc> {
        self.rpc.as_ref()
    }

    /// This node's stores by device name.
    pub fn local_stores(&self) -> Vec<(String, Arc<BlobStore>)> {
        let mut all: Vec<_> = self.local.read().iter().map(|(n, s)| (n.clone(), s.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn local_store(&self, device: &str) -> Option<Arc<BlobStore>> {
        self.local.read().get(device).cloned()
    }

    pub fn partition_of(ring: &Ring, id: &BlobId) -> u32 {
        ring.partition_for_key(&id.to_bytes())
    }

    fn is_up(&self, target: &Target) -> bool {
        self.topology.is_local(target) || self.rpc.as_ref().is_some_and(|rpc| rpc.is_up(&target.node))
    }

    /// Stores `data` as blob `id` on a write quorum of its primaries (or
    /// their handoffs). Copies still being written when the quorum is
    /// reached finish in the background.
    pub async fn put(self: &Arc<Self>, id: BlobId, data: Bytes) -> ClusterResult<()> {
        let ring = self.ring();
        let partition = Self::partition_of(&ring, &id);
        let primaries = Topology::primaries(&ring, partition);
        let quorum = primaries.len() / 2 + 1;
        let spares = Arc::new(Mutex::new(Spares::new(ring.clone(), partition, &primaries)));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Target, String>>(primaries.len());
        for primary in primaries.iter().cloned() {
            let (this, data, spares, tx) = (self.clone(), data.clone(), spares.clone(), tx.clone());
            tokio::spawn(async move {
                let mut target = primary;
                loop {
                    let error = if this.is_up(&target) {
                        match this.put_to(&target, id, partition, data.clone()).await {
                            Ok(()) => {
                                let _ = tx.send(Ok(target)).await;
                                return;
                            }
                            Err(err) => err.to_string(),
                        }
                    } else {
                        format!("{} is down", target.node)
                    };
                    tracing::debug!(blob = %id, %target, error, "blob copy failed; trying a handoff");
                    let next = spares.lock().next(|t| this.is_up(t));
                    match next {
                        Some(handoff) => target = handoff,
                        None => {
                            let _ = tx.send(Err(format!("{target}: {error}"))).await;
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        let (mut stored, mut errors) = (0, Vec::new());
        while let Some(result) = rx.recv().await {
            match result {
                Ok(_) => {
                    stored += 1;
                    if stored >= quorum {
                        return Ok(());
                    }
                }
                Err(err) => errors.push(err),
            }
        }
        Err(ClusterError::Unavailable(format!(
            "blob {id}: {stored} of {} copies stored, {quorum} needed ({})",
            primaries.len(),
            errors.join("; ")
        )))
    }

    /// Stores one copy on one device.
    pub async fn put_to(
        &self,
        target: &Target,
        id: BlobId,
        partition: u32,
        data: Bytes,
    ) -> ClusterResult<()> {
        if self.topology.is_local(target) {
            let store = self.open_device(&target.device)?;
            return Ok(tokio::task::spawn_blocking(move || store.put(id, partition, &data)).await??);
        }
        let rpc = self.remote(target)?;
        let crc = crc32c::crc32c(&data);
        let path = format!("blob/{}/{}?partition={partition}&crc={crc}", target.device, hex_id(&id));
        let timeout = transfer_timeout(data.len() as u64);
        rpc.fetch(&target.node, Method::PUT, &path, full_body(data), timeout).await?;
        Ok(())
    }

    fn remote(&self, target: &Target) -> ClusterResult<&Rpc> {
        self.rpc.as_ref().ok_or_else(|| ClusterError::Unavailable(format!("{target} is not reachable")))
    }

    /// Bytes `[offset, offset + len)` of blob `id`, from the first copy
    /// that is intact.
    pub async fn get_range(self: &Arc<Self>, id: BlobId, offset: u64, len: u64) -> ClusterResult<Bytes> {
        let rings = self.topology.rings();
        let partition = Self::partition_of(&rings.current, &id);
        let primaries = Topology::primaries(&rings.current, partition);
        let mut candidates: Vec<Target> = Vec::new();
        let push = |t: Target, list: &mut Vec<Target>| {
            if !list.contains(&t) {
                list.push(t);
            }
        };
        // This node's own copy first: no network, no second hop.
        for t in primaries.iter().filter(|t| self.topology.is_local(t)) {
            push(t.clone(), &mut candidates);
        }
        for t in primaries.iter().filter(|t| self.is_up(t)) {
            push(t.clone(), &mut candidates);
        }
        if let Some(previous) = &rings.previous {
            let p = Self::partition_of(previous, &id);
            for t in Topology::primaries(previous, p) {
                push(t, &mut candidates);
            }
        }
        for (device, store) in self.local_stores() {
            if store.stat(&id).is_some() {
                push(Target { node: self.topology.me().to_owned(), device }, &mut candidates);
            }
        }
        for t in Topology::handoffs(&rings.current, partition, handoff_limit(&rings.current)) {
            push(t, &mut candidates);
        }
        // Primaries on nodes believed down go last: they are tried only if
        // nothing else answered (the belief may be stale).
        for t in primaries.iter() {
            push(t.clone(), &mut candidates);
        }

        let mut corrupt: Vec<Target> = Vec::new();
        let mut last_error: Option<ClusterError> = None;
        for target in candidates {
            match self.get_from(&target, id, offset, len).await {
                Ok(data) => {
                    if !corrupt.is_empty() {
                        self.repair(id, partition, corrupt, target);
                    }
                    return Ok(data);
                }
                Err(err @ ClusterError::Corrupt(_)) => {
                    tracing::error!(blob = %id, %target, error = %err, "corrupt blob copy");
                    if primaries.contains(&target) {
                        corrupt.push(target);
                    }
                    last_error = Some(err);
                }
                Err(ClusterError::BlobMissing(_)) => {}
                Err(err) => {
                    tracing::debug!(blob = %id, %target, error = %err, "blob copy unreachable");
                    if !matches!(last_error, Some(ClusterError::Corrupt(_))) {
                        last_error = Some(err);
                    }
                }
            }
        }
        Err(match last_error {
            Some(ClusterError::Corrupt(msg)) => ClusterError::Corrupt(msg),
            Some(ClusterError::Unavailable(msg)) => ClusterError::Unavailable(msg),
            Some(ClusterError::Rpc(err)) => ClusterError::Unavailable(format!("blob {id}: {err}")),
            _ => ClusterError::BlobMissing(id),
        })
    }

    /// Reads (part of) one copy on one device.
    pub async fn get_from(&self, target: &Target, id: BlobId, offset: u64, len: u64) -> ClusterResult<Bytes> {
        if self.topology.is_local(target) {
            let Some(store) = self.local_store(&target.device) else {
                return Err(ClusterError::BlobMissing(id));
            };
            let data = tokio::task::spawn_blocking(move || store.get_range(&id, offset, len)).await??;
            return Ok(Bytes::from(data));
        }
        let rpc = self.remote(target)?;
        let path = format!("blob/{}/{}?offset={offset}&len={len}", target.device, hex_id(&id));
        let timeout = transfer_timeout(len);
        let deadline = tokio::time::Instant::now() + timeout;
        let response = rpc.send(&target.node, Method::GET, &path, full_body(Bytes::new()), timeout).await?;
        let status = response.status();
        let crc = response
            .headers()
            .get(CRC_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok());
        let read = crate::rpc::read_body(response.into_body(), len as usize + 4096);
        let data = match tokio::time::timeout_at(deadline, read).await {
            Ok(data) => data?,
            Err(_) => return Err(RpcError::Timeout { node: target.node.clone(), after: timeout }.into()),
        };
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(ClusterError::BlobMissing(id)),
            StatusCode::CONFLICT => {
                return Err(ClusterError::Corrupt(String::from_utf8_lossy(&data).into_owned()));
            }
            status => {
                let message = String::from_utf8_lossy(&data).into_owned();
                return Err(RpcError::Status { status, message }.into());
            }
        }
        // The source verified the whole blob; this checks the bytes that
        // crossed the network.
        if data.len() as u64 != len || crc.is_some_and(|crc| crc != crc32c::crc32c(&data)) {
            return Err(ClusterError::Corrupt(format!(
                "blob {id} from {target}: the bytes received are damaged"
            )));
        }
        Ok(data)
    }

    /// Overwrites the corrupt copies of a blob with the bytes of a good one,
    /// in the background.
    fn repair(self: &Arc<Self>, id: BlobId, partition: u32, bad: Vec<Target>, good: Target) {
        let this = self.clone();
        tokio::spawn(async move {
            let Some(len) = this.stat(&good, id).await else { return };
            let data = match this.get_from(&good, id, 0, len).await {
                Ok(data) => data,
                Err(err) => {
                    tracing::warn!(blob = %id, %good, error = %err, "could not read a good copy to repair from");
                    return;
                }
            };
            for target in bad {
                if !this.repairing.lock().insert((id, target.clone())) {
                    continue;
                }
                match this.put_to(&target, id, partition, data.clone()).await {
                    Ok(()) => {
                        tracing::warn!(blob = %id, %target, from = %good, "repaired a corrupt blob copy")
                    }
                    Err(err) => {
                        tracing::warn!(blob = %id, %target, error = %err, "could not repair a blob copy")
                    }
                }
                this.repairing.lock().remove(&(id, target));
            }
        });
    }

    /// The length of a blob on one device, if it holds it.
    pub async fn stat(&self, target: &Target, id: BlobId) -> Option<u64> {
        if self.topology.is_local(target) {
            return self.local_store(&target.device)?.stat(&id).map(|info| info.len);
        }
        let ring = self.ring();
        let partition = Self::partition_of(&ring, &id);
        let list = self.list_partition(target, partition).await.ok()?;
        list.iter().find(|e| e.id == id).map(|e| e.len)
    }

    /// Deletes blob `id` wherever the rings place it and wherever this node
    /// holds it (best effort: a copy that cannot be reached now stays an
    /// orphan until garbage collection finds it).
    pub async fn delete(&self, id: BlobId) -> ClusterResult<()> {
        let rings = self.topology.rings();
        let mut targets: Vec<Target> =
            Topology::primaries(&rings.current, Self::partition_of(&rings.current, &id));
        if let Some(previous) = &rings.previous {
            for t in Topology::primaries(previous, Self::partition_of(previous, &id)) {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        for (device, store) in self.local_stores() {
            let t = Target { node: self.topology.me().to_owned(), device };
            if store.stat(&id).is_some() && !targets.contains(&t) {
                targets.push(t);
            }
        }
        let deletes = targets.iter().filter(|t| self.is_up(t)).map(|t| self.delete_from(t, id));
        for (result, target) in futures::future::join_all(deletes).await.into_iter().zip(&targets) {
            if let Err(err) = result {
                tracing::debug!(blob = %id, %target, error = %err, "could not delete a blob copy");
            }
        }
        Ok(())
    }

    pub async fn delete_from(&self, target: &Target, id: BlobId) -> ClusterResult<()> {
        if self.topology.is_local(target) {
            if let Some(store) = self.local_store(&target.device) {
                tokio::task::spawn_blocking(move || store.delete(&id)).await??;
            }
            return Ok(());
        }
        let rpc = self.remote(target)?;
        let path = format!("blob/{}/{}", target.device, hex_id(&id));
        rpc.fetch(&target.node, Method::DELETE, &path, full_body(Bytes::new()), Duration::from_secs(10))
            .await?;
        Ok(())
    }

    /// The (id, length, checksum) of every blob of a partition on a device.
    pub async fn list_partition(&self, target: &Target, partition: u32) -> ClusterResult<Vec<BlobEntry>> {
        if self.topology.is_local(target) {
            let Some(store) = self.local_store(&target.device) else { return Ok(Vec::new()) };
            return Ok(tokio::task::spawn_blocking(move || local_list(&store, partition)).await?);
        }
        let rpc = self.remote(target)?;
        let path = format!("partition/{}/{partition}", target.device);
        let bytes = rpc
            .fetch(&target.node, Method::GET, &path, full_body(Bytes::new()), Duration::from_secs(30))
            .await?;
        Ok(rpc::decode(&bytes)?)
    }

    /// A partition's digest on a device (equal digests: equal contents).
    pub async fn digest(&self, target: &Target, partition: u32) -> ClusterResult<[u8; 16]> {
        if self.topology.is_local(target) {
            let Some(store) = self.local_store(&target.device) else { return Ok(empty_digest()) };
            return Ok(tokio::task::spawn_blocking(move || store.partition_digest(partition)).await?);
        }
        let rpc = self.remote(target)?;
        let path = format!("digest/{}/{partition}", target.device);
        let bytes = rpc
            .fetch(&target.node, Method::GET, &path, full_body(Bytes::new()), Duration::from_secs(10))
            .await?;
        Ok(rpc::decode(&bytes)?)
    }
}

/// The digest of an empty partition.
pub fn empty_digest() -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::new().finalize().into()
}

fn local_list(store: &BlobStore, partition: u32) -> Vec<BlobEntry> {
    store
        .partition_blobs(partition)
        .into_iter()
        .map(|(id, info)| BlobEntry { id, len: info.len, crc32c: info.crc32c })
        .collect()
}

fn hex_id(id: &BlobId) -> String {
    hex::encode(id.to_bytes())
}

fn parse_id(text: &str) -> Option<BlobId> {
    let mut bytes = [0u8; BlobId::ENCODED_LEN];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(BlobId::from_bytes(&bytes))
}

/// Handoff devices for a write, handed out once each, skipping the
/// primaries and devices on nodes that are down.
struct Spares {
    ring: Arc<Ring>,
    partition: u32,
    used: Vec<Target>,
    queue: Option<VecDeque<Target>>,
}

impl Spares {
    fn new(ring: Arc<Ring>, partition: u32, primaries: &[Target]) -> Self {
        Spares { ring, partition, used: primaries.to_vec(), queue: None }
    }

    fn next(&mut self, is_up: impl Fn(&Target) -> bool) -> Option<Target> {
        let queue = self.queue.get_or_insert_with(|| {
            Topology::handoffs(&self.ring, self.partition, handoff_limit(&self.ring)).into_iter().collect()
        });
        while let Some(t) = queue.pop_front() {
            if !self.used.contains(&t) && is_up(&t) {
                self.used.push(t.clone());
                return Some(t);
            }
        }
        None
    }
}

/// The RPC routes `blob`, `partition` and `digest`.
pub struct BlobRoutes {
    pub placement: Arc<BlobPlacement>,
}

impl Handler for BlobRoutes {
    fn handle(&self, request: RpcRequest) -> BoxFuture<'static, RpcResponse> {
        let placement = self.placement.clone();
        Box::pin(async move { serve_blob(placement, request).await })
    }
}

async fn serve_blob(placement: Arc<BlobPlacement>, request: RpcRequest) -> RpcResponse {
    let (Some(route), Some(device), Some(name)) =
        (request.segments.first(), request.segments.get(1), request.segments.get(2))
    else {
        return error_response(StatusCode::NOT_FOUND, "malformed blob path");
    };
    // Only devices this node has, or that the ring gives it: a peer cannot
    // make this node create directories of its choosing.
    let store = match placement.local_store(device) {
        Some(store) => store,
        None if placement.topology.local_devices().contains(device) => match placement.open_device(device) {
            Ok(store) => store,
            Err(err) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        },
        None => return error_response(StatusCode::NOT_FOUND, format!("no device {device:?} here")),
    };
    match (route.as_str(), &request.method) {
        ("partition", &Method::GET) => {
            let Ok(partition) = name.parse::<u32>() else {
                return error_response(StatusCode::BAD_REQUEST, "bad partition");
            };
            match tokio::task::spawn_blocking(move || local_list(&store, partition)).await {
                Ok(list) => msg_response(&list),
                Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            }
        }
        ("digest", &Method::GET) => {
            let Ok(partition) = name.parse::<u32>() else {
                return error_response(StatusCode::BAD_REQUEST, "bad partition");
            };
            match tokio::task::spawn_blocking(move || store.partition_digest(partition)).await {
                Ok(digest) => msg_response(&digest),
                Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            }
        }
        ("blob", method) => {
            let Some(id) = parse_id(name) else {
                return error_response(StatusCode::BAD_REQUEST, "bad blob id");
            };
            serve_one_blob(&placement, store, id, method.clone(), request).await
        }
        _ => error_response(StatusCode::METHOD_NOT_ALLOWED, "unsupported blob request"),
    }
}

async fn serve_one_blob(
    placement: &BlobPlacement,
    store: Arc<BlobStore>,
    id: BlobId,
    method: Method,
    request: RpcRequest,
) -> RpcResponse {
    match method {
        Method::PUT => {
            let (Some(partition), Some(crc)) = (request.query_u64("partition"), request.query_u64("crc"))
            else {
                return error_response(StatusCode::BAD_REQUEST, "partition and crc are required");
            };
            let limit = placement.blob_config.max_blob_size as usize;
            let data = match rpc::read_body(request.body, limit).await {
                Ok(data) => data,
                Err(err) => return error_response(StatusCode::BAD_REQUEST, err.to_string()),
            };
            if u64::from(crc32c::crc32c(&data)) != crc {
                return error_response(StatusCode::BAD_REQUEST, "the blob's bytes do not match its checksum");
            }
            let partition = partition as u32;
            match tokio::task::spawn_blocking(move || store.put(id, partition, &data)).await {
                Ok(Ok(())) => error_response(StatusCode::NO_CONTENT, ""),
                Ok(Err(err)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
                Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            }
        }
        Method::GET => {
            let (Some(offset), Some(len)) = (request.query_u64("offset"), request.query_u64("len")) else {
                return error_response(StatusCode::BAD_REQUEST, "offset and len are required");
            };
            match tokio::task::spawn_blocking(move || store.get_range(&id, offset, len)).await {
                Ok(Ok(data)) => {
                    let crc = crc32c::crc32c(&data);
                    let mut response = http::Response::new(full_body(data));
                    response.headers_mut().insert(CRC_HEADER, http::HeaderValue::from(crc));
                    response
                }
                Ok(Err(BlobError::NotFound(_))) => error_response(StatusCode::NOT_FOUND, "no such blob"),
                Ok(Err(err @ BlobError::Corrupt { .. })) => {
                    error_response(StatusCode::CONFLICT, err.to_string())
                }
                Ok(Err(err @ BlobError::RangeOutOfBounds { .. })) => {
                    error_response(StatusCode::RANGE_NOT_SATISFIABLE, err.to_string())
                }
                Ok(Err(err)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
                Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            }
        }
        Method::DELETE => match tokio::task::spawn_blocking(move || store.delete(&id)).await {
            Ok(Ok(_)) => error_response(StatusCode::NO_CONTENT, ""),
            Ok(Err(err)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
            Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        },
        _ => error_response(StatusCode::METHOD_NOT_ALLOWED, "unsupported blob request"),
    }
}
