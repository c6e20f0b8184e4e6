//! Giving back the blobs of bodies no row refers to any more.
//!
//! When a row is overwritten or deleted, its blobs are not removed at once: a
//! GET that started before may still be streaming them. They are queued and
//! deleted after a grace period. Blobs of a write that failed before its row
//! was committed were never visible and go at once.
//!
//! The queue lives in memory, so a crash leaves the queued blobs behind as
//! orphans; they cost space, never correctness (no row refers to them), and a
//! sweep that compares blob stores with the index will collect them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arca_meta::{ManifestPart, ObjectBody};
use arca_types::{BlobId, ObjectId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use arca_cluster::BlobPlacement;

/// A run of blobs `(body, 0..n)` covering `size` bytes.
#[derive(Debug, Clone, Copy)]
struct BlobRun {
    body: ObjectId,
    size: u64,
    stripe_size: u32,
}

impl BlobRun {
    fn ids(self) -> impl Iterator<Item = BlobId> {
        let count = if self.size == 0 { 0 } else { self.size.div_ceil(u64::from(self.stripe_size.max(1))) };
        (0..count as u32).map(move |stripe| BlobId::new(self.body, stripe))
    }
}

struct Job {
    due: Instant,
    runs: Vec<BlobRun>,
}

#[derive(Clone)]
pub(crate) struct Reclaimer {
    tx: mpsc::UnboundedSender<Job>,
    grace: Duration,
}

impl Reclaimer {
    /// Starts the background task; must be called inside a tokio runtime.
    pub fn start(placement: Arc<BlobPlacement>, grace: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(placement, rx));
        Reclaimer { tx, grace }
    }

    /// Blobs of a body that was never committed: delete now.
    pub fn release_now(&self, body: ObjectId, size: u64, stripe_size: u32) {
        self.send(Instant::now(), vec![BlobRun { body, size, stripe_size }]);
    }

    /// Blobs of a body whose row was replaced or deleted: delete after the
    /// grace period.
    pub fn release_later(&self, body: &ObjectBody) {
        if let ObjectBody::Striped(manifest) = body {
            self.release_parts_later(&manifest.parts);
        }
    }

    pub fn release_parts_later(&self, parts: &[ManifestPart]) {
        let runs: Vec<BlobRun> = parts
            .iter()
            .map(|p| BlobRun { body: p.body, size: p.size, stripe_size: p.stripe_size })
            .collect();
        if !runs.is_empty() {
            self.send(Instant::now() + self.grace, runs);
        }
    }

    fn send(&self, due: Instant, runs: Vec<BlobRun>) {
        // The receiver only stops with the runtime; losing a job then is the
        // documented crash case (an orphan).
        let _ = self.tx.send(Job { due, runs });
    }
}

async fn run(placement: Arc<BlobPlacement>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        let next_due = waiting.front().map(|job| job.due);
        tokio::select! {
            job = rx.recv() => match job {
                Some(job) if job.due <= Instant::now() => delete_runs(&placement, &job.runs).await,
                // Every delayed job has the same grace, so arrival order is due order.
                Some(job) => waiting.push_back(job),
                None => return,
            },
            _ = sleep_until(next_due) => {
                if let Some(job) = waiting.pop_front() {
                    delete_runs(&placement, &job.runs).await;
                }
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

async fn delete_runs(placement: &BlobPlacement, runs: &[BlobRun]) {
    for run in runs {
        for id in run.ids() {
            if let Err(err) = placement.delete(id).await {
                tracing::warn!(blob = %id, error = %err, "could not delete an unreferenced blob");
            }
        }
    }
}
