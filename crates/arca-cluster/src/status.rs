//! What `arca cluster status` shows: every node the ring names, up or
//! down, with its devices; the catalog's leader and voters; how far
//! replication is from done.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::raft::NodeId;
use crate::replicator::ReplicationStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub device: String,
    /// Partitions with at least one blob on the device.
    pub partitions: u64,
    /// Blobs (object stripes and parts) on the device.
    pub objects: u64,
    /// Bytes of live blob data.
    pub bytes: u64,
}

/// One node's own account, as `GET status` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: String,
    pub node_id: NodeId,
    pub devices: Vec<DeviceStatus>,
    /// Raft groups running here, and how many of them this node leads.
    pub groups: u64,
    pub leading: u64,
    /// Index range groups running here, and how many of them it leads.
    pub ranges: u64,
    pub leaders: u64,
    pub replication: ReplicationStatus,
}

/// `POST status/{group}`: this node's view of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembers {
    /// Whether this node leads the group.
    pub leader: bool,
    /// Voters and learners.
    pub nodes: Vec<NodeId>,
}

pub(crate) async fn local_status(cluster: &Arc<Cluster>) -> NodeStatus {
    let stores = cluster.blobs.local_stores();
    let devices = tokio::task::spawn_blocking(move || {
        stores
            .into_iter()
            .map(|(device, store)| {
                let stats = store.stats();
                DeviceStatus {
                    device,
                    partitions: store.partitions().len() as u64,
                    objects: stats.blobs,
                    bytes: stats.live_bytes,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let groups = cluster.groups.all();
    let led: Vec<u64> = groups
        .iter()
        .filter(|g| crate::raft::with_metrics(&g.raft, crate::raft::leads))
        .map(|g| g.desc.group)
        .collect();
    NodeStatus {
        node: cluster.addr.clone(),
        node_id: cluster.me,
        devices,
        groups: groups.len() as u64,
        leading: led.len() as u64,
        ranges: groups.iter().filter(|g| g.desc.group != 0).count() as u64,
        leaders: led.iter().filter(|g| **g != 0).count() as u64,
        replication: cluster.replication.read().clone(),
    }
}

pub(crate) fn group_members(cluster: &Cluster, group: u64) -> GroupMembers {
    match cluster.groups.get(group) {
        Some(handle) => {
            let metrics = crate::raft::metrics(&handle.raft);
            GroupMembers {
                leader: crate::raft::leads(&metrics),
                nodes: metrics.membership_config.membership().nodes().map(|(id, _)| *id).collect(),
            }
        }
        None => GroupMembers { leader: false, nodes: Vec::new() },
    }
}

/// `arca cluster status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub ring_version: u64,
    /// Index ranges in the catalog's range map.
    pub ranges: u64,
    pub nodes: Vec<NodeView>,
    pub catalog: CatalogStatus,
    pub replication: ReplicationSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub node: String,
    /// "up" or "down".
    pub state: &'static str,
    pub devices: Vec<DeviceStatus>,
    /// Index ranges it holds a replica of, and leads.
    pub ranges: u64,
    pub leaders: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatalogStatus {
    pub leader: Option<String>,
    pub voters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicationSummary {
    /// Partitions some node found out of step in its last pass.
    pub pending_partitions: u64,
    /// Seconds since the oldest of the nodes' last finished passes.
    pub last_pass_age_secs: u64,
}

/// Asks every node the ring names (and every member) for its status.
pub async fn cluster_status(cluster: &Arc<Cluster>) -> ClusterStatus {
    let mut nodes: BTreeSet<String> = cluster.topology.all_nodes();
    nodes.extend(cluster.members().into_keys());
    let mut views = Vec::new();
    let mut pending = 0;
    let mut oldest = 0;
    for node in nodes {
        let status = if node == cluster.addr {
            Some(local_status(cluster).await)
        } else if let Some(rpc) = &cluster.rpc {
            match rpc
                .fetch(
                    &node,
                    http::Method::GET,
                    "status",
                    crate::rpc::full_body(bytes::Bytes::new()),
                    Duration::from_secs(3),
                )
                .await
            {
                Ok(bytes) => crate::rpc::decode::<NodeStatus>(&bytes).ok(),
                Err(_) => None,
            }
        } else {
            None
        };
        match status {
            Some(status) => {
                pending += status.replication.pending_partitions;
                oldest = oldest.max(status.replication.last_pass_age_secs());
                views.push(NodeView {
                    node,
                    state: "up",
                    devices: status.devices,
                    ranges: status.ranges,
                    leaders: status.leaders,
                });
            }
            None => views.push(NodeView { node, state: "down", devices: Vec::new(), ranges: 0, leaders: 0 }),
        }
    }
    let (leader, voters) = match cluster.groups.get(0) {
        Some(handle) => {
            let metrics = crate::raft::metrics(&handle.raft);
            let membership = metrics.membership_config.membership().clone();
            let addr = |id: &NodeId| membership.get_node(id).map(|n| n.addr.clone());
            (
                metrics.current_leader.as_ref().and_then(addr),
                membership.voter_ids().filter_map(|id| addr(&id)).collect(),
            )
        }
        None => (None, Vec::new()),
    };
    ClusterStatus {
        ranges: cluster.catalog.read(|c| c.all_ranges().count()) as u64,
        ring_version: cluster.topology.ring().version(),
        nodes: views,
        catalog: CatalogStatus { leader, voters },
        replication: ReplicationSummary { pending_partitions: pending, last_pass_age_secs: oldest },
    }
}

/// One index range of a bucket, as `arca cluster ranges` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RangeView {
    pub group: String,
    pub start: String,
    pub end: Option<String>,
    pub epoch: u64,
    /// Live versions and uploads, and their object bytes.
    pub rows: u64,
    pub bytes: u64,
    pub replicas: Vec<String>,
    pub leader: Option<String>,
}

/// A bucket's ranges in key order, walked through their leaders (their
/// bounds and counts as applied there, not as the map last recorded them).
pub async fn bucket_ranges(
    cluster: &Arc<Cluster>,
    bucket: arca_types::ObjectId,
) -> crate::ClusterResult<Vec<RangeView>> {
    let mut out = Vec::new();
    let mut from = String::new();
    loop {
        let (group, epoch, stats, range) = cluster.range_counts(bucket, &from).await?;
        let (leader, replicas) = group_leader_and_replicas(cluster, group).await;
        out.push(RangeView {
            group: format!("{group:016x}"),
            start: range.start.clone(),
            end: range.end.clone(),
            epoch,
            rows: stats.objects + stats.uploads,
            bytes: stats.bytes,
            replicas,
            leader,
        });
        match range.end {
            Some(end) => from = end,
            None => return Ok(out),
        }
    }
}

/// Who leads a group and who holds it, as its members tell.
async fn group_leader_and_replicas(cluster: &Arc<Cluster>, group: u64) -> (Option<String>, Vec<String>) {
    let members = cluster.members();
    let addr_of = |id: NodeId| members.values().find(|m| m.node_id == id).map(|m| m.addr.clone());
    let mut candidates: Vec<String> = cluster.range_placement(group).into_values().collect();
    if let Some(handle) = cluster.groups.get(group) {
        let metrics = crate::raft::metrics(&handle.raft);
        candidates.extend(metrics.membership_config.membership().nodes().map(|(_, n)| n.addr.clone()));
    }
    candidates.dedup();
    for addr in candidates {
        let answer = if addr == cluster.addr {
            Some(group_members(cluster, group))
        } else if let Some(rpc) = &cluster.rpc {
            rpc.call::<_, GroupMembers>(&addr, &format!("status/{group}"), &(), Duration::from_secs(3))
                .await
                .ok()
        } else {
            None
        };
        if let Some(members) = answer
            && members.leader
        {
            return (Some(addr), members.nodes.into_iter().filter_map(addr_of).collect());
        }
    }
    (None, Vec::new())
}
