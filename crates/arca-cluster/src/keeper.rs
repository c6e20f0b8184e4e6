//! The keeper: the background work that puts groups where the ring and the
//! catalog say they belong (TiKV's placement driver, in small).
//!
//! On every node, every few seconds and whenever the catalog changes:
//! - the ring in the catalog is put in force here (new devices opened);
//! - the index ranges the ring places on this node run here;
//! - groups of deleted buckets, and of ranges this node no longer holds,
//!   stop and their rows are removed.
//!
//! On the catalog's leader, in addition:
//! - nodes the ring names that are not members yet are asked to join; an
//!   empty node leaves its own cluster of one and becomes a member;
//! - the catalog group's voters are up to five members spread over zones,
//!   every other member a learner (so every gateway holds the catalog);
//! - the placement service plans where each range and its leader belong
//!   (`crate::placement`), and each range's voters are brought there: new
//!   members catch up as learners first, then one membership change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arca_meta::raft::CatalogCommand;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::catalog::{self, Member};
use crate::cluster::Cluster;
use crate::error::{ClusterError, ClusterResult};
use crate::raft::{GroupDesc, Node, NodeId};

/// A group that is no longer in the catalog is removed after this long (the
/// catalog view may briefly trail a creation).
const FORGET_AFTER: Duration = Duration::from_secs(30);

/// A range's copy here is removed once the plan has placed it elsewhere
/// for this long (and its leader no longer counts this node).
const LEAVE_AFTER: Duration = Duration::from_secs(10);

/// Ranges whose voters move at the same time (each move waits for a
/// learner to catch up; one slow move must not hold up the others).
const CONCURRENT_MOVES: usize = 4;

/// `POST join`: the catalog leader asks a node to become a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub cluster_id: [u8; 16],
    pub leader: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JoinReply {
    Joined { node_id: NodeId },
    Refused(String),
}

pub(crate) fn start(cluster: Arc<Cluster>) {
    tokio::spawn(run_split_children(Arc::downgrade(&cluster)));
    tokio::spawn(move_ranges(Arc::downgrade(&cluster)));
    tokio::spawn(async move {
        let mut changes = cluster.catalog.subscribe();
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut keeper = Keeper::default();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                changed = changes.changed() => if changed.is_err() { return },
            }
            if let Err(err) = keeper.pass(&cluster).await {
                tracing::warn!(error = %err, "keeper pass failed");
            }
        }
    });
}

/// Runs the groups splits create here, as soon as a split is applied.
async fn run_split_children(cluster: std::sync::Weak<Cluster>) {
    loop {
        let Some(catalog) = cluster.upgrade().map(|c| c.catalog.clone()) else { return };
        // A split applied while this task was busy left a permit: none is
        // missed.
        catalog.splits.notified().await;
        let Some(cluster) = cluster.upgrade() else { return };
        if let Err(err) = run_stored_groups(&cluster).await {
            tracing::warn!(error = %err, "could not run a split's new range yet");
        }
    }
}

/// Opens every range group whose state is in the store but that does not
/// run (a split's new half).
async fn run_stored_groups(cluster: &Arc<Cluster>) -> ClusterResult<()> {
    for (group, state) in cluster.meta.groups()? {
        if group != 0 && state.membership.is_some() && cluster.groups.get(group).is_none() {
            cluster.open_split_child(group).await?;
        }
    }
    Ok(())
}

/// On the catalog leader, apart from the keeper's passes (a move waits for
/// a learner to catch up, minutes for a large range): brings every range's
/// voters to where the ring places it.
async fn move_ranges(cluster: std::sync::Weak<Cluster>) {
    let mut settled: HashMap<u64, u64> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some(cluster) = cluster.upgrade() else { return };
        if is_catalog_leader(&cluster) {
            if let Err(err) = plan_placements(&cluster).await {
                tracing::warn!(error = %err, "could not record the ranges' placement");
            }
            settle_ranges(&cluster, &mut settled).await;
        }
    }
}

#[derive(Default)]
struct Keeper {
    /// Groups running here that the catalog does not list, since when.
    missing_since: HashMap<u64, Instant>,
    /// Groups running here that the plan places elsewhere, since when.
    unplaced_since: HashMap<u64, Instant>,
    /// When a refusal to join was last logged, per node.
    refused_logged: HashMap<String, Instant>,
    /// Per range led here: (when, applied index) samples over the load
    /// window, and when it last split.
    load: HashMap<u64, std::collections::VecDeque<(Instant, u64)>>,
    last_split: HashMap<u64, Instant>,
}

/// A range that split waits this long before it may split again (its new
/// half too), so the map settles and load is measured afresh.
const SPLIT_COOLDOWN: Duration = Duration::from_secs(10);

/// Leaderships a node hands over per keeper pass (each costs its range a
/// vote round without writes).
const MAX_TRANSFERS_PER_PASS: usize = 2;

/// The voter that should lead a range: the highest of a hash of (group,
/// node) over its voters (rendezvous hashing). Ranges' leaders so spread
/// over their voters evenly, and a voter set's change moves only the
/// leaderships of the voters that came or went.
pub(crate) fn preferred_leader(group: u64, voters: impl IntoIterator<Item = NodeId>) -> Option<NodeId> {
    voters.into_iter().max_by_key(|node| {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&group.to_be_bytes());
        bytes[8..].copy_from_slice(&node.to_be_bytes());
        arca_types::placement_hash(&bytes)
    })
}

/// On a range's leader: hands leadership to the leader the placement
/// service planned (before it planned one, the rendezvous choice) if that
/// is another voter, believed up and caught up with the log. Each node
/// does so for the ranges it leads, so leaders spread as planned, and a
/// node that comes back takes its share again.
async fn hand_over_leadership(cluster: &Arc<Cluster>, handle: &crate::raft::GroupHandle) -> bool {
    let target = crate::raft::with_metrics(&handle.raft, |m| {
        let membership = m.membership_config.membership();
        if membership.get_joint_config().len() != 1 {
            return None;
        }
        let planned = cluster.catalog.read(|c| {
            let leader = &c.placements.get(&handle.desc.group)?.leader;
            c.members.get(leader).map(|m| m.node_id)
        });
        let preferred = match planned {
            Some(node) if membership.voter_ids().any(|v| v == node) => node,
            _ => preferred_leader(handle.desc.group, membership.voter_ids())?,
        };
        let node = membership.get_node(&preferred)?;
        let matched = m.replication.as_ref()?.get(&preferred)?.as_ref().map(|l| l.index);
        let caught_up = matched >= m.last_log_index.map(|i| i.saturating_sub(8));
        (preferred != cluster.me && caught_up).then(|| (preferred, node.addr.clone()))
    });
    let Some((target, addr)) = target else { return false };
    if cluster.rpc.as_ref().is_some_and(|rpc| !rpc.is_up(&addr)) {
        return false;
    }
    match handle.raft.trigger().transfer_leader(target).await {
        Ok(()) => {
            tracing::debug!(group = handle.desc.group, to = %addr, "handed a range's leadership over");
            true
        }
        Err(_) => false,
    }
}

impl Keeper {
    async fn pass(&mut self, cluster: &Arc<Cluster>) -> ClusterResult<()> {
        apply_ring(cluster)?;
        self.place_ranges(cluster).await?;
        self.tend_led_ranges(cluster).await;
        if is_catalog_leader(cluster) {
            self.admit_nodes(cluster).await?;
            settle_catalog_voters(cluster).await?;
        }
        Ok(())
    }

    /// Runs the ranges placed here and those a split made here; stops
    /// those that left.
    async fn place_ranges(&mut self, cluster: &Arc<Cluster>) -> ClusterResult<()> {
        let ranges: Vec<crate::catalog::RangeDesc> =
            cluster.catalog.read(|c| c.all_ranges().cloned().collect());
        if !cluster.role.stores() {
            return Ok(());
        }
        // A split's new half has its state here from the split's apply
        // (normally run at once by `run_split_children`).
        run_stored_groups(cluster).await?;
        for range in &ranges {
            let placement = cluster.range_placement(range.group);
            if !placement.contains_key(&cluster.me) || cluster.groups.get(range.group).is_some() {
                continue;
            }
            let handle = match cluster.groups.open(GroupDesc::of_range(range)).await {
                Ok(handle) => handle,
                Err(err) => {
                    tracing::debug!(group = range.group, error = %err, "not running a range here yet");
                    continue;
                }
            };
            let fresh = cluster.meta.raft_last_entry(range.group)?.is_none()
                && cluster.meta.group_state(range.group)?.is_none_or(|s| s.membership.is_none());
            if fresh && range.initial.contains_key(&cluster.me) {
                let members: BTreeMap<NodeId, Node> =
                    range.initial.iter().map(|(id, addr)| (*id, Node { addr: addr.clone() })).collect();
                cluster.groups.initialize(&handle, members).await?;
            }
        }
        let now = Instant::now();
        for handle in cluster.groups.all() {
            let group = handle.desc.group;
            if group == 0 {
                continue;
            }
            let listed = ranges.iter().any(|r| r.group == group);
            if !listed {
                let since = *self.missing_since.entry(group).or_insert(now);
                if now.duration_since(since) >= FORGET_AFTER {
                    tracing::info!(group, "the range's bucket is gone; removing its group here");
                    cluster.groups.stop(group, true).await?;
                    self.missing_since.remove(&group);
                }
                continue;
            }
            self.missing_since.remove(&group);
            if cluster.range_placement(group).contains_key(&cluster.me) {
                self.unplaced_since.remove(&group);
                continue;
            }
            // A node is asked to run a range it is moving to before this
            // node's view of the plan may say so: it leaves only once the
            // plan has said otherwise for a while and the range's leader
            // confirms it is no member.
            let since = *self.unplaced_since.entry(group).or_insert(now);
            if now.duration_since(since) < LEAVE_AFTER {
                continue;
            }
            if left_group(cluster, group).await {
                tracing::info!(group, "this node no longer holds the range; removing its copy");
                cluster.groups.stop(group, true).await?;
                self.unplaced_since.remove(&group);
            } else {
                tracing::debug!(
                    group,
                    "the range is placed elsewhere, but its leader still counts this node"
                );
            }
        }
        self.unplaced_since.retain(|group, _| cluster.groups.get(*group).is_some());
        Ok(())
    }

    /// For every range this node leads: its bounds are in the catalog's map
    /// (the splitter may have died before writing them), and it splits if
    /// it passed a size or load threshold.
    async fn tend_led_ranges(&mut self, cluster: &Arc<Cluster>) {
        let now = Instant::now();
        let policy = cluster.split;
        let mut led = Vec::new();
        let mut transfers = 0;
        for handle in cluster.groups.all() {
            let group = handle.desc.group;
            let (leader, applied) = crate::raft::with_metrics(&handle.raft, |m| {
                (crate::raft::leads(m), m.last_applied.as_ref().map_or(0, |l| l.index))
            });
            if group == 0 || !leader {
                continue;
            }
            led.push(group);
            if let Err(err) = cluster.register_range(group).await {
                tracing::debug!(group, error = %err, "could not record a range in the map yet");
            }
            let samples = self.load.entry(group).or_default();
            samples.push_back((now, applied));
            while samples.len() > 2 && now.duration_since(samples[0].0) > crate::ranges::LOAD_WINDOW {
                samples.pop_front();
            }
            let rate = match (samples.front(), samples.back()) {
                (Some((t0, i0)), Some((t1, i1)))
                    if t1.duration_since(*t0) >= crate::ranges::LOAD_WINDOW / 2 =>
                {
                    (i1 - i0) as f64 / t1.duration_since(*t0).as_secs_f64()
                }
                _ => 0.0,
            };
            if self.last_split.get(&group).is_some_and(|t| now.duration_since(*t) < SPLIT_COOLDOWN) {
                continue;
            }
            if transfers < MAX_TRANSFERS_PER_PASS && hand_over_leadership(cluster, &handle).await {
                transfers += 1;
                continue;
            }
            let Ok(Some(state)) = cluster.meta.group_state(group) else { continue };
            let Some(bucket) = state.bucket else { continue };
            let Ok(stats) = cluster.meta.range_stats(bucket, &state.range.start) else { continue };
            let big = (policy.rows > 0 && stats.objects + stats.uploads >= policy.rows)
                || (policy.bytes > 0 && stats.bytes >= policy.bytes);
            let busy = policy.writes_per_sec > 0 && rate >= policy.writes_per_sec as f64;
            if !(big || busy) || state.closed {
                continue;
            }
            match cluster.split_range(group).await {
                Ok(Some(child)) => {
                    tracing::info!(
                        group,
                        child,
                        big,
                        busy,
                        rate,
                        rows = stats.objects + stats.uploads,
                        "range passed its threshold and split"
                    );
                    self.last_split.insert(group, now);
                    self.last_split.insert(child, now);
                    self.load.remove(&group);
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(group, error = %err, "could not split a range"),
            }
        }
        self.load.retain(|group, _| led.contains(group));
        self.last_split.retain(|_, at| now.duration_since(*at) < SPLIT_COOLDOWN);
    }

    /// Asks the nodes the ring names that are not members to join.
    async fn admit_nodes(&mut self, cluster: &Arc<Cluster>) -> ClusterResult<()> {
        let Some(rpc) = cluster.rpc.clone() else { return Ok(()) };
        let Some(cluster_id) = cluster.catalog.read(|c| c.cluster_id) else { return Ok(()) };
        let members = cluster.members();
        // Every node the ring names, holding data or not: a gateway-only
        // node is named with weight 0 and joins to hold the catalog.
        for node in cluster.topology.all_nodes() {
            if node == cluster.addr || !rpc.is_up(&node) {
                continue;
            }
            if let Some(member) = members.get(&node) {
                // A member that answers as another node (its data was wiped
                // and it started over as a cluster of its own) joins again
                // under its new id.
                match rpc.ping(&node, Duration::from_secs(2)).await {
                    Ok(hello) if hello.cluster != cluster_id || hello.node_id != member.node_id => {
                        tracing::warn!(node = %node, "a member came back as a new node; it joins again");
                    }
                    _ => continue,
                }
            }
            let request = JoinRequest { cluster_id, leader: cluster.addr.clone() };
            match rpc.call::<_, JoinReply>(&node, "join", &request, Duration::from_secs(30)).await {
                Ok(JoinReply::Joined { node_id }) => {
                    if let Some(other) = members.values().find(|m| m.node_id == node_id && m.addr != node) {
                        tracing::error!(node = %node, other = %other.addr, node_id,
                            "two nodes have the same id; remove one's data directory and start it again");
                        continue;
                    }
                    let member = Member { node_id, addr: node.clone() };
                    cluster
                        .catalog_write(CatalogCommand::PutCluster {
                            key: catalog::member_key(&node),
                            value: catalog::encode_member(&member),
                        })
                        .await?;
                    tracing::info!(node = %node, node_id, "node joined the cluster");
                }
                Ok(JoinReply::Refused(why)) => {
                    let last = self.refused_logged.get(&node);
                    if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(node = %node, why, "node refused to join the cluster");
                        self.refused_logged.insert(node.clone(), Instant::now());
                    }
                }
                Err(err) => tracing::debug!(node = %node, error = %err, "could not ask a node to join"),
            }
        }
        Ok(())
    }
}

/// On the catalog's leader: plans where every range belongs
/// (`crate::placement`) and records what changed; drops the plans of
/// ranges that are gone.
async fn plan_placements(cluster: &Arc<Cluster>) -> ClusterResult<()> {
    use crate::placement::{self, Placement};
    let (slots, replicas) = cluster.placement_slots();
    if slots.is_empty() {
        return Ok(());
    }
    let (recorded, current) = cluster.catalog.read(|c| {
        let mut current = BTreeMap::new();
        for range in c.all_ranges() {
            let placement = c.placements.get(&range.group).cloned().unwrap_or_else(|| Placement {
                replicas: range.replicas.values().cloned().collect(),
                leader: String::new(),
            });
            current.insert(range.group, placement);
        }
        (c.placements.clone(), current)
    });
    for (group, placement) in placement::plan(&slots, replicas, &current) {
        if recorded.get(&group) == Some(&placement) {
            continue;
        }
        tracing::info!(group, replicas = ?placement.replicas, leader = %placement.leader, "placed a range");
        let key = placement::placement_key(group);
        let value = placement::encode_placement(&placement);
        cluster.catalog_write(CatalogCommand::PutCluster { key, value }).await?;
    }
    for group in recorded.keys().filter(|g| !current.contains_key(g)) {
        // Its bucket was deleted, or it merged into a neighbour.
        cluster
            .catalog_write(CatalogCommand::RemoveCluster { key: placement::placement_key(*group) })
            .await?;
    }
    Ok(())
}

/// Brings every range's voters to its planned place, a few ranges at a
/// time.
async fn settle_ranges(cluster: &Arc<Cluster>, settled: &mut HashMap<u64, u64>) {
    use futures::StreamExt;
    let ranges: Vec<crate::catalog::RangeDesc> = cluster.catalog.read(|c| c.all_ranges().cloned().collect());
    let signature = placement_signature(cluster);
    settled.retain(|group, _| ranges.iter().any(|r| r.group == *group));
    let mut pending = Vec::new();
    for range in &ranges {
        let signature = signature
            ^ cluster.catalog.read(|c| {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                c.placements.get(&range.group).map(|p| &p.replicas).hash(&mut hasher);
                hasher.finish()
            });
        if settled.get(&range.group) != Some(&signature) {
            pending.push((range.group, signature));
        }
    }
    let mut moves = futures::stream::iter(pending)
        .map(|(group, signature)| async move {
            let wanted = cluster.range_placement(group);
            (group, signature, cluster.manage_range(group, wanted).await)
        })
        .buffer_unordered(CONCURRENT_MOVES);
    while let Some((group, signature, result)) = moves.next().await {
        match result {
            Ok(()) => {
                settled.insert(group, signature);
            }
            Err(err) => tracing::info!(group, error = %err, "a range's voters are not where planned yet"),
        }
    }
}

/// Changes whenever the ring or the members change.
fn placement_signature(cluster: &Cluster) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    cluster.topology.ring().to_bytes().hash(&mut hasher);
    for (addr, member) in cluster.members() {
        addr.hash(&mut hasher);
        member.node_id.hash(&mut hasher);
    }
    hasher.finish()
}

/// Whether the range's leader no longer counts this node among its
/// members (asked of the leader: a removed member may never hear of its
/// own removal).
async fn left_group(cluster: &Arc<Cluster>, group: u64) -> bool {
    let Some(handle) = cluster.groups.get(group) else { return false };
    let metrics = crate::raft::metrics(&handle.raft);
    if crate::raft::leads(&metrics) {
        return false;
    }
    let voters = cluster.range_placement(group);
    let Some(rpc) = cluster.rpc.as_ref() else { return false };
    for addr in voters.values() {
        let answer: Result<crate::status::GroupMembers, _> =
            rpc.call(addr, &format!("status/{group}"), &(), Duration::from_secs(5)).await;
        if let Ok(members) = answer
            && members.leader
        {
            return !members.nodes.contains(&cluster.me);
        }
    }
    false
}

fn is_catalog_leader(cluster: &Cluster) -> bool {
    cluster.groups.get(0).is_some_and(|h| crate::raft::with_metrics(&h.raft, crate::raft::leads))
}

/// Puts the catalog's ring in force here.
fn apply_ring(cluster: &Cluster) -> ClusterResult<()> {
    let Some(bytes) = cluster.catalog.read(|c| c.ring.clone()) else { return Ok(()) };
    if bytes == cluster.topology.ring().to_bytes() {
        return Ok(());
    }
    let ring = arca_ring::Ring::from_bytes(&bytes)
        .map_err(|e| ClusterError::Internal(format!("catalog ring: {e}")))?;
    let version = ring.version();
    if cluster.topology.set_ring(Arc::new(ring)) {
        tracing::info!(version, "a new ring is in force");
        if cluster.role.stores() {
            cluster.blobs.open_ring_devices()?;
        }
    }
    Ok(())
}

/// The catalog's voters: up to five members the ring names, one per zone
/// first, keeping current voters where they still qualify.
fn choose_catalog_voters(cluster: &Cluster, current: &BTreeSet<NodeId>) -> BTreeMap<NodeId, String> {
    const MAX_VOTERS: usize = 5;
    let ring = cluster.topology.ring();
    let members = cluster.members();
    let rpc = cluster.rpc.as_ref();
    // (region, zone) of each member node the ring names.
    let mut zones: BTreeMap<(u32, u32), Vec<&Member>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for device in ring.devices().iter().filter(|d| d.weight > 0.0) {
        if let Some(member) = members.get(&device.node)
            && seen.insert(member.addr.clone())
        {
            let usable = current.contains(&member.node_id) || rpc.is_none_or(|r| r.is_up(&member.addr));
            if usable {
                zones.entry((device.region, device.zone)).or_default().push(member);
            }
        }
    }
    for nodes in zones.values_mut() {
        // Current voters first, so a settled choice does not churn.
        nodes.sort_by_key(|m| (!current.contains(&m.node_id), m.addr.clone()));
    }
    let mut chosen = BTreeMap::new();
    let mut round = 0;
    while chosen.len() < MAX_VOTERS {
        let mut any = false;
        for nodes in zones.values() {
            if let Some(member) = nodes.get(round) {
                any = true;
                if chosen.len() < MAX_VOTERS {
                    chosen.insert(member.node_id, member.addr.clone());
                }
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    if chosen.is_empty() {
        chosen.insert(cluster.me, cluster.addr.clone());
    }
    chosen
}

/// On the catalog leader: every member replicates the catalog; the chosen
/// ones vote.
async fn settle_catalog_voters(cluster: &Arc<Cluster>) -> ClusterResult<()> {
    let Some(handle) = cluster.groups.get(0) else { return Ok(()) };
    let metrics = crate::raft::metrics(&handle.raft);
    let membership = metrics.membership_config.membership().clone();
    let known: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
    let current: BTreeSet<NodeId> = membership.voter_ids().collect();
    let rpc = cluster.rpc.as_ref();
    for member in cluster.members().values() {
        if known.contains(&member.node_id) || rpc.is_some_and(|r| !r.is_up(&member.addr)) {
            continue;
        }
        let add = handle.raft.add_learner(member.node_id, Node { addr: member.addr.clone() }, true);
        match tokio::time::timeout(Duration::from_secs(60), add).await {
            Ok(Ok(_)) => tracing::info!(node = %member.addr, "node replicates the catalog"),
            Ok(Err(err)) => {
                tracing::warn!(node = %member.addr, error = %err, "could not add a catalog learner")
            }
            Err(_) => tracing::warn!(node = %member.addr, "a catalog learner did not catch up in time"),
        }
    }
    let wanted = choose_catalog_voters(cluster, &current);
    let wanted_ids: BTreeSet<NodeId> = wanted.keys().copied().collect();
    let metrics = crate::raft::metrics(&handle.raft);
    let known: BTreeSet<NodeId> = metrics.membership_config.membership().nodes().map(|(id, _)| *id).collect();
    if wanted_ids != current && wanted_ids.is_subset(&known) {
        // `retain`: voters that step down stay learners and keep the catalog.
        match handle.raft.change_membership(wanted_ids.clone(), true).await {
            Ok(_) => tracing::info!(voters = ?wanted.values().collect::<Vec<_>>(), "catalog voters changed"),
            Err(err) => tracing::warn!(error = %err, "could not change the catalog voters"),
        }
    }
    // Ids no member has any more (a node wiped and joined again under a
    // new id) leave the group once they no longer vote.
    let ids: BTreeSet<NodeId> = cluster.members().values().map(|m| m.node_id).collect();
    let stale: BTreeSet<NodeId> =
        known.iter().copied().filter(|id| !ids.contains(id) && !wanted_ids.contains(id)).collect();
    let voting: BTreeSet<NodeId> =
        crate::raft::metrics(&handle.raft).membership_config.membership().voter_ids().collect();
    if !stale.is_empty() && stale.is_disjoint(&voting) {
        let remove = openraft::ChangeMembers::RemoveNodes(stale.clone());
        match handle.raft.change_membership(remove, false).await {
            Ok(_) => tracing::info!(ids = ?stale, "removed old node ids from the catalog group"),
            Err(err) => tracing::warn!(error = %err, "could not remove old node ids from the catalog group"),
        }
    }
    Ok(())
}

/// On a node asked to join: an empty node (no bucket, no index range)
/// leaves its own cluster of one — its catalog is dropped, a marker makes
/// sure it never starts a cluster of its own again — and waits for the
/// leader to add it.
pub(crate) async fn accept_join(cluster: &Arc<Cluster>, request: JoinRequest) -> JoinReply {
    if cluster.catalog.read(|c| c.cluster_id) == Some(request.cluster_id) {
        return JoinReply::Joined { node_id: cluster.me };
    }
    let buckets = cluster.catalog.read(|c| c.buckets.len());
    let ranges = cluster.groups.all().iter().filter(|g| g.desc.group != 0).count();
    if buckets > 0 || ranges > 0 {
        return JoinReply::Refused(format!(
            "{} holds {buckets} bucket(s) of another cluster; only an empty node can join",
            cluster.addr
        ));
    }
    let joined = async {
        let meta = cluster.meta.clone();
        let id = request.cluster_id;
        tokio::task::spawn_blocking(move || meta.set_local_value("joined", &id)).await??;
        cluster.groups.stop(0, true).await?;
        crate::raft::ApplyHook::catalog_applied(cluster.catalog.as_ref(), None);
        cluster.groups.open(GroupDesc::catalog()).await?;
        Ok::<_, ClusterError>(())
    };
    match joined.await {
        Ok(()) => {
            tracing::info!(leader = %request.leader, "left this node's own cluster to join another");
            JoinReply::Joined { node_id: cluster.me }
        }
        Err(err) => JoinReply::Refused(format!("could not leave the node's own cluster: {err}")),
    }
}
