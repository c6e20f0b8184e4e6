//! Proposals to a group this node leads, sent to openraft in batches.
//!
//! Each proposal becomes a log entry; what costs is the round each entry
//! goes through — an append, its fsync, the apply, the answer — and openraft
//! batches only the writes already waiting when its core looks. So the
//! node does what the metadata writer does for the disk (group commit): per
//! group one batch is in flight at a time, and every proposal that arrives
//! meanwhile waits and goes with the next one, in one `client_write_many`.
//! A lone proposal goes at once (no waiting for company); under load a
//! batch holds everything that arrived during the previous round.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use openraft::errors::ClientWriteError;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::raft::{Command, GroupHandle, Response};

/// How one proposal ended, as the routing layer sees it.
pub(crate) enum Outcome {
    Done(Box<Response>),
    /// Not the leader (the leader's address, if known), or the entry was
    /// discarded by a change of leader (its fate unknown: sent again).
    NotLeader(Option<String>),
    Unavailable(String),
}

type Waiter = (Command, oneshot::Sender<Outcome>);

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    /// A batch of this group is in flight.
    running: bool,
}

/// The batches of every group of this node.
#[derive(Default, Clone)]
pub(crate) struct Batcher {
    queues: Arc<Mutex<HashMap<u64, Queue>>>,
}

/// The most proposals in one batch (bounds one append and one apply).
const MAX_BATCH: usize = 512;

impl Batcher {
    /// Proposes `command` to `handle`'s group and waits for its outcome.
    pub async fn propose(
        &self,
        handle: GroupHandle,
        command: Command,
        patience: std::time::Duration,
    ) -> Outcome {
        let (tx, rx) = oneshot::channel();
        let group = handle.desc.group;
        let start = {
            let mut queues = self.queues.lock();
            let queue = queues.entry(group).or_default();
            queue.waiting.push((command, tx));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            tokio::spawn(self.clone().run(handle, patience));
        }
        rx.await.unwrap_or_else(|_| Outcome::Unavailable(format!("group {group}: the proposal was dropped")))
    }

    /// Sends batches for one group until its queue is empty.
    async fn run(self, handle: GroupHandle, patience: std::time::Duration) {
        let group = handle.desc.group;
        loop {
            let batch: Vec<Waiter> = {
                let mut queues = self.queues.lock();
                let Some(queue) = queues.get_mut(&group) else { return };
                if queue.waiting.is_empty() {
                    queues.remove(&group);
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect()
            };
            let (commands, senders): (Vec<Command>, Vec<oneshot::Sender<Outcome>>) =
                batch.into_iter().unzip();
            let outcomes = write_many(&handle, commands, patience).await;
            for (sender, outcome) in senders.into_iter().zip(outcomes) {
                let _ = sender.send(outcome);
            }
        }
    }
}

fn leader_addr(forward: &openraft::errors::ForwardToLeader<crate::raft::C>) -> Option<String> {
    forward.leader_node.as_ref().map(|n| n.addr.clone())
}

/// One batch: an outcome per command, in order.
async fn write_many(
    handle: &GroupHandle,
    commands: Vec<Command>,
    patience: std::time::Duration,
) -> Vec<Outcome> {
    let group = handle.desc.group;
    let count = commands.len();
    let all = |outcome: &dyn Fn() -> Outcome| (0..count).map(|_| outcome()).collect::<Vec<_>>();
    // A leader cut off from its followers does not know it yet: its writes
    // wait for a quorum that never answers. They end as 503 instead.
    let written = tokio::time::timeout(patience, async {
        let mut stream = handle.raft.client_write_many(commands).await?;
        let mut results = Vec::with_capacity(count);
        while let Some(result) = stream.next().await {
            results.push(result?);
        }
        Ok::<_, openraft::errors::Fatal<crate::raft::C>>(results)
    })
    .await;
    let results = match written {
        Ok(Ok(results)) => results,
        Ok(Err(fatal)) => return all(&|| Outcome::Unavailable(format!("group {group}: {fatal}"))),
        Err(_) => {
            return all(&|| {
                Outcome::Unavailable(format!("group {group}: no quorum confirmed the write in time"))
            });
        }
    };
    let mut outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|result| match result {
            Ok(written) => Outcome::Done(Box::new(written.response)),
            Err(ClientWriteError::ForwardToLeader(forward)) => Outcome::NotLeader(leader_addr(&forward)),
            // Dropped by a change of leader: whether it committed is
            // unknown, and every command is safe to apply twice, so it is
            // simply sent again.
            Err(ClientWriteError::LogEntryDiscarded(forward)) => Outcome::NotLeader(leader_addr(&forward)),
            Err(err) => Outcome::Unavailable(format!("group {group}: {err}")),
        })
        .collect();
    // The stream ended early (the core stopped): the rest are unknown.
    while outcomes.len() < count {
        outcomes.push(Outcome::Unavailable(format!("group {group}: the write's outcome is unknown")));
    }
    outcomes
}

/// Read indexes a replica asks its group's leader for, one request for all
/// the reads that arrive together (a follower read, 8.4).
///
/// A read may use a read index only if the leader confirmed it after the
/// read began — else a write acknowledged just before the read could be
/// missing from it. So per group one request is in flight at a time, and a
/// read that arrives meanwhile waits for the next one, which carries every
/// read that arrived during the previous.
#[derive(Default, Clone)]
pub(crate) struct ReadIndexes {
    queues: Arc<Mutex<HashMap<u64, ReadQueue>>>,
}

#[derive(Default)]
struct ReadQueue {
    waiting: Vec<oneshot::Sender<Result<u64, String>>>,
    running: bool,
}

impl ReadIndexes {
    /// A read index of `group` confirmed by its leader after this call
    /// began; `fetch` asks the leader for one.
    pub async fn get<F, Fut>(&self, group: u64, fetch: F) -> Result<u64, String>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<u64, String>> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queues = self.queues.lock();
            let queue = queues.entry(group).or_default();
            queue.waiting.push(tx);
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let queues = self.queues.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut queues = queues.lock();
                        let Some(queue) = queues.get_mut(&group) else { return };
                        if queue.waiting.is_empty() {
                            queues.remove(&group);
                            return;
                        }
                        std::mem::take(&mut queue.waiting)
                    };
                    let index = fetch().await;
                    for waiter in batch {
                        let _ = waiter.send(index.clone());
                    }
                }
            });
        }
        rx.await.unwrap_or_else(|_| Err(format!("group {group}: the read index was dropped")))
    }
}
