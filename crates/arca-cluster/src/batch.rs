//! Proposals to a group this node leads, sent to openraft in batches, and
//! read indexes asked of a group's leader, one request for many reads.
//!
//! Each proposal becomes a log entry; what costs is the round each entry
//! goes through — an append, its fsync, the apply, the answer — and openraft
//! batches only the writes already waiting when its core looks. So the
//! node does what the metadata writer does for the disk (group commit): per
//! group one batch is in flight at a time, and every proposal that arrives
//! meanwhile waits and goes with the next one, in one `client_write_many`.
//! A lone proposal goes at once (no waiting for company); under load a
//! batch holds everything that arrived during the previous round.
//!
//! The read indexes of follower reads go in rounds the same way
//! ([`ReadIndexes`]); [`Rounds`] is the queue both use.

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

/// Per group, items that go in rounds: one round in flight at a time, and
/// every item that arrives meanwhile waits for the next, which takes all of
/// them (up to a bound). An item of an idle group starts a round at once.
pub(crate) struct Rounds<T, R> {
    queues: Arc<Mutex<HashMap<u64, Queue<T, R>>>>,
}

struct Queue<T, R> {
    waiting: Vec<(T, oneshot::Sender<R>)>,
    /// A round of this group is in flight.
    running: bool,
}

impl<T, R> Default for Rounds<T, R> {
    fn default() -> Self {
        Rounds { queues: Arc::default() }
    }
}

impl<T, R> Clone for Rounds<T, R> {
    fn clone(&self) -> Self {
        Rounds { queues: self.queues.clone() }
    }
}

impl<T: Send + 'static, R: Send + 'static> Rounds<T, R> {
    /// Queues `item` for `group` and waits for its result (`None` if its
    /// round was dropped). If the group is idle, a task starts that runs
    /// rounds until its queue is empty: `round` gets at most `max` items
    /// and returns one result per item, in order.
    pub async fn submit<F, Fut>(&self, group: u64, item: T, max: usize, mut round: F) -> Option<R>
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<R>> + Send,
    {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut queues = self.queues.lock();
            let queue = queues.entry(group).or_insert_with(|| Queue { waiting: Vec::new(), running: false });
            queue.waiting.push((item, tx));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let queues = self.queues.clone();
            tokio::spawn(async move {
                loop {
                    let batch: Vec<(T, oneshot::Sender<R>)> = {
                        let mut queues = queues.lock();
                        let Some(queue) = queues.get_mut(&group) else { return };
                        if queue.waiting.is_empty() {
                            queues.remove(&group);
                            return;
                        }
                        let take = queue.waiting.len().min(max);
                        queue.waiting.drain(..take).collect()
                    };
                    let (items, senders): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
                    for (sender, result) in senders.into_iter().zip(round(items).await) {
                        let _ = sender.send(result);
                    }
                }
            });
        }
        rx.await.ok()
    }
}

/// The batches of every group of this node.
#[derive(Default, Clone)]
pub(crate) struct Batcher {
    rounds: Rounds<Command, Outcome>,
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
        let group = handle.desc.group;
        let round = move |commands| {
            let handle = handle.clone();
            async move { write_many(&handle, commands, patience).await }
        };
        self.rounds
            .submit(group, command, MAX_BATCH, round)
            .await
            .unwrap_or_else(|| Outcome::Unavailable(format!("group {group}: the proposal was dropped")))
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
    rounds: Rounds<(), Result<u64, String>>,
}

impl ReadIndexes {
    /// A read index of `group` confirmed by its leader after this call
    /// began; `fetch` asks the leader for one.
    pub async fn get<F, Fut>(&self, group: u64, fetch: F) -> Result<u64, String>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<u64, String>> + Send,
    {
        let round = move |reads: Vec<()>| {
            let index = fetch();
            async move { vec![index.await; reads.len()] }
        };
        self.rounds
            .submit(group, (), usize::MAX, round)
            .await
            .unwrap_or_else(|| Err(format!("group {group}: the read index was dropped")))
    }
}
