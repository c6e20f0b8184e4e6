//! `Cluster`: one node's part of the store, and what the object service
//! asks of the whole — catalog changes, index changes and reads, replicated
//! blobs — wherever the leaders and copies are.
//!
//! A catalog or index change is proposed to its group's leader: this node's
//! own group when it leads, otherwise the leader another member names (a
//! hint is kept per group), through `POST propose/{group}`. Index reads go
//! to the range leader, which confirms its leadership (a lease, or a
//! heartbeat round when the lease has lapsed) and reads its own applied
//! state: a read sees every write acknowledged before it began, on any
//! gateway. A leader lost is replaced within seconds; requests meanwhile
//! wait and retry, up to [`REQUEST_PATIENCE`], then fail with
//! `Unavailable` (S3's 503, which clients retry).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arca_blob::BlobStoreConfig;
use arca_meta::raft::{CatalogCommand, CatalogOutcome};
use arca_meta::{
    BucketRow, BucketStats, ListPage, ListQuery, MetaError, MetaStore, ObjectRow, PartRow, UploadListPage,
    UploadListQuery, UploadRow, VersionListPage, VersionListQuery,
};
use arca_ring::Ring;
use arca_types::ObjectId;
use futures::future::BoxFuture;
use http::StatusCode;
use openraft::ReadPolicy;
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::batch::Outcome;
use crate::blobs::{BlobPlacement, BlobRoutes};
use crate::catalog::{self, CatalogView, KeyRange, Member, RangeDesc};
use crate::error::{ClusterError, ClusterResult};
use crate::raft::{Command, GroupDesc, GroupHandle, Groups, Node, NodeId, RaftRoutes, Response};
use crate::rpc::{
    self, ClusterSecret, Handler, Router, Rpc, RpcError, RpcRequest, RpcResponse, error_response,
};
use crate::topology::Topology;
use crate::wire::WireError;

/// How long a request waits for a group to have a reachable leader.
pub const REQUEST_PATIENCE: Duration = Duration::from_secs(20);
/// How long an index read waits for a leader before it settles for a
/// replica's own copy (a majority of the range's replicas is lost: reads
/// go on, possibly stale, while writes fail).
const READ_PATIENCE: Duration = Duration::from_secs(6);
/// For how long a group found without a leader is read from a replica's
/// own copy before the leader is looked for again.
const LEADERLESS_MEMORY: Duration = Duration::from_secs(5);
/// How long a replica waits to apply up to a read index before the read
/// goes to the leader instead; and for how long after such a miss the
/// group's reads skip this replica.
const FOLLOWER_CATCH_UP: Duration = Duration::from_secs(1);
const FOLLOWER_MISS_MEMORY: Duration = Duration::from_secs(5);

/// What a node does (Q7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Gateway and storage (converged).
    #[default]
    All,
    /// Serves S3, holds no data.
    Gateway,
    /// Holds data and serves only node traffic.
    Storage,
}

impl Role {
    pub fn serves_s3(self) -> bool {
        self != Role::Storage
    }

    pub fn stores(self) -> bool {
        self != Role::Gateway
    }
}

pub struct ClusterConfig {
    pub data: PathBuf,
    /// This node's Raft id.
    pub node_id: NodeId,
    /// This node's name in the ring: its RPC address, or for a cluster of
    /// one without RPC, its S3 address.
    pub addr: String,
    /// Where node RPC is served; `None` for a cluster of one.
    pub rpc_listen: Option<SocketAddr>,
    pub secret: Option<ClusterSecret>,
    pub role: Role,
    pub blob: BlobStoreConfig,
    /// The ring of this node's data directory, used until the catalog
    /// holds one.
    pub local_ring: Ring,
    /// How often the replicator compares partitions with peers.
    pub replication_interval: Duration,
    /// Log entries between a group's snapshots.
    pub snapshot_entries: u64,
    /// When an index range splits.
    pub split: crate::ranges::SplitPolicy,
    /// Devices whose directory is not `DATA/devices/NAME` (a disk mounted
    /// elsewhere), by name.
    pub device_paths: BTreeMap<String, PathBuf>,
}

/// A read of an index range, served by its leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexQuery {
    GetObject {
        bucket: ObjectId,
        key: String,
    },
    /// One range's part of a listing, from the key `from` (in the range)
    /// to the range's end.
    ListObjects {
        bucket: ObjectId,
        query: ListQuery,
        from: String,
    },
    ListUploads {
        bucket: ObjectId,
        query: UploadListQuery,
        from: String,
    },
    GetUpload {
        bucket: ObjectId,
        key: String,
        upload_id: ObjectId,
    },
    /// The parts of the upload of `key` (routed by it).
    ListParts {
        key: String,
        upload_id: ObjectId,
        after: u32,
        max: u32,
    },
    /// The counters of the range that starts at `from`.
    Stats {
        bucket: ObjectId,
        from: String,
    },
    /// The bodies the rows of the range that starts at `from` refer to.
    ReferencedBodies {
        bucket: ObjectId,
        from: String,
    },
    Ping,
    /// One version (`None`: the null one), delete markers included.
    GetVersion {
        bucket: ObjectId,
        key: String,
        version: Option<ObjectId>,
    },
    /// The current version in a bucket that may hold several.
    GetCurrent {
        bucket: ObjectId,
        key: String,
    },
    ListVersions {
        bucket: ObjectId,
        query: VersionListQuery,
        from: String,
    },
}

impl IndexQuery {
    /// The key the query is routed by: the range holding it answers.
    /// `None` for `Ping`, which any range answers.
    pub fn route_key(&self) -> Option<&str> {
        match self {
            IndexQuery::GetObject { key, .. }
            | IndexQuery::GetUpload { key, .. }
            | IndexQuery::ListParts { key, .. }
            | IndexQuery::GetVersion { key, .. }
            | IndexQuery::GetCurrent { key, .. } => Some(key),
            IndexQuery::ListObjects { from, .. }
            | IndexQuery::ListUploads { from, .. }
            | IndexQuery::ListVersions { from, .. }
            | IndexQuery::Stats { from, .. }
            | IndexQuery::ReferencedBodies { from, .. } => Some(from),
            IndexQuery::Ping => None,
        }
    }

    /// Whether the range must begin exactly at the route key (a walk over
    /// every range that must neither skip nor repeat one).
    fn starts_range(&self) -> bool {
        matches!(self, IndexQuery::Stats { .. } | IndexQuery::ReferencedBodies { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexAnswer {
    Object(Option<ObjectRow>),
    Objects(ListPage),
    Uploads(UploadListPage),
    Upload(Option<UploadRow>),
    Parts(Vec<PartRow>, bool),
    Stats(BucketStats),
    Bodies(Vec<ObjectId>),
    Pong,
    Versions(VersionListPage),
}

/// What `read/{group}` asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Query {
    Index(IndexQuery),
    /// Read this replica's own copy, without asking the leader: only when
    /// no leader can be reached.
    Stale(IndexQuery),
    /// The leader's commit index, confirmed as current: a follower that has
    /// applied up to it reads what the leader would.
    ReadIndex,
}

// A message, built and moved once: boxing the large variant saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Answer {
    /// The answer, and the bounds of the range that gave it.
    Index(Result<IndexAnswer, WireError>, KeyRange),
    ReadIndex(u64),
}

/// How a group member answers a routed request.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Routed<T> {
    Done(T),
    /// Not the leader; the leader's address if known.
    NotLeader(Option<String>),
    /// The group cannot answer now (no quorum, stopped).
    Unavailable(String),
}

/// `POST manage/{group}` (to a range leader): make the group's voters
/// these nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manage {
    pub voters: BTreeMap<NodeId, String>,
}

pub struct Cluster {
    pub(crate) me: NodeId,
    pub(crate) addr: String,
    pub(crate) role: Role,
    pub(crate) meta: Arc<MetaStore>,
    pub(crate) topology: Arc<Topology>,
    pub(crate) blobs: Arc<BlobPlacement>,
    pub(crate) rpc: Option<Rpc>,
    pub(crate) groups: Arc<Groups>,
    pub(crate) catalog: Arc<CatalogView>,
    leaders: RwLock<HashMap<u64, String>>,
    /// Groups whose leader could not be found, and when: reads of them go
    /// straight to a replica's own copy for a while instead of waiting.
    leaderless: RwLock<HashMap<u64, Instant>>,
    /// Read indexes asked of leaders for reads served here (8.4).
    read_indexes: crate::batch::ReadIndexes,
    /// Groups whose replica here failed to serve a read, and when.
    follower_misses: RwLock<HashMap<u64, Instant>>,
    pub(crate) replication: RwLock<crate::replicator::ReplicationStatus>,
    pub(crate) data: PathBuf,
    pub(crate) replication_interval: Duration,
    pub(crate) split: crate::ranges::SplitPolicy,
}

impl Cluster {
    /// Opens this node's part of the cluster: the catalog and index groups
    /// it holds, its devices, node RPC (with `rpc_listen`), and the
    /// background work that keeps the groups and copies where the ring
    /// wants them.
    pub async fn start(meta: Arc<MetaStore>, config: ClusterConfig) -> ClusterResult<Arc<Cluster>> {
        let catalog = CatalogView::load(meta.clone())?;
        let ring = match catalog.read(|c| c.ring.clone()) {
            Some(bytes) => {
                Ring::from_bytes(&bytes).map_err(|e| ClusterError::Internal(format!("catalog ring: {e}")))?
            }
            None => config.local_ring.clone(),
        };
        let previous =
            catalog.read(|c| c.ring_previous.clone()).and_then(|bytes| Ring::from_bytes(&bytes).ok());
        let topology = Arc::new(Topology::new(config.addr.clone(), ring, previous));
        let rpc = match (&config.rpc_listen, &config.secret) {
            (Some(_), Some(secret)) => Some(Rpc::new(config.addr.clone(), secret.clone())),
            (Some(_), None) => return Err(ClusterError::Internal("node RPC needs a cluster secret".into())),
            _ => None,
        };
        let devices = config.data.join("devices");
        let blobs = Arc::new(BlobPlacement::open(
            topology.clone(),
            rpc.clone(),
            devices,
            config.device_paths.clone(),
            config.blob.clone(),
            config.role.stores(),
        )?);
        let groups = Groups::new(
            config.node_id,
            config.addr.clone(),
            meta.clone(),
            rpc.clone(),
            config.data.join("snapshots"),
            catalog.clone(),
            config.snapshot_entries,
        )?;
        let cluster = Arc::new(Cluster {
            me: config.node_id,
            addr: config.addr.clone(),
            role: config.role,
            meta: meta.clone(),
            topology,
            blobs,
            rpc: rpc.clone(),
            groups: groups.clone(),
            catalog,
            leaders: RwLock::new(HashMap::new()),
            leaderless: RwLock::new(HashMap::new()),
            read_indexes: Default::default(),
            follower_misses: RwLock::new(HashMap::new()),
            replication: RwLock::new(Default::default()),
            data: config.data.clone(),
            replication_interval: config.replication_interval,
            split: config.split,
        });

        if let (Some(listen), Some(rpc)) = (config.rpc_listen, &rpc) {
            let router = Router::new(rpc.secret().clone(), {
                let cluster = Arc::downgrade(&cluster);
                move || {
                    let cluster_id =
                        cluster.upgrade().and_then(|c| c.catalog.read(|s| s.cluster_id)).unwrap_or([0; 16]);
                    rpc::Hello { node_id: config.node_id, rpc: config.addr.clone(), cluster: cluster_id }
                }
            });
            if cluster.role.stores() {
                router.route("blob", Arc::new(BlobRoutes { placement: cluster.blobs.clone() }));
                router.route("partition", Arc::new(BlobRoutes { placement: cluster.blobs.clone() }));
                router.route("digest", Arc::new(BlobRoutes { placement: cluster.blobs.clone() }));
            }
            router.route(
                "raft",
                Arc::new(RaftRoutes { groups: groups.clone(), snapshots: config.data.join("snapshots") }),
            );
            let routes = Arc::new(ClusterRoutes { cluster: Arc::downgrade(&cluster) });
            for route in ["propose", "read", "join", "status", "manage"] {
                router.route(route, routes.clone());
            }
            let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                ClusterError::Internal(format!("cannot listen for node RPC on {listen}: {e}"))
            })?;
            tokio::spawn(rpc::serve(listener, router));
            rpc.start_prober();
        }

        // Every group this node holds state for resumes.
        let stored = {
            let meta = meta.clone();
            tokio::task::spawn_blocking(move || meta.groups()).await??
        };
        for (group, state) in stored {
            groups
                .open(GroupDesc { group, bucket: state.bucket, range: state.range, epoch: state.epoch })
                .await?;
        }
        cluster.bootstrap().await?;
        crate::keeper::start(cluster.clone());
        crate::replicator::start(cluster.clone());
        Ok(cluster)
    }

    /// A new node makes itself a cluster of one: a one-member catalog
    /// group holding its cluster id, its ring and itself. A node that has
    /// joined another cluster never does this again.
    async fn bootstrap(self: &Arc<Self>) -> ClusterResult<()> {
        let catalog = self.groups.open(GroupDesc::catalog()).await?;
        let joined = self.meta.local_value("joined")?.is_some();
        let state = self.meta.group_state(0)?;
        let fresh = state.as_ref().is_none_or(|s| s.membership.is_none() && s.applied.is_none());
        let has_log = self.meta.raft_last_entry(0)?.is_some();
        if joined || !fresh || has_log {
            return Ok(());
        }
        let members = BTreeMap::from([(self.me, Node { addr: self.addr.clone() })]);
        self.groups.initialize(&catalog, members).await?;
        let cluster_id = ObjectId::random();
        let ring = self.topology.ring();
        let mut commands = vec![
            CatalogCommand::PutCluster { key: catalog::CLUSTER_ID.to_vec(), value: cluster_id.0.to_vec() },
            CatalogCommand::PutCluster { key: catalog::RING.to_vec(), value: ring.to_bytes() },
            CatalogCommand::PutCluster { key: catalog::RING_BOOTSTRAP.to_vec(), value: vec![1] },
            CatalogCommand::PutCluster {
                key: catalog::member_key(&self.addr),
                value: catalog::encode_member(&Member { node_id: self.me, addr: self.addr.clone() }),
            },
        ];
        // Buckets stored before the index was replicated get their range
        // now; their rows are already in place.
        let existing: Vec<BucketRow> = self.catalog.read(|c| c.buckets.values().cloned().collect());
        let mut ranges = Vec::new();
        for bucket in existing {
            let desc = RangeDesc {
                group: new_group_id(),
                bucket: bucket.id,
                start: String::new(),
                end: None,
                epoch: 1,
                initial: BTreeMap::from([(self.me, self.addr.clone())]),
                replicas: BTreeMap::from([(self.me, self.addr.clone())]),
            };
            commands.push(CatalogCommand::PutCluster {
                key: catalog::range_key(bucket.id, ""),
                value: catalog::encode_range(&desc),
            });
            ranges.push(desc);
        }
        for command in commands {
            self.catalog_write(command).await?;
        }
        for desc in &ranges {
            self.ensure_range(desc).await?;
            // The rows predate the group's log: members that join later
            // must get them from a snapshot, so the log is cut behind one.
            if let Some(handle) = self.groups.get(desc.group) {
                compact_log(&handle).await;
            }
        }
        compact_log(&catalog).await;
        tracing::info!(node = %self.addr, "initialised a new cluster of one");
        Ok(())
    }

    pub fn meta(&self) -> &Arc<MetaStore> {
        &self.meta
    }

    pub fn blobs(&self) -> &Arc<BlobPlacement> {
        &self.blobs
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn catalog(&self) -> &Arc<CatalogView> {
        &self.catalog
    }

    pub fn node_id(&self) -> NodeId {
        self.me
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn rpc(&self) -> Option<&Rpc> {
        self.rpc.as_ref()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data
    }

    // ---- routing -----------------------------------------------------------

    fn hint(&self, group: u64) -> Option<String> {
        let local = self.groups.get(group).and_then(|handle| {
            crate::raft::with_metrics(&handle.raft, |metrics| {
                let leader = metrics.current_leader?;
                if leader == self.me {
                    return Some(self.addr.clone());
                }
                metrics.membership_config.membership().get_node(&leader).map(|node| node.addr.clone())
            })
        });
        local.or_else(|| self.leaders.read().get(&group).cloned())
    }

    fn set_hint(&self, group: u64, leader: Option<String>) {
        match leader {
            Some(addr) => self.leaders.write().insert(group, addr),
            None => self.leaders.write().remove(&group),
        };
    }

    /// The members a request for `group` may try: the local view of the
    /// group's membership, else where the ring places it.
    fn candidates(&self, group: u64) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(hint) = self.hint(group) {
            out.push(hint);
        }
        if let Some(handle) = self.groups.get(group) {
            let metrics = crate::raft::metrics(&handle.raft);
            for (_, node) in metrics.membership_config.membership().nodes() {
                if !out.contains(&node.addr) {
                    out.push(node.addr.clone());
                }
            }
        }
        if group != 0 {
            // Where the map last saw it, then where the ring places it (a
            // split's half runs on its parent's nodes until it is moved).
            let recorded = self.catalog.range_replicas(group);
            for addr in recorded.into_iter().chain(self.range_placement(group).into_values()) {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        } else {
            for member in
                self.catalog.read(|c| c.members.values().map(|m| m.addr.clone()).collect::<Vec<_>>())
            {
                if !out.contains(&member) {
                    out.push(member);
                }
            }
        }
        if out.is_empty() {
            out.push(self.addr.clone());
        }
        out
    }

    /// Where range `group` belongs, by Raft id: the placement service's
    /// plan; before it has one, where the map last saw the range (a split's
    /// half, on its parent's nodes); else where the ring places the group.
    pub fn range_placement(&self, group: u64) -> BTreeMap<NodeId, String> {
        let (planned, recorded, members) = self.catalog.read(|c| {
            let planned = c.placements.get(&group).map(|p| p.replicas.clone());
            let recorded = c.all_ranges().find(|r| r.group == group).map(|r| r.replicas.clone());
            (planned, recorded, c.members.clone())
        });
        if let Some(planned) = planned {
            let out = by_id(&planned, &members);
            if !out.is_empty() {
                return out;
            }
        }
        if let Some(recorded) = recorded.filter(|r| !r.is_empty()) {
            return recorded;
        }
        let ring = self.topology.ring();
        let partition = ring.partition_for_key(&group.to_be_bytes());
        let mut out = BTreeMap::new();
        for target in Topology::primaries(&ring, partition) {
            if let Some(member) = members.get(&target.node) {
                out.insert(member.node_id, member.addr.clone());
            }
        }
        if out.is_empty() {
            // A ring naming no member yet (a cluster forming): this node.
            out.insert(self.me, self.addr.clone());
        }
        out
    }

    /// The nodes ranges may be placed on (members the ring gives weight),
    /// and how many replicas a range has.
    pub(crate) fn placement_slots(&self) -> (BTreeMap<String, crate::placement::Slot>, usize) {
        let ring = self.topology.ring();
        let members = self.members();
        let mut slots: BTreeMap<String, crate::placement::Slot> = BTreeMap::new();
        for device in ring.devices().iter().filter(|d| d.weight > 0.0 && members.contains_key(&d.node)) {
            let slot = slots
                .entry(device.node.clone())
                .or_insert(crate::placement::Slot { zone: (device.region, device.zone), weight: 0.0 });
            slot.weight += device.weight;
        }
        (slots, ring.replicas() as usize)
    }

    /// Where a new bucket's first range goes: the least loaded nodes, by
    /// the placement service's own rule.
    fn place_new_range(&self, group: u64) -> (BTreeMap<NodeId, String>, Option<crate::placement::Placement>) {
        let (slots, replicas) = self.placement_slots();
        if slots.is_empty() {
            return (self.range_placement(group), None);
        }
        let mut ranges: BTreeMap<u64, crate::placement::Placement> =
            self.catalog.read(|c| c.placements.iter().map(|(g, p)| (*g, p.clone())).collect());
        let empty = crate::placement::Placement { replicas: Default::default(), leader: String::new() };
        ranges.insert(group, empty);
        // Only the new range is placed: the others keep their plans here
        // (the service rebalances them, on the catalog's leader).
        let planned = crate::placement::place_one(&slots, replicas, &ranges, group);
        let voters = by_id(&planned.replicas, &self.members());
        if voters.is_empty() {
            return (self.range_placement(group), None);
        }
        (voters, Some(planned))
    }

    /// Sends `op` to the leader of `group`, following redirects and trying
    /// other members while the leader is unknown or unreachable.
    async fn route<T, L, R>(&self, group: u64, patience: Duration, local: L, remote: R) -> ClusterResult<T>
    where
        L: Fn() -> BoxFuture<'static, Routed<T>>,
        R: Fn(String) -> BoxFuture<'static, Result<Routed<T>, RpcError>>,
    {
        let deadline = Instant::now() + patience;
        let mut attempt = 0usize;
        let mut last;
        // The leader as known here, usually right: the full list of
        // candidates is worked out only when it is not.
        let mut first = self.hint(group);
        let mut candidates: Vec<String> = Vec::new();
        loop {
            let target = match first.take() {
                Some(target) => target,
                None => {
                    if candidates.is_empty() {
                        candidates = self.candidates(group);
                    }
                    candidates[attempt % candidates.len()].clone()
                }
            };
            let routed = if target == self.addr {
                local().await
            } else {
                match remote(target.clone()).await {
                    Ok(routed) => routed,
                    Err(err) => Routed::Unavailable(format!("{target}: {err}")),
                }
            };
            match routed {
                Routed::Done(answer) => return Ok(answer),
                Routed::NotLeader(Some(leader)) if leader != target => {
                    self.set_hint(group, Some(leader.clone()));
                    first = Some(leader);
                    candidates.clear();
                    attempt = 0;
                    continue;
                }
                Routed::NotLeader(_) => {
                    self.set_hint(group, None);
                    last = format!("{target} knows no leader");
                }
                Routed::Unavailable(why) => {
                    self.set_hint(group, None);
                    last = why;
                }
            }
            attempt += 1;
            if Instant::now() >= deadline {
                return Err(ClusterError::Unavailable(format!(
                    "the metadata group {group} has no reachable leader ({last}); try again"
                )));
            }
            let pause = if attempt.is_multiple_of(candidates.len().max(1)) { 200 } else { 20 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// Proposes `command` to group `group` and returns what its state
    /// machine answered.
    pub(crate) async fn propose(&self, group: u64, command: Command) -> ClusterResult<Response> {
        let groups = self.groups.clone();
        let rpc = self.rpc.clone();
        let local = {
            let command = command.clone();
            move || -> BoxFuture<'static, Routed<Response>> {
                let groups = groups.clone();
                let command = command.clone();
                Box::pin(async move { propose_here(&groups, group, command).await })
            }
        };
        let remote = move |addr: String| -> BoxFuture<'static, Result<Routed<Response>, RpcError>> {
            let rpc = rpc.clone();
            let command = command.clone();
            Box::pin(async move {
                let Some(rpc) = rpc else { return Err(RpcError::Unavailable(addr)) };
                rpc.call(&addr, &format!("propose/{group}"), &command, REQUEST_PATIENCE).await
            })
        };
        self.route(group, REQUEST_PATIENCE, local, remote).await
    }

    pub(crate) async fn query(&self, group: u64, query: Query, patience: Duration) -> ClusterResult<Answer> {
        let groups = self.groups.clone();
        let meta = self.meta.clone();
        let rpc = self.rpc.clone();
        let local = {
            let query = query.clone();
            move || -> BoxFuture<'static, Routed<Answer>> {
                let (groups, meta, query) = (groups.clone(), meta.clone(), query.clone());
                Box::pin(async move { query_here(&groups, &meta, group, query).await })
            }
        };
        let remote = move |addr: String| -> BoxFuture<'static, Result<Routed<Answer>, RpcError>> {
            let rpc = rpc.clone();
            let query = query.clone();
            Box::pin(async move {
                let Some(rpc) = rpc else { return Err(RpcError::Unavailable(addr)) };
                rpc.call(&addr, &format!("read/{group}"), &query, REQUEST_PATIENCE).await
            })
        };
        self.route(group, patience, local, remote).await
    }

    /// Whether too few of a group's voters answer for it to have a leader
    /// (known only where the group runs).
    fn quorum_lost(&self, group: u64) -> bool {
        let Some(handle) = self.groups.get(group) else { return false };
        crate::raft::with_metrics(&handle.raft, |metrics| {
            let membership = metrics.membership_config.membership();
            let voters: Vec<NodeId> = membership.voter_ids().collect();
            let up = voters
                .iter()
                .filter(|id| {
                    **id == self.me
                        || membership
                            .get_node(id)
                            .is_some_and(|n| self.rpc.as_ref().is_some_and(|rpc| rpc.is_up(&n.addr)))
                })
                .count();
            up < voters.len() / 2 + 1
        })
    }

    /// Reads a range linearizably: from this node's replica once the
    /// leader has named a read index and the replica has applied it, else
    /// at the leader; with no leader to be had, from a replica's own copy
    /// (this node's first).
    pub(crate) async fn read_range(
        self: &Arc<Self>,
        group: u64,
        query: IndexQuery,
    ) -> ClusterResult<(IndexAnswer, KeyRange)> {
        let recently_leaderless =
            self.leaderless.read().get(&group).is_some_and(|since| since.elapsed() < LEADERLESS_MEMORY);
        let hint = self.hint(group);
        let leading_here = hint.as_ref().is_some_and(|leader| *leader == self.addr);
        if hint.is_some()
            && !leading_here
            && !recently_leaderless
            && let Some(answer) = self.follower_read(group, &query).await
        {
            return answer;
        }
        let patience = if !leading_here && (recently_leaderless || self.quorum_lost(group)) {
            Duration::ZERO
        } else {
            READ_PATIENCE
        };
        let answer = match self.query(group, Query::Index(query.clone()), patience).await {
            Ok(answer) => {
                if recently_leaderless {
                    self.leaderless.write().remove(&group);
                }
                answer
            }
            Err(ClusterError::Unavailable(why)) => {
                if !recently_leaderless {
                    tracing::warn!(group, why, "no leader for an index read; reading a replica's own copy");
                }
                self.leaderless.write().insert(group, Instant::now());
                // This node's own copy first, if it holds one.
                match query_here(&self.groups, &self.meta, group, Query::Stale(query.clone())).await {
                    Routed::Done(answer) => answer,
                    _ => self.query(group, Query::Stale(query), Duration::from_secs(2)).await?,
                }
            }
            Err(err) => return Err(err),
        };
        match answer {
            Answer::Index(result, range) => Ok((result.map_err(MetaError::from)?, range)),
            Answer::ReadIndex(_) => Err(ClusterError::Internal("unexpected read-index answer".into())),
        }
    }

    /// A linearizable read of this node's replica of `group` (a follower
    /// read): the leader confirms its leadership and names its read index
    /// — one request for all the reads that arrive together — and once the
    /// replica has applied up to it, the read is answered from the replica,
    /// its rows never crossing the network. `None` when this node cannot
    /// serve it (no replica here, no leader, the replica lagging): the read
    /// then goes to the leader.
    async fn follower_read(
        self: &Arc<Self>,
        group: u64,
        query: &IndexQuery,
    ) -> Option<ClusterResult<(IndexAnswer, KeyRange)>> {
        let missed =
            self.follower_misses.read().get(&group).is_some_and(|at| at.elapsed() < FOLLOWER_MISS_MEMORY);
        let handle = self.groups.get(group)?;
        if missed || self.quorum_lost(group) {
            return None;
        }
        let cluster = Arc::downgrade(self);
        let index = self
            .read_indexes
            .get(group, move || {
                let cluster = cluster.clone();
                async move {
                    let Some(cluster) = cluster.upgrade() else { return Err("shutting down".to_string()) };
                    cluster.leader_read_index(group, FOLLOWER_CATCH_UP).await.map_err(|e| e.to_string())
                }
            })
            .await;
        let caught_up = match index {
            Ok(index) => applied_up_to(&handle, index, FOLLOWER_CATCH_UP).await.is_ok(),
            Err(_) => false,
        };
        let answer = match caught_up {
            true => query_here(&self.groups, &self.meta, group, Query::Stale(query.clone())).await,
            false => Routed::Unavailable(String::new()),
        };
        match answer {
            Routed::Done(Answer::Index(result, range)) => {
                Some(result.map(|answer| (answer, range)).map_err(|e| MetaError::from(e).into()))
            }
            _ => {
                self.follower_misses.write().insert(group, Instant::now());
                None
            }
        }
    }

    // ---- the catalog -------------------------------------------------------

    /// Applies a catalog change through the catalog group.
    pub async fn catalog_write(&self, command: CatalogCommand) -> ClusterResult<CatalogOutcome> {
        match self.propose(0, Command::Catalog(command)).await? {
            Response::Catalog(result) => Ok(result.map_err(MetaError::from)?),
            other => Err(ClusterError::Internal(format!("unexpected catalog answer {other:?}"))),
        }
    }

    /// Catches this node's catalog view up with everything the catalog
    /// leader has committed: afterwards the view shows every catalog change
    /// acknowledged before the call.
    pub async fn sync_catalog(&self) -> ClusterResult<()> {
        let index = self.leader_read_index(0, REQUEST_PATIENCE).await?;
        let Some(handle) = self.groups.get(0) else { return Ok(()) };
        applied_up_to(&handle, index, REQUEST_PATIENCE)
            .await
            .map_err(|e| ClusterError::Unavailable(format!("the catalog is not catching up: {e}")))
    }

    /// A read index of `group`, confirmed by its leader (`Query::ReadIndex`).
    async fn leader_read_index(&self, group: u64, patience: Duration) -> ClusterResult<u64> {
        match self.query(group, Query::ReadIndex, patience).await? {
            Answer::ReadIndex(index) => Ok(index),
            Answer::Index(..) => Err(ClusterError::Internal("unexpected answer to a read index".into())),
        }
    }

    /// The live bucket `name`: from the local view, or, if the view does
    /// not have it, after catching up with the catalog leader (a bucket
    /// created a moment ago on another gateway).
    pub async fn bucket(&self, name: &str) -> ClusterResult<Option<BucketRow>> {
        if let Some(row) = self.catalog.bucket(name) {
            return Ok(Some(row));
        }
        self.sync_catalog().await?;
        Ok(self.catalog.bucket(name))
    }

    /// The live access key `access_key`, caught up as [`bucket`](Self::bucket) is.
    pub async fn key(&self, access_key: &str) -> ClusterResult<Option<arca_meta::KeyRow>> {
        if let Some(row) = self.catalog.key(access_key) {
            return Ok(Some(row));
        }
        self.sync_catalog().await?;
        Ok(self.catalog.key(access_key))
    }

    /// Creates a bucket and its index range; returns once the range has a
    /// leader. `Meta(BucketExists)` if the name is taken — decided by the
    /// catalog's log, so of two concurrent creations exactly one wins.
    pub async fn create_bucket(&self, row: BucketRow) -> ClusterResult<()> {
        let group = new_group_id();
        let (placement, planned) = self.place_new_range(group);
        let desc = RangeDesc {
            group,
            bucket: row.id,
            start: String::new(),
            end: None,
            epoch: 1,
            initial: placement.clone(),
            replicas: placement,
        };
        let mut rows = vec![(catalog::range_key(desc.bucket, ""), catalog::encode_range(&desc))];
        if let Some(planned) = planned {
            rows.push((crate::placement::placement_key(group), crate::placement::encode_placement(&planned)));
        }
        self.catalog_write(CatalogCommand::CreateBucket { row, cluster: rows }).await?;
        self.ensure_range(&desc).await
    }

    /// Deletes an empty bucket: its ranges are closed first (each refuses
    /// if it holds anything, in the range's own log, ordered with every
    /// put), then the catalog drops the bucket and its ranges.
    pub async fn delete_bucket(&self, bucket: &BucketRow, ts: arca_types::Timestamp) -> ClusterResult<()> {
        let closed = self.close_ranges(bucket.id).await?;
        // The ranges' plans go with them (any left behind, the placement
        // service removes).
        let placements = self
            .catalog
            .ranges_of(bucket.id)
            .iter()
            .map(|r| crate::placement::placement_key(r.group))
            .collect();
        let deleted = self
            .catalog_write(CatalogCommand::DeleteBucket {
                name: bucket.name.clone(),
                id: bucket.id,
                ts,
                cluster: placements,
            })
            .await;
        if let Err(err) = deleted {
            if !matches!(err, ClusterError::Meta(MetaError::NoSuchBucket)) {
                self.reopen_ranges(bucket.id, &closed).await;
            }
            return Err(err);
        }
        Ok(())
    }

    /// Puts a new ring in force cluster-wide (`arca cluster apply`): every
    /// node adopts it from the catalog within seconds, and data and index
    /// ranges move to their new places in the background. A ring must be
    /// newer (a greater version) than the one in force, except that a
    /// node's own one-device ring gives way to any ring; applying the ring
    /// in force again changes nothing. Returns the version in force.
    pub async fn apply_ring(&self, bytes: Vec<u8>) -> ClusterResult<u64> {
        let ring =
            Ring::from_bytes(&bytes).map_err(|e| ClusterError::Invalid(format!("not a valid ring: {e}")))?;
        if ring.version() == 0 {
            return Err(ClusterError::Invalid(
                "the ring was never rebalanced: run `arca ring rebalance` first".into(),
            ));
        }
        loop {
            self.sync_catalog().await?;
            let (current, bootstrap) = self.catalog.read(|c| (c.ring.clone(), c.ring_bootstrap));
            if current.as_deref() == Some(bytes.as_slice()) {
                return Ok(ring.version());
            }
            if let Some(current) = &current
                && !bootstrap
            {
                let in_force = Ring::from_bytes(current).map(|r| r.version()).unwrap_or(0);
                if ring.version() <= in_force {
                    return Err(ClusterError::Invalid(format!(
                        "ring version {} is not newer than the ring in force (version {in_force}); apply a \
                         later rebalance of the same builder",
                        ring.version()
                    )));
                }
            }
            // The ring it replaces is kept: data it placed may not have
            // moved yet, and reads look there too (also after a restart).
            let previous = current.clone().map(|ring| (catalog::RING_PREVIOUS.to_vec(), ring));
            let swap = CatalogCommand::SwapCluster {
                key: catalog::RING.to_vec(),
                expect: current,
                value: bytes.clone(),
                remove: vec![catalog::RING_BOOTSTRAP.to_vec()],
                put: previous.into_iter().collect(),
            };
            match self.catalog_write(swap).await {
                Ok(_) => {
                    tracing::info!(version = ring.version(), "applied a new ring");
                    return Ok(ring.version());
                }
                // Another apply got in first: decide again against it.
                Err(ClusterError::Meta(MetaError::PreconditionFailed)) => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// The cluster's SSE-S3 master key, made once by whichever node needs
    /// it first (a compare-and-set in the catalog, so every node gets the
    /// same key) and replicated with the catalog.
    pub async fn sse_master_key(&self) -> ClusterResult<[u8; 32]> {
        for _ in 0..3 {
            if let Some(key) = self.catalog.read(|c| c.sse_master_key) {
                return Ok(key);
            }
            self.sync_catalog().await?;
            if let Some(key) = self.catalog.read(|c| c.sse_master_key) {
                return Ok(key);
            }
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| ClusterError::Invalid(format!("no random source: {e}")))?;
            let swap = CatalogCommand::SwapCluster {
                key: catalog::SSE_MASTER_KEY.to_vec(),
                expect: None,
                value: key.to_vec(),
                remove: Vec::new(),
                put: Vec::new(),
            };
            match self.catalog_write(swap).await {
                Ok(_) => tracing::info!("made the cluster's SSE-S3 master key"),
                // Another node made it first: read theirs.
                Err(ClusterError::Meta(MetaError::PreconditionFailed)) => {}
                Err(err) => return Err(err),
            }
        }
        self.catalog
            .read(|c| c.sse_master_key)
            .ok_or_else(|| ClusterError::Invalid("no SSE-S3 master key".into()))
    }

    // ---- index ranges --------------------------------------------------------

    /// Starts a range's group on its initial members (initialising it
    /// there) and waits until it has a leader. Members that cannot be
    /// reached now open it when they come back.
    pub(crate) async fn ensure_range(&self, desc: &RangeDesc) -> ClusterResult<()> {
        let members: BTreeMap<NodeId, Node> =
            desc.initial.iter().map(|(id, addr)| (*id, Node { addr: addr.clone() })).collect();
        let open =
            crate::raft::OpenGroup { desc: GroupDesc::of_range(desc), initialize: Some(members.clone()) };
        for (id, addr) in &desc.initial {
            if *id == self.me {
                let handle = self.groups.open(open.desc.clone()).await?;
                self.groups.initialize(&handle, members.clone()).await?;
            } else if let Some(rpc) = &self.rpc {
                let path = format!("raft/{}/open", desc.group);
                if let Err(err) = rpc.call::<_, ()>(addr, &path, &open, Duration::from_secs(10)).await {
                    tracing::warn!(group = desc.group, node = %addr, error = %err, "could not open a new range there yet");
                }
            }
        }
        match self.query(desc.group, Query::Index(IndexQuery::Ping), REQUEST_PATIENCE).await? {
            Answer::Index(Ok(IndexAnswer::Pong), _) => Ok(()),
            other => Err(ClusterError::Internal(format!("unexpected answer from a new range: {other:?}"))),
        }
    }

    /// Asks a range's leader to make `voters` its voters.
    pub(crate) async fn manage_range(
        &self,
        group: u64,
        voters: BTreeMap<NodeId, String>,
    ) -> ClusterResult<()> {
        let groups = self.groups.clone();
        let rpc = self.rpc.clone();
        let me = self.me;
        let local = {
            let voters = voters.clone();
            let rpc = rpc.clone();
            move || -> BoxFuture<'static, Routed<()>> {
                let (groups, voters, rpc) = (groups.clone(), voters.clone(), rpc.clone());
                Box::pin(async move { manage_here(&groups, rpc.as_ref(), me, group, voters).await })
            }
        };
        let remote = move |addr: String| -> BoxFuture<'static, Result<Routed<()>, RpcError>> {
            let (rpc, voters) = (rpc.clone(), voters.clone());
            Box::pin(async move {
                let Some(rpc) = rpc else { return Err(RpcError::Unavailable(addr)) };
                rpc.call(&addr, &format!("manage/{group}"), &Manage { voters }, Duration::from_secs(120))
                    .await
            })
        };
        self.route(group, REQUEST_PATIENCE, local, remote).await
    }

    /// The nodes a ring names, by address, with whether they answer.
    pub fn node_liveness(&self) -> Vec<(String, bool)> {
        self.topology
            .nodes()
            .into_iter()
            .map(|n| {
                let up = self.rpc.as_ref().is_none_or(|rpc| rpc.is_up(&n));
                (n, up)
            })
            .collect()
    }

    /// Whether this node is the catalog's only voter: a cluster of one.
    pub fn is_alone(&self) -> bool {
        self.groups.get(0).is_some_and(|handle| {
            let metrics = crate::raft::metrics(&handle.raft);
            let voters: Vec<NodeId> = metrics.membership_config.membership().voter_ids().collect();
            voters == [self.me]
        })
    }

    pub(crate) fn members(&self) -> BTreeMap<String, Member> {
        self.catalog.read(|c| c.members.clone())
    }

    /// Stops every group (at shutdown).
    pub async fn shutdown(&self) {
        self.groups.stop_all().await;
    }

    /// The groups this node runs.
    pub fn running_groups(&self) -> Vec<GroupHandle> {
        self.groups.all()
    }
}

/// The members among `nodes` (addresses), by Raft id.
fn by_id(nodes: &BTreeSet<String>, members: &BTreeMap<String, Member>) -> BTreeMap<NodeId, String> {
    nodes.iter().filter_map(|addr| members.get(addr)).map(|m| (m.node_id, m.addr.clone())).collect()
}

pub(crate) fn new_group_id() -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&ObjectId::random().0[..8]);
    u64::from_be_bytes(bytes).max(1)
}

/// Builds a snapshot of a group and purges its log behind it.
/// Whether the log was purged up to a snapshot of everything applied.
pub(crate) async fn compact_log(handle: &GroupHandle) -> bool {
    if let Err(err) = handle.raft.trigger().snapshot().await {
        tracing::warn!(group = handle.desc.group, error = %err, "could not start a snapshot");
        return false;
    }
    let built = handle
        .raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(|m| m.snapshot.is_some() && m.snapshot >= m.last_applied, "snapshot built")
        .await;
    match built {
        Ok(metrics) => {
            let Some(snapshot) = metrics.snapshot else { return false };
            match handle.raft.trigger().purge_log(snapshot.index).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(group = handle.desc.group, error = %err, "could not purge the log");
                    false
                }
            }
        }
        Err(err) => {
            tracing::warn!(group = handle.desc.group, error = %err, "snapshot not built");
            false
        }
    }
}

fn leader_addr(forward: &openraft::errors::ForwardToLeader<crate::raft::C>) -> Option<String> {
    forward.leader_node.as_ref().map(|n| n.addr.clone())
}

async fn propose_here(groups: &Groups, group: u64, command: Command) -> Routed<Response> {
    let Some(handle) = groups.get(group) else { return Routed::NotLeader(None) };
    match groups.batcher.propose(handle, command, REQUEST_PATIENCE).await {
        Outcome::Done(response) => Routed::Done(*response),
        Outcome::NotLeader(leader) => Routed::NotLeader(leader),
        Outcome::Unavailable(why) => Routed::Unavailable(why),
    }
}

/// Confirms this node leads `group` for a read — the leader's lease when it
/// holds, else a heartbeat round to a quorum — and returns the read index:
/// what a replica must have applied to answer a read that began before this
/// call. With `apply`, this node's own state machine is waited for too (the
/// read is served here); without, the read is served by another replica.
async fn linearize(handle: &GroupHandle, apply: bool) -> Result<u64, Routed<Answer>> {
    let mut lease = true;
    loop {
        let policy = if lease { ReadPolicy::LeaseRead } else { ReadPolicy::ReadIndex };
        let read = match apply {
            true => handle.raft.ensure_linearizable(policy).await.map(|read| read.index()),
            false => handle.raft.get_read_linearizer(policy).await.map(|l| l.read_log_id().index()),
        };
        match read {
            Ok(index) => return Ok(index),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                return Err(Routed::NotLeader(leader_addr(&forward)));
            }
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) if lease => {
                lease = false;
            }
            Err(err) => return Err(Routed::Unavailable(format!("group {}: {err}", handle.desc.group))),
        }
    }
}

/// Waits, at most `patience`, until this node's replica of a group has
/// applied up to `index`.
async fn applied_up_to(handle: &GroupHandle, index: u64, patience: Duration) -> Result<(), String> {
    let applied = crate::raft::with_metrics(&handle.raft, |m| m.last_applied.as_ref().map(|id| id.index));
    if applied >= Some(index) {
        return Ok(());
    }
    handle
        .raft
        .wait(Some(patience))
        .applied_index_at_least(Some(index), "read index")
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether this node is the group's only voter, leads it, and has applied
/// an entry of its own term (a cluster of one, the single node's case).
/// Then every acknowledged write has been applied here — a write is
/// acknowledged after its apply on the leader, and the leader applied its
/// term's first entry only after every earlier one — and no other node can
/// lead without a membership change this node would have logged and its
/// metrics would show. So its reads need no round through the Raft core.
fn sole_leader(handle: &GroupHandle) -> bool {
    crate::raft::with_metrics(&handle.raft, |m| {
        m.current_leader == Some(m.id)
            && m.last_applied
                .as_ref()
                .is_some_and(|a| a.leader_id.term == m.current_term && a.leader_id.node_id == m.id)
            && m.membership_config.membership().voter_ids().eq([m.id])
    })
}

async fn query_here(groups: &Groups, meta: &Arc<MetaStore>, group: u64, query: Query) -> Routed<Answer> {
    let Some(handle) = groups.get(group) else { return Routed::NotLeader(None) };
    let query = match query {
        Query::Stale(query) => query,
        Query::ReadIndex => {
            return match linearize(&handle, false).await {
                Ok(index) => Routed::Done(Answer::ReadIndex(index)),
                Err(routed) => routed,
            };
        }
        Query::Index(query) => {
            if !sole_leader(&handle)
                && let Err(routed) = linearize(&handle, true).await
            {
                return routed;
            }
            query
        }
    };
    let meta = meta.clone();
    // The range's bounds as this replica has applied them: a query routed
    // by an older range map is answered `WrongRange`, never with rows of a
    // part of the key space another group governs now.
    let range = match meta.group_range(group) {
        Ok(range) => range.map(|(range, _)| range).unwrap_or_default(),
        Err(err) => return Routed::Unavailable(err.to_string()),
    };
    if let Some(key) = query.route_key()
        && (!range.contains(key) || (query.starts_range() && range.start != key))
    {
        return Routed::Done(Answer::Index(Err(WireError::WrongRange), range));
    }
    let answer = match query {
        // A point read is a memtable or cache hit: cheaper here than a
        // hand-off to a blocking thread.
        IndexQuery::GetObject { bucket, key } => meta.get_object(bucket, &key).map(IndexAnswer::Object),
        IndexQuery::GetVersion { bucket, key, version } => {
            meta.get_version(bucket, &key, version).map(IndexAnswer::Object)
        }
        IndexQuery::GetCurrent { bucket, key } => meta.get_current(bucket, &key).map(IndexAnswer::Object),
        IndexQuery::GetUpload { bucket, key, upload_id } => {
            meta.get_upload(bucket, &key, upload_id).map(IndexAnswer::Upload)
        }
        IndexQuery::Stats { bucket, .. } => meta.range_stats(bucket, &range.start).map(IndexAnswer::Stats),
        IndexQuery::Ping => Ok(IndexAnswer::Pong),
        scan => {
            let bounds = range.clone();
            match tokio::task::spawn_blocking(move || run_scan(&meta, scan, &bounds)).await {
                Ok(result) => result,
                Err(err) => return Routed::Unavailable(err.to_string()),
            }
        }
    };
    Routed::Done(Answer::Index(answer.map_err(WireError::from), range))
}

fn run_scan(meta: &MetaStore, query: IndexQuery, range: &KeyRange) -> Result<IndexAnswer, MetaError> {
    // A listing reads from `from` (in the range) to the range's end.
    let rest = |from: String| KeyRange { start: from, end: range.end.clone() };
    Ok(match query {
        IndexQuery::ListObjects { bucket, query, from } => {
            IndexAnswer::Objects(meta.list_objects_in(bucket, &query, &rest(from))?)
        }
        IndexQuery::ListUploads { bucket, query, from } => {
            IndexAnswer::Uploads(meta.list_uploads_in(bucket, &query, &rest(from))?)
        }
        IndexQuery::ListVersions { bucket, query, from } => {
            IndexAnswer::Versions(meta.list_versions_in(bucket, &query, &rest(from))?)
        }
        IndexQuery::GetVersion { bucket, key, version } => {
            IndexAnswer::Object(meta.get_version(bucket, &key, version)?)
        }
        IndexQuery::GetCurrent { bucket, key } => IndexAnswer::Object(meta.get_current(bucket, &key)?),
        IndexQuery::ListParts { upload_id, after, max, .. } => {
            let (parts, truncated) = meta.list_parts(upload_id, after, max as usize)?;
            IndexAnswer::Parts(parts, truncated)
        }
        IndexQuery::ReferencedBodies { bucket, .. } => {
            IndexAnswer::Bodies(meta.referenced_bodies_in(bucket, range)?.into_iter().collect())
        }
        IndexQuery::GetObject { bucket, key } => IndexAnswer::Object(meta.get_object(bucket, &key)?),
        IndexQuery::GetUpload { bucket, key, upload_id } => {
            IndexAnswer::Upload(meta.get_upload(bucket, &key, upload_id)?)
        }
        IndexQuery::Stats { bucket, .. } => IndexAnswer::Stats(meta.range_stats(bucket, &range.start)?),
        IndexQuery::Ping => IndexAnswer::Pong,
    })
}

/// On a range's leader: brings its voters to `voters`, one step at a
/// time — new members join as learners and catch up first, then one
/// membership change (joint consensus) swaps the voter set.
async fn manage_here(
    groups: &Groups,
    rpc: Option<&Rpc>,
    me: NodeId,
    group: u64,
    voters: BTreeMap<NodeId, String>,
) -> Routed<()> {
    let Some(handle) = groups.get(group) else { return Routed::NotLeader(None) };
    let metrics = crate::raft::metrics(&handle.raft);
    if metrics.current_leader != Some(me) {
        let leader = metrics
            .current_leader
            .and_then(|l| metrics.membership_config.membership().get_node(&l).map(|n| n.addr.clone()));
        return Routed::NotLeader(leader);
    }
    let current: BTreeSet<NodeId> = metrics.membership_config.membership().voter_ids().collect();
    let wanted: BTreeSet<NodeId> = voters.keys().copied().collect();
    let known: BTreeSet<NodeId> = metrics.membership_config.membership().nodes().map(|(id, _)| *id).collect();
    if current == wanted {
        // Learners of a move the plan gave up (it chose other nodes while
        // they caught up) leave too: a copy a leader still counts is never
        // removed from its node.
        let stale: BTreeSet<NodeId> = known.difference(&wanted).copied().collect();
        if stale.is_empty() {
            return Routed::Done(());
        }
        return match handle.raft.change_membership(openraft::ChangeMembers::RemoveNodes(stale), false).await {
            Ok(_) => Routed::Done(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Routed::NotLeader(leader_addr(&forward))
            }
            Err(err) => Routed::Unavailable(format!("removing group {group}'s old learners: {err}")),
        };
    }
    // A new member starts from a snapshot of the range as it is now, never
    // by replaying the log from its start: entries from before a split
    // would write rows of the half that left — which may run there too,
    // with newer rows — and a fresh member knows no bounds but the current
    // ones, against which those entries would fail.
    if voters.keys().any(|id| !known.contains(id)) && !compact_log(&handle).await {
        return Routed::Unavailable(format!("group {group} could not compact its log for a new member"));
    }
    for (id, addr) in &voters {
        if known.contains(id) {
            continue;
        }
        // The new member must run the group before it can be sent to.
        if *id != me {
            let Some(rpc) = rpc else { return Routed::Unavailable("no node RPC".into()) };
            // The range's bounds as applied here, not as they were when the
            // group was opened: it may have split since.
            let mut desc = handle.desc.clone();
            if let Ok(Some(state)) = groups.meta().group_state(group) {
                desc.range = state.range;
                desc.epoch = state.epoch;
            }
            let open = crate::raft::OpenGroup { desc, initialize: None };
            if let Err(err) =
                rpc.call::<_, ()>(addr, &format!("raft/{group}/open"), &open, Duration::from_secs(10)).await
            {
                return Routed::Unavailable(format!("{addr} cannot open group {group}: {err}"));
            }
        }
        let add = handle.raft.add_learner(*id, Node { addr: addr.clone() }, true);
        match tokio::time::timeout(Duration::from_secs(100), add).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Routed::Unavailable(format!("adding {addr} to group {group}: {err}")),
            Err(_) => {
                return Routed::Unavailable(format!("{addr} did not catch up with group {group} in time"));
            }
        }
    }
    match handle.raft.change_membership(wanted, false).await {
        Ok(_) => {
            tracing::info!(group, voters = ?voters.values().collect::<Vec<_>>(), "changed a group's voters");
            Routed::Done(())
        }
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            Routed::NotLeader(leader_addr(&forward))
        }
        Err(err) => Routed::Unavailable(format!("changing group {group}'s voters: {err}")),
    }
}

/// The routes `propose`, `read`, `join`, `status` and `manage`.
struct ClusterRoutes {
    cluster: std::sync::Weak<Cluster>,
}

impl Handler for ClusterRoutes {
    fn handle(&self, request: RpcRequest) -> BoxFuture<'static, RpcResponse> {
        let cluster = self.cluster.upgrade();
        Box::pin(async move {
            let Some(cluster) = cluster else {
                return error_response(StatusCode::SERVICE_UNAVAILABLE, "node is stopping");
            };
            serve_cluster(cluster, request).await
        })
    }
}

async fn serve_cluster(cluster: Arc<Cluster>, request: RpcRequest) -> RpcResponse {
    let route = request.segments[0].clone();
    let group = request.segments.get(1).and_then(|g| g.parse::<u64>().ok());
    if route == "status" {
        return match group {
            Some(group) => rpc::msg_response(&crate::status::group_members(&cluster, group)),
            None => rpc::msg_response(&crate::status::local_status(&cluster).await),
        };
    }
    let body = match rpc::read_body(request.body, rpc::MAX_MESSAGE).await {
        Ok(body) => body,
        Err(err) => return error_response(StatusCode::BAD_REQUEST, err.to_string()),
    };
    match (route.as_str(), group) {
        ("propose", Some(group)) => match rpc::decode::<Command>(&body) {
            Ok(command) => rpc::msg_response(&propose_here(&cluster.groups, group, command).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        ("read", Some(group)) => match rpc::decode::<Query>(&body) {
            Ok(query) => rpc::msg_response(&query_here(&cluster.groups, &cluster.meta, group, query).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        ("manage", Some(group)) => match rpc::decode::<Manage>(&body) {
            Ok(manage) => rpc::msg_response(
                &manage_here(&cluster.groups, cluster.rpc.as_ref(), cluster.me, group, manage.voters).await,
            ),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        ("join", _) => match rpc::decode::<crate::keeper::JoinRequest>(&body) {
            Ok(join) => rpc::msg_response(&crate::keeper::accept_join(&cluster, join).await),
            Err(err) => error_response(StatusCode::BAD_REQUEST, err.to_string()),
        },
        _ => error_response(StatusCode::NOT_FOUND, "unknown cluster route"),
    }
}
