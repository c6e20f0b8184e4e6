//! Timestamps that order every write in the cluster (Swift's X-Timestamp).
//!
//! A timestamp is wall-clock microseconds since the Unix epoch plus the id of
//! the node that made it, so two nodes writing in the same microsecond still
//! produce distinct, totally ordered timestamps. Replicas of a row resolve
//! conflicts by keeping the one with the greater timestamp (last writer wins).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Identifies a node of the cluster; breaks timestamp ties.
pub type NodeId = u32;

/// Ordered by `micros`, then by `node`. Encoded as 12 bytes: micros as a
/// big-endian u64, then node as a big-endian u32 (so byte order = time order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Timestamp {
    pub micros: u64,
    pub node: NodeId,
}

impl Timestamp {
    pub const ENCODED_LEN: usize = 12;
    pub const ZERO: Timestamp = Timestamp { micros: 0, node: 0 };

    pub fn new(micros: u64, node: NodeId) -> Self {
        Timestamp { micros, node }
    }

    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.micros.to_be_bytes());
        out[8..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::ENCODED_LEN]) -> Self {
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&bytes[..8]);
        let mut node = [0u8; 4];
        node.copy_from_slice(&bytes[8..]);
        Timestamp { micros: u64::from_be_bytes(micros), node: u32::from_be_bytes(node) }
    }

    /// Seconds since the Unix epoch (for HTTP dates).
    pub fn unix_seconds(&self) -> u64 {
        self.micros / 1_000_000
    }

    pub fn to_system_time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_micros(self.micros)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}_{}", self.micros / 1_000_000, self.micros % 1_000_000, self.node)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// Hands out strictly increasing timestamps for one node.
///
/// Wall clocks step backwards (NTP) and two writes land in one microsecond;
/// either would let a later write lose to an earlier one under last writer
/// wins. The clock therefore never returns a value at or below the last one.
#[derive(Debug)]
pub struct Clock {
    node: NodeId,
    last: AtomicU64,
}

impl Clock {
    pub fn new(node: NodeId) -> Self {
        Clock { node, last: AtomicU64::new(0) }
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn now(&self) -> Timestamp {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last + 1);
            match self.last.compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Timestamp::new(next, self.node),
                Err(seen) => last = seen,
            }
        }
    }

    /// Makes every later timestamp greater than `seen` (after reading a row
    /// written by a node whose clock runs ahead).
    pub fn observe(&self, seen: Timestamp) {
        self.last.fetch_max(seen.micros, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn byte_order_is_time_order(a: u64, na: u32, b: u64, nb: u32) {
            let x = Timestamp::new(a, na);
            let y = Timestamp::new(b, nb);
            prop_assert_eq!(Timestamp::from_bytes(&x.to_bytes()), x);
            prop_assert_eq!(x.cmp(&y), x.to_bytes().cmp(&y.to_bytes()));
        }
    }

    #[test]
    fn clock_is_strictly_increasing_across_threads() {
        let clock = std::sync::Arc::new(Clock::new(7));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let clock = clock.clone();
                std::thread::spawn(move || (0..10_000).map(|_| clock.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Timestamp> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "two calls returned the same timestamp");
        assert!(all.iter().all(|t| t.node == 7));
    }

    #[test]
    fn clock_observes_a_future_timestamp() {
        let clock = Clock::new(1);
        let future = Timestamp::new(u64::MAX / 2, 9);
        clock.observe(future);
        assert!(clock.now() > future);
    }
}
