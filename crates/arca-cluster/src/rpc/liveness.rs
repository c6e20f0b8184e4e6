//! Which nodes answer: a node whose request failed to connect or timed out
//! is down until a probe gets an answer from it.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Down { since: Instant },
}

#[derive(Default)]
pub(crate) struct Liveness {
    nodes: RwLock<HashMap<String, NodeState>>,
}

impl Liveness {
    pub fn is_up(&self, node: &str) -> bool {
        !matches!(self.nodes.read().get(node), Some(NodeState::Down { .. }))
    }

    /// Returns whether the node was up before.
    pub fn mark_down(&self, node: &str) -> bool {
        let mut nodes = self.nodes.write();
        match nodes.get(node) {
            Some(NodeState::Down { .. }) => false,
            _ => {
                nodes.insert(node.to_owned(), NodeState::Down { since: Instant::now() });
                true
            }
        }
    }

    /// Returns whether the node was down before.
    pub fn mark_up(&self, node: &str) -> bool {
        if self.is_up(node) && self.nodes.read().contains_key(node) {
            return false;
        }
        let previous = self.nodes.write().insert(node.to_owned(), NodeState::Up);
        matches!(previous, Some(NodeState::Down { .. }))
    }

    pub fn down_nodes(&self) -> Vec<String> {
        self.nodes
            .read()
            .iter()
            .filter(|(_, s)| matches!(s, NodeState::Down { .. }))
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn states(&self) -> Vec<(String, NodeState)> {
        let mut all: Vec<_> = self.nodes.read().iter().map(|(n, s)| (n.clone(), *s)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_until_marked_up() {
        let l = Liveness::default();
        assert!(l.is_up("a"));
        assert!(l.mark_down("a"));
        assert!(!l.mark_down("a"));
        assert!(!l.is_up("a"));
        assert_eq!(l.down_nodes(), vec!["a".to_owned()]);
        assert!(l.mark_up("a"));
        assert!(!l.mark_up("a"));
        assert!(l.is_up("a"));
        assert!(l.down_nodes().is_empty());
    }
}
