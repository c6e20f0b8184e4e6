//! Where things live: the ring in force (and the one before it, while data
//! moves), and this node's name in it.
//!
//! Devices are named by (node, device name) rather than by ring id: rings
//! built by different builders number their devices independently, and the
//! same directory must be found whichever ring names it.

use std::collections::BTreeSet;
use std::sync::Arc;

use arca_ring::Ring;
use parking_lot::RwLock;

/// One device of one node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The node's RPC address.
    pub node: String,
    /// The device's name on that node.
    pub device: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.node, self.device)
    }
}

/// The ring in force and its predecessor.
#[derive(Clone)]
pub struct Rings {
    pub current: Arc<Ring>,
    /// The ring before `current`: data it placed may not have moved yet, so
    /// reads that miss look there too.
    pub previous: Option<Arc<Ring>>,
}

pub struct Topology {
    me: String,
    rings: RwLock<Rings>,
}

impl Topology {
    pub fn new(me: String, ring: Ring, previous: Option<Ring>) -> Self {
        let rings = Rings { current: Arc::new(ring), previous: previous.map(Arc::new) };
        Topology { me, rings: RwLock::new(rings) }
    }

    /// This node's name in the ring (its RPC address, or its S3 address for
    /// a cluster of one without RPC).
    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn ring(&self) -> Arc<Ring> {
        self.rings.read().current.clone()
    }

    pub fn rings(&self) -> Rings {
        self.rings.read().clone()
    }

    /// Puts `ring` in force; the one it replaces becomes `previous`. A ring
    /// that is not newer than the current one is ignored.
    pub fn set_ring(&self, ring: Arc<Ring>) -> bool {
        let mut rings = self.rings.write();
        if ring.version() <= rings.current.version() && ring.to_bytes() == rings.current.to_bytes() {
            return false;
        }
        let previous = std::mem::replace(&mut rings.current, ring);
        rings.previous = Some(previous);
        true
    }

    /// The device `id` of `ring`.
    pub fn target(ring: &Ring, id: u32) -> Option<Target> {
        ring.device(id).map(|d| Target { node: d.node.clone(), device: d.device.clone() })
    }

    /// The primaries of a partition, in ring order.
    pub fn primaries(ring: &Ring, partition: u32) -> Vec<Target> {
        ring.primaries(partition).iter().filter_map(|&id| Self::target(ring, id)).collect()
    }

    /// The handoff devices of a partition, in the ring's handoff order.
    pub fn handoffs(ring: &Ring, partition: u32, limit: usize) -> Vec<Target> {
        ring.handoffs(partition)
            .take(limit)
            .map(|d| Target { node: d.node.clone(), device: d.device.clone() })
            .collect()
    }

    /// The nodes of the ring in force.
    pub fn nodes(&self) -> BTreeSet<String> {
        self.ring().devices().iter().filter(|d| d.weight > 0.0).map(|d| d.node.clone()).collect()
    }

    /// Every node the ring in force names, with data (weight) or without.
    pub fn all_nodes(&self) -> BTreeSet<String> {
        self.ring().devices().iter().map(|d| d.node.clone()).collect()
    }

    /// This node's devices in the ring in force.
    pub fn local_devices(&self) -> Vec<String> {
        self.ring().devices().iter().filter(|d| d.node == self.me).map(|d| d.device.clone()).collect()
    }

    pub fn is_local(&self, target: &Target) -> bool {
        target.node == self.me
    }
}
