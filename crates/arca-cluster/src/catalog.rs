//! The catalog as this node sees it: buckets, access keys, the ring in
//! force, the members and the index range map, in memory and kept current
//! by the catalog group's applies.
//!
//! Every node holds a replica of the catalog group (a voter or a learner),
//! so every gateway answers "does this bucket exist, who owns it, which
//! range holds its index" from memory, the way QingStor's gateways watch
//! their coordination service (Q3). A view may trail the leader by the
//! replication delay; where that matters (a name created a moment ago on
//! another gateway), callers first catch up with the leader's commit index
//! (`Cluster::sync_catalog`).
//!
//! The catalog's own rows, besides buckets and keys, live under these keys
//! of the `cluster` table:
//!
//! | key | value |
//! |---|---|
//! | `cluster_id` | 16 random bytes naming the cluster |
//! | `ring` | the ring file in force (`FILE.ring` bytes) |
//! | `ring_bootstrap` | present while the ring is a node's own one-device ring |
//! | `ring_previous` | the ring before the one in force (data may not have moved yet) |
//! | `member/{addr}` | [`Member`] |
//! | `range/{bucket id}{start}` | [`RangeDesc`]: one range of a bucket's index |
//! | `placement/{group}` | [`Placement`]: where a range belongs (`crate::placement`) |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arca_meta::raft::CatalogCommand;
use arca_meta::{BucketRow, KeyRow, MetaStore};
use arca_types::ObjectId;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::ClusterResult;
use crate::placement::{self, Placement};
use crate::raft::{ApplyHook, NodeId};

pub const CLUSTER_ID: &[u8] = b"cluster_id";
pub const RING: &[u8] = b"ring";
pub const RING_BOOTSTRAP: &[u8] = b"ring_bootstrap";
pub const RING_PREVIOUS: &[u8] = b"ring_previous";
/// The cluster's SSE-S3 master key, when no node is given one of its own.
pub const SSE_MASTER_KEY: &[u8] = b"sse_master_key";
const MEMBER_PREFIX: &[u8] = b"member/";
use arca_meta::ranges::RANGE_PREFIX;
pub use arca_meta::ranges::{KeyRange, RangeDesc, encode_range, range_key};

/// A node that belongs to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: NodeId,
    /// Its RPC address, as the ring names it.
    pub addr: String,
}

pub fn member_key(addr: &str) -> Vec<u8> {
    [MEMBER_PREFIX, addr.as_bytes()].concat()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_default()
}

pub fn encode_member(member: &Member) -> Vec<u8> {
    encode(member)
}

/// The in-memory catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogState {
    /// Live buckets by name.
    pub buckets: HashMap<String, BucketRow>,
    /// Live access keys by id.
    pub keys: HashMap<String, KeyRow>,
    /// Each bucket's index ranges, by first key.
    pub ranges: HashMap<ObjectId, BTreeMap<String, RangeDesc>>,
    /// Where each range belongs, by group, as the placement service planned.
    pub placements: HashMap<u64, Placement>,
    pub members: BTreeMap<String, Member>,
    pub ring: Option<Vec<u8>>,
    pub ring_previous: Option<Vec<u8>>,
    pub ring_bootstrap: bool,
    pub cluster_id: Option<[u8; 16]>,
    pub sse_master_key: Option<[u8; 32]>,
}

impl CatalogState {
    fn set_cluster_row(&mut self, key: &[u8], value: Option<&[u8]>) {
        if key == CLUSTER_ID {
            self.cluster_id = value.and_then(|v| <[u8; 16]>::try_from(v).ok());
        } else if key == SSE_MASTER_KEY {
            self.sse_master_key = value.and_then(|v| <[u8; 32]>::try_from(v).ok());
        } else if key == RING {
            self.ring = value.map(<[u8]>::to_vec);
        } else if key == RING_PREVIOUS {
            self.ring_previous = value.map(<[u8]>::to_vec);
        } else if key == RING_BOOTSTRAP {
            self.ring_bootstrap = value.is_some();
        } else if let Some(addr) = key.strip_prefix(MEMBER_PREFIX) {
            let addr = String::from_utf8_lossy(addr).into_owned();
            match value.and_then(|v| postcard::from_bytes::<Member>(v).ok()) {
                Some(member) => self.members.insert(addr, member),
                None => self.members.remove(&addr),
            };
        } else if let Some(group) = placement::placement_group(key) {
            match value.and_then(placement::decode_placement) {
                Some(placement) => self.placements.insert(group, placement),
                None => self.placements.remove(&group),
            };
        } else if let Some(rest) = key.strip_prefix(RANGE_PREFIX) {
            let Some((id, start)) = rest.split_first_chunk::<16>() else { return };
            let Ok(start) = std::str::from_utf8(start) else { return };
            let bucket = ObjectId(*id);
            match value.and_then(|v| arca_meta::ranges::decode_range(v).ok()) {
                Some(range) => {
                    self.ranges.entry(bucket).or_default().insert(start.to_owned(), range);
                }
                None => {
                    if let Some(ranges) = self.ranges.get_mut(&bucket) {
                        ranges.remove(start);
                        if ranges.is_empty() {
                            self.ranges.remove(&bucket);
                        }
                    }
                }
            }
        }
    }

    /// Every range of every bucket.
    pub fn all_ranges(&self) -> impl Iterator<Item = &RangeDesc> {
        self.ranges.values().flat_map(|r| r.values())
    }

    pub fn member_by_id(&self, node_id: NodeId) -> Option<&Member> {
        self.members.values().find(|m| m.node_id == node_id)
    }
}

/// The catalog view: what every request reads, updated on every apply.
pub struct CatalogView {
    meta: Arc<MetaStore>,
    state: RwLock<CatalogState>,
    /// Bumped whenever the ring, the members or the ranges change, for the
    /// tasks that act on them.
    changes: tokio::sync::watch::Sender<u64>,
    /// Woken when a range split here: its new half is run at once.
    pub(crate) splits: tokio::sync::Notify,
}

impl CatalogView {
    pub fn load(meta: Arc<MetaStore>) -> ClusterResult<Arc<Self>> {
        let view = Arc::new(CatalogView {
            meta,
            state: RwLock::new(CatalogState::default()),
            changes: tokio::sync::watch::channel(0).0,
            splits: tokio::sync::Notify::new(),
        });
        view.reload_all()?;
        Ok(view)
    }

    fn reload_all(&self) -> ClusterResult<()> {
        let mut state = CatalogState::default();
        for bucket in self.meta.list_buckets()? {
            state.buckets.insert(bucket.name.clone(), bucket);
        }
        for key in self.meta.list_keys()? {
            state.keys.insert(key.access_key.clone(), key);
        }
        for (key, value) in self.meta.cluster_rows()? {
            state.set_cluster_row(&key, Some(&value));
        }
        *self.state.write() = state;
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    fn reload_bucket(&self, name: &str) -> ClusterResult<()> {
        let row = self.meta.get_bucket(name)?;
        let mut state = self.state.write();
        match row {
            Some(row) => state.buckets.insert(name.to_owned(), row),
            None => state.buckets.remove(name),
        };
        Ok(())
    }

    fn reload_keys(&self) -> ClusterResult<()> {
        let keys = self.meta.list_keys()?;
        self.state.write().keys = keys.into_iter().map(|k| (k.access_key.clone(), k)).collect();
        Ok(())
    }

    fn reload_cluster_row(&self, key: &[u8]) -> ClusterResult<()> {
        let value = self.meta.cluster_row(key)?;
        self.state.write().set_cluster_row(key, value.as_deref());
        Ok(())
    }

    /// Reloads every range row of a bucket (a split or a deletion changes
    /// several at once).
    fn reload_ranges(&self, bucket: ObjectId) -> ClusterResult<()> {
        let rows = self.meta.cluster_rows_with_prefix(&arca_meta::ranges::bucket_ranges_prefix(bucket))?;
        let mut state = self.state.write();
        state.ranges.remove(&bucket);
        for (key, value) in rows {
            state.set_cluster_row(&key, Some(&value));
        }
        Ok(())
    }

    fn apply(&self, commands: &[CatalogCommand]) -> ClusterResult<()> {
        let mut topology_changed = false;
        for command in commands {
            match command {
                CatalogCommand::CreateBucket { row, cluster } => {
                    self.reload_bucket(&row.name)?;
                    for (key, _) in cluster {
                        self.reload_cluster_row(key)?;
                    }
                    topology_changed = true;
                }
                CatalogCommand::UpdateBucket { row } | CatalogCommand::UpdateBucketIf { row, .. } => {
                    self.reload_bucket(&row.name)?
                }
                CatalogCommand::DeleteBucket { name, cluster, id, .. } => {
                    self.reload_bucket(name)?;
                    for key in cluster {
                        self.reload_cluster_row(key)?;
                    }
                    self.reload_ranges(*id)?;
                    topology_changed = true;
                }
                CatalogCommand::PutRange { desc, .. } => {
                    self.reload_ranges(desc.bucket)?;
                    topology_changed = true;
                }
                CatalogCommand::PutKey { .. }
                | CatalogCommand::DeleteKey { .. }
                | CatalogCommand::SetRootKey { .. } => self.reload_keys()?,
                CatalogCommand::PutCluster { key, .. } | CatalogCommand::RemoveCluster { key } => {
                    self.reload_cluster_row(key)?;
                    topology_changed = true;
                }
                CatalogCommand::SwapCluster { key, remove, put, .. } => {
                    self.reload_cluster_row(key)?;
                    for key in remove.iter().chain(put.iter().map(|(k, _)| k)) {
                        self.reload_cluster_row(key)?;
                    }
                    topology_changed = true;
                }
            }
        }
        if topology_changed {
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// A copy of the whole view.
    pub fn snapshot(&self) -> CatalogState {
        self.state.read().clone()
    }

    pub fn read<R>(&self, f: impl FnOnce(&CatalogState) -> R) -> R {
        f(&self.state.read())
    }

    pub fn bucket(&self, name: &str) -> Option<BucketRow> {
        self.state.read().buckets.get(name).cloned()
    }

    pub fn key(&self, access_key: &str) -> Option<KeyRow> {
        self.state.read().keys.get(access_key).cloned()
    }

    /// The range of `bucket` that holds `key`, by this view's map.
    pub fn range_for(&self, bucket: ObjectId, key: &str) -> Option<RangeDesc> {
        let state = self.state.read();
        let ranges = state.ranges.get(&bucket)?;
        // The greatest start at or below the key: right even while a
        // split's parent row still shows its old end (crate::ranges).
        ranges
            .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()
            .map(|(_, r)| r.clone())
    }

    /// Where range `group` runs, as its map row last recorded.
    pub fn range_replicas(&self, group: u64) -> Vec<String> {
        let state = self.state.read();
        state
            .all_ranges()
            .find(|r| r.group == group)
            .map(|r| r.replicas.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A bucket's ranges in key order.
    pub fn ranges_of(&self, bucket: ObjectId) -> Vec<RangeDesc> {
        self.state.read().ranges.get(&bucket).map(|r| r.values().cloned().collect()).unwrap_or_default()
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

impl ApplyHook for CatalogView {
    fn range_split(&self) {
        // The new group runs at once (`keeper::run_split_children`): its
        // voters must not wait for a keeper pass busy elsewhere.
        self.splits.notify_one();
    }

    fn catalog_applied(&self, commands: Option<&[CatalogCommand]>) {
        let result = match commands {
            Some(commands) => self.apply(commands),
            None => self.reload_all(),
        };
        if let Err(err) = result {
            tracing::error!(error = %err, "could not refresh the catalog view; reloading it whole");
            if let Err(err) = self.reload_all() {
                tracing::error!(error = %err, "could not reload the catalog view");
            }
        }
    }
}
