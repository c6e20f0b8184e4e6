//! Raft for the catalog and the index ranges, on openraft.
//!
//! Every group of a node — the catalog (group 0) and one group per bucket
//! index range — is an `openraft::Raft` with the same type configuration:
//! log entries carry a [`Command`] (a catalog or an index change), the
//! state machine answers a [`Response`]. Logs, votes and state live in the
//! node's one metadata store (arca-meta `raft`), so one journal and one
//! group commit serve every group ([`log`], [`machine`]); groups talk over
//! node RPC ([`network`]).
//!
//! openraft is pinned to an exact pre-release (0.10.0-alpha.37): its 0.10
//! line pipelines appends and batches client writes, which the 0.9 line
//! does not; the pin makes any upgrade a deliberate change.

mod log;
mod machine;
mod network;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use arca_meta::MetaStore;
use arca_meta::raft::{CatalogCommand, CatalogOutcome, IndexCommand, IndexOutcome};
use arca_meta::ranges::KeyRange;
use arca_types::ObjectId;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, ClusterResult};
use crate::rpc::Rpc;
use crate::wire::WireError;

pub use log::LogStore;
pub use machine::{ApplyHook, GroupKind, SnapshotFile, StateMachine};
pub use network::{NetworkFactory, OpenGroup, RaftRoutes};

/// A node of a Raft group: its RPC address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Node {
    pub addr: String,
}

/// What a log entry asks a state machine to do.
// Log entries are moved, not copied: boxing the large variant saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Catalog(CatalogCommand),
    Index(IndexCommand),
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Catalog(c) => write!(f, "catalog {}", catalog_name(c)),
            Command::Index(c) => write!(f, "index {}", index_name(c)),
        }
    }
}

fn catalog_name(c: &CatalogCommand) -> &'static str {
    match c {
        CatalogCommand::CreateBucket { .. } => "CreateBucket",
        CatalogCommand::UpdateBucket { .. } => "UpdateBucket",
        CatalogCommand::UpdateBucketIf { .. } => "UpdateBucketIf",
        CatalogCommand::PutRange { .. } => "PutRange",
        CatalogCommand::DeleteBucket { .. } => "DeleteBucket",
        CatalogCommand::PutKey { .. } => "PutKey",
        CatalogCommand::DeleteKey { .. } => "DeleteKey",
        CatalogCommand::SetRootKey { .. } => "SetRootKey",
        CatalogCommand::PutCluster { .. } => "PutCluster",
        CatalogCommand::RemoveCluster { .. } => "RemoveCluster",
        CatalogCommand::SwapCluster { .. } => "SwapCluster",
    }
}

fn index_name(c: &IndexCommand) -> &'static str {
    match c {
        IndexCommand::PutObject { .. } => "PutObject",
        IndexCommand::DeleteObject { .. } => "DeleteObject",
        IndexCommand::CreateUpload { .. } => "CreateUpload",
        IndexCommand::PutPart { .. } => "PutPart",
        IndexCommand::CompleteUpload { .. } => "CompleteUpload",
        IndexCommand::AbortUpload { .. } => "AbortUpload",
        IndexCommand::Close { .. } => "Close",
        IndexCommand::Reopen { .. } => "Reopen",
        IndexCommand::DeleteVersion { .. } => "DeleteVersion",
        IndexCommand::UpdateVersion { .. } => "UpdateVersion",
        IndexCommand::Split(_) => "Split",
        IndexCommand::PutObjects { .. } => "PutObjects",
    }
}

/// What a state machine answers for one entry.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Blank and membership entries, and commands sent to the wrong kind
    /// of group.
    None,
    Catalog(Result<CatalogOutcome, WireError>),
    Index(Result<IndexOutcome, WireError>),
}

openraft::declare_raft_types!(
    /// Arca's Raft types: every group uses these.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = Node,
);

pub type C = TypeConfig;

/// A copy of a group's current metrics (leader, membership, progress).
pub fn metrics(raft: &Raft) -> openraft::RaftMetrics<C> {
    with_metrics(raft, Clone::clone)
}

/// Reads a group's current metrics in place, without copying them (what
/// request paths do).
pub fn with_metrics<T>(raft: &Raft, read: impl FnOnce(&openraft::RaftMetrics<C>) -> T) -> T {
    use openraft::async_runtime::WatchReceiver;
    read(&raft.metrics().borrow_watched())
}

/// Whether the node these metrics are of leads its group. A leader that
/// removed itself from the voters may still name itself leader until it
/// hears otherwise — and being removed, it never does — so it must also
/// be a voter of the membership it knows.
pub fn leads(m: &openraft::RaftMetrics<C>) -> bool {
    m.current_leader == Some(m.id)
        && m.state == openraft::ServerState::Leader
        && m.membership_config.membership().voter_ids().any(|v| v == m.id)
}

pub type Raft = openraft::Raft<TypeConfig, StateMachine>;
pub type NodeId = u64;

/// Log entries between snapshots, by default.
pub const DEFAULT_SNAPSHOT_ENTRIES: u64 = 20_000;

/// Timing of every group. Elections wait long enough that a busy 2-core
/// machine running several nodes does not start them spuriously; a leader
/// lost is replaced within a few seconds. A group snapshots its state and
/// cuts its log every `snapshot_entries` entries, keeping the last
/// `snapshot_entries / 2` (at most 1000) for members a little behind.
pub fn raft_config(snapshot_entries: u64) -> ClusterResult<Arc<openraft::Config>> {
    let snapshot_entries = snapshot_entries.max(2);
    let config = openraft::Config {
        cluster_name: "arca".to_owned(),
        heartbeat_interval: 250,
        election_timeout_min: 1500,
        election_timeout_max: 3000,
        install_snapshot_timeout: 600_000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_entries),
        max_in_snapshot_log_to_keep: (snapshot_entries / 2).min(1000),
        snapshot_max_chunk_size: 1 << 20,
        enable_pre_vote: Some(true),
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(|e| ClusterError::Internal(format!("raft config: {e}")))?))
}

/// A membership as a range's state stores it.
pub(crate) fn encode_membership(
    membership: &openraft::alias::StoredMembershipOf<C>,
) -> ClusterResult<Vec<u8>> {
    log::encode(membership).map_err(|e| ClusterError::Internal(e.to_string()))
}

/// The Raft state a split gives its new half: applied (and purged) up to
/// log index 0 of no leader, with the parent's membership. The new group's
/// log is empty, so it runs on these members from their rows, and any
/// other member can only join by snapshot.
pub(crate) fn split_child_state(
    membership: &openraft::Membership<NodeId, Node>,
) -> ClusterResult<(Vec<u8>, Vec<u8>)> {
    use openraft::vote::RaftLeaderId;
    let leader = openraft::alias::LeaderIdOf::<C>::new(0, 0).to_committed();
    let start = openraft::alias::LogIdOf::<C>::new(leader, 0);
    let stored = openraft::StoredMembership::new(Some(start), membership.clone());
    let applied = log::encode(&start).map_err(|e| ClusterError::Internal(e.to_string()))?;
    Ok((applied, encode_membership(&stored)?))
}

/// How a group is described to the node that must host it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDesc {
    pub group: u64,
    /// `None`: the catalog; else the bucket whose index range it holds.
    pub bucket: Option<ObjectId>,
    /// The range's keys and epoch as the opener knows them: the state a
    /// node that has none starts from, until a snapshot or the log says
    /// otherwise.
    pub range: KeyRange,
    pub epoch: u64,
}

impl GroupDesc {
    pub fn catalog() -> GroupDesc {
        GroupDesc { group: 0, bucket: None, range: KeyRange::whole(), epoch: 0 }
    }

    pub fn of_range(desc: &crate::catalog::RangeDesc) -> GroupDesc {
        GroupDesc { group: desc.group, bucket: Some(desc.bucket), range: desc.range(), epoch: desc.epoch }
    }
}

/// One running group on this node.
#[derive(Clone)]
pub struct GroupHandle {
    pub desc: GroupDesc,
    pub raft: Raft,
}

/// Every Raft group this node runs.
pub struct Groups {
    pub me: NodeId,
    pub addr: String,
    meta: Arc<MetaStore>,
    rpc: Option<Rpc>,
    snapshots: PathBuf,
    config: Arc<openraft::Config>,
    hook: Arc<dyn ApplyHook>,
    running: RwLock<HashMap<u64, GroupHandle>>,
    /// Proposals to the groups this node leads, in batches.
    pub(crate) batcher: crate::batch::Batcher,
    /// Serialises starting and stopping groups.
    lifecycle: tokio::sync::Mutex<()>,
}

impl Groups {
    pub fn new(
        me: NodeId,
        addr: String,
        meta: Arc<MetaStore>,
        rpc: Option<Rpc>,
        snapshots: PathBuf,
        hook: Arc<dyn ApplyHook>,
        snapshot_entries: u64,
    ) -> ClusterResult<Arc<Self>> {
        std::fs::create_dir_all(&snapshots)
            .map_err(|e| ClusterError::Internal(format!("{}: {e}", snapshots.display())))?;
        machine::clean_snapshot_dir(&snapshots);
        Ok(Arc::new(Groups {
            me,
            addr,
            meta,
            rpc,
            snapshots,
            config: raft_config(snapshot_entries)?,
            hook,
            running: RwLock::new(HashMap::new()),
            batcher: Default::default(),
            lifecycle: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn meta(&self) -> &Arc<MetaStore> {
        &self.meta
    }

    pub fn get(&self, group: u64) -> Option<GroupHandle> {
        self.running.read().get(&group).cloned()
    }

    pub fn all(&self) -> Vec<GroupHandle> {
        self.running.read().values().cloned().collect()
    }

    /// Starts group `desc` on this node if it is not running: its state
    /// row is created, and openraft recovers it from the log.
    pub async fn open(self: &Arc<Self>, desc: GroupDesc) -> ClusterResult<GroupHandle> {
        if let Some(handle) = self.get(desc.group) {
            return Ok(handle);
        }
        let _guard = self.lifecycle.lock().await;
        if let Some(handle) = self.get(desc.group) {
            return Ok(handle);
        }
        let meta = self.meta.clone();
        let (group, bucket, range, epoch) = (desc.group, desc.bucket, desc.range.clone(), desc.epoch);
        tokio::task::spawn_blocking(move || -> ClusterResult<()> {
            if let Some(bucket) = bucket
                && meta.group_state(group)?.is_none()
                && let Some(other) = meta.overlapping_group(group, bucket, &range)?
            {
                // This node's copy of another range still governs those
                // keys: it has not applied the split that made this one.
                // Opening now could let its older entries overwrite what
                // this group's snapshot brings; it is opened once that
                // copy has caught up.
                return Err(ClusterError::Unavailable(format!(
                    "range group {group} overlaps group {other} here, which has not caught up yet"
                )));
            }
            meta.create_group(group, bucket, range, epoch)?;
            Ok(())
        })
        .await
        .map_err(|e| ClusterError::Internal(e.to_string()))??;
        let kind = match desc.bucket {
            Some(bucket) => GroupKind::Range { bucket },
            None => GroupKind::Catalog,
        };
        let log = LogStore::new(self.meta.clone(), desc.group);
        let sm =
            StateMachine::new(self.meta.clone(), desc.group, kind, self.snapshots.clone(), self.hook.clone());
        let network = NetworkFactory::new(self.rpc.clone(), desc.group, self.me);
        let raft = Raft::new(self.me, self.config.clone(), network, log, sm)
            .await
            .map_err(|e| ClusterError::Internal(format!("group {}: {e}", desc.group)))?;
        let handle = GroupHandle { desc: desc.clone(), raft };
        self.running.write().insert(desc.group, handle.clone());
        Ok(handle)
    }

    /// Makes this node the first member of group `desc` with `members`
    /// (every member may be initialised with the same set; openraft refuses
    /// a second initialisation harmlessly).
    pub async fn initialize(
        &self,
        handle: &GroupHandle,
        members: BTreeMap<NodeId, Node>,
    ) -> ClusterResult<()> {
        match handle.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(openraft::errors::RaftError::APIError(openraft::errors::InitializeError::NotAllowed(_))) => {
                Ok(())
            }
            Err(err) => {
                Err(ClusterError::Internal(format!("initialising group {}: {err}", handle.desc.group)))
            }
        }
    }

    /// Stops a group and, with `forget`, deletes everything it stored here.
    pub async fn stop(&self, group: u64, forget: bool) -> ClusterResult<()> {
        let _guard = self.lifecycle.lock().await;
        let handle = self.running.write().remove(&group);
        if let Some(handle) = handle
            && let Err(err) = handle.raft.shutdown().await
        {
            tracing::warn!(group, error = %err, "group did not stop cleanly");
        }
        if forget {
            let meta = self.meta.clone();
            tokio::task::spawn_blocking(move || meta.drop_group(group)).await??;
            machine::remove_snapshots(&self.snapshots, group);
        }
        Ok(())
    }

    /// Stops every group (at shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<u64> = self.running.read().keys().copied().collect();
        for group in all {
            let _ = self.stop(group, false).await;
        }
    }
}
