//! The state machines of the groups: the catalog and the index ranges, both
//! over the node's metadata store, and their snapshots as files.
//!
//! Applying a batch of entries is one unsynced commit of the rows and the
//! group's applied marker (arca-meta `raft`): the entries are already
//! durable in the log. A snapshot is the group's rows read from one
//! consistent view of the store, written to a file under `snapshots/` and
//! streamed from there to a member that needs it; snapshots are rebuilt on
//! demand, so the directory is emptied at start.

use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arca_meta::raft::{ApplyItem, CatalogCommand, CatalogSnapshot, GroupState, IndexCommand};
use arca_meta::{MetaError, MetaStore};
use arca_types::ObjectId;
use futures::TryStreamExt;
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StoredMembership};
use parking_lot::Mutex;

use super::log::{decode, encode};
use super::{C, Command, Response};
use crate::wire::WireError;

/// What a group's state machine holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Catalog,
    Range { bucket: ObjectId },
}

/// Told about catalog changes, so in-memory views follow them.
pub trait ApplyHook: Send + Sync + 'static {
    /// Catalog commands were applied (`None`: a snapshot replaced the whole
    /// catalog).
    fn catalog_applied(&self, commands: Option<&[CatalogCommand]>);

    /// A range split here: a new group's state is in the store, to be run.
    fn range_split(&self);
}

/// A snapshot's bytes, in a file.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
}

type Current = Arc<Mutex<Option<(SnapshotMetaOf<C>, PathBuf)>>>;

pub struct StateMachine {
    meta: Arc<MetaStore>,
    group: u64,
    kind: GroupKind,
    dir: PathBuf,
    hook: Arc<dyn ApplyHook>,
    current: Current,
    /// A split applied since the current snapshot was made: it spans the
    /// half that left, and is made again before it is sent.
    split_since_snapshot: bool,
}

impl StateMachine {
    pub fn new(
        meta: Arc<MetaStore>,
        group: u64,
        kind: GroupKind,
        dir: PathBuf,
        hook: Arc<dyn ApplyHook>,
    ) -> Self {
        StateMachine {
            meta,
            group,
            kind,
            dir,
            hook,
            current: Arc::new(Mutex::new(None)),
            split_since_snapshot: false,
        }
    }
}

fn meta_of(state: &GroupState) -> io::Result<SnapshotMetaOf<C>> {
    let last_log_id: Option<LogIdOf<C>> = state.applied.as_deref().map(decode).transpose()?;
    let last_membership: StoredMembershipOf<C> = match &state.membership {
        Some(bytes) => decode(bytes)?,
        None => StoredMembership::default(),
    };
    Ok(SnapshotMetaOf::<C> { last_log_id, last_membership })
}

fn meta_error(err: MetaError) -> io::Error {
    io::Error::other(err.to_string())
}

/// Deletes every snapshot file (at start: they are rebuilt on demand).
pub(crate) fn clean_snapshot_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Deletes a group's snapshot files.
pub(crate) fn remove_snapshots(dir: &Path, group: u64) {
    let prefix = format!("{group:016x}-");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn snapshot_path(dir: &Path, group: u64, meta: &SnapshotMetaOf<C>) -> PathBuf {
    let index = meta.last_log_id.map_or(0, |id| id.index);
    let nonce = hex::encode(&ObjectId::random().0[..4]);
    dir.join(format!("{group:016x}-{index}-{nonce}.snap"))
}

/// Makes `path` the group's current snapshot, deleting the one it replaces.
fn set_current(current: &Current, meta: SnapshotMetaOf<C>, path: PathBuf) {
    let old = current.lock().replace((meta, path));
    if let Some((_, old)) = old {
        let _ = std::fs::remove_file(old);
    }
}

/// Writes a snapshot of the group's state to a new file.
fn build(
    meta_store: &MetaStore,
    group: u64,
    kind: GroupKind,
    dir: &Path,
) -> io::Result<(SnapshotMetaOf<C>, PathBuf)> {
    let tmp = dir.join(format!("{group:016x}-build-{}.tmp", hex::encode(&ObjectId::random().0[..4])));
    let file = std::fs::File::create(&tmp)?;
    let mut out = BufWriter::new(file);
    let state = match kind {
        GroupKind::Range { bucket } => {
            meta_store.index_snapshot(group, bucket, &mut out).map_err(meta_error)?
        }
        GroupKind::Catalog => {
            let snapshot = meta_store.catalog_snapshot().map_err(meta_error)?;
            std::io::Write::write_all(&mut out, &encode(&snapshot)?)?;
            snapshot.state
        }
    };
    std::io::Write::flush(&mut out)?;
    drop(out);
    let meta = meta_of(&state)?;
    let path = snapshot_path(dir, group, &meta);
    std::fs::rename(&tmp, &path)?;
    Ok((meta, path))
}

pub struct Builder {
    meta: Arc<MetaStore>,
    group: u64,
    kind: GroupKind,
    dir: PathBuf,
    current: Current,
}

impl RaftSnapshotBuilder<C> for Builder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, SnapshotFile>, io::Error> {
        let (meta_store, group, kind, dir) = (self.meta.clone(), self.group, self.kind, self.dir.clone());
        let (meta, path) = tokio::task::spawn_blocking(move || build(&meta_store, group, kind, &dir))
            .await
            .map_err(io::Error::other)??;
        set_current(&self.current, meta.clone(), path.clone());
        tracing::debug!(group, index = ?meta.last_log_id.map(|l| l.index), "built a snapshot");
        Ok(Snapshot { meta, snapshot: SnapshotFile { path } })
    }
}

/// Answers each entry's proposer (if it waits here) with its result:
/// `Response::None` for memberships and blanks.
fn respond<T>(
    responders: Vec<Option<openraft::storage::ApplyResponder<C>>>,
    results: arca_meta::raft::Applied<T>,
    wrap: impl Fn(Result<T, WireError>) -> Response,
) {
    for (responder, result) in responders.into_iter().zip(results) {
        let response = match result {
            Some(result) => wrap(result.map_err(WireError::from)),
            None => Response::None,
        };
        if let Some(responder) = responder {
            responder.send(response);
        }
    }
}

impl StateMachine {
    /// Applies consecutive entries of a range in one commit and answers
    /// their proposers.
    async fn apply_range_segment(
        &self,
        segment: Vec<(ApplyItem<IndexCommand>, Option<openraft::storage::ApplyResponder<C>>)>,
        last: LogIdOf<C>,
    ) -> Result<(), io::Error> {
        let applied = encode(&last)?;
        let mut responders = Vec::with_capacity(segment.len());
        let mut items = Vec::with_capacity(segment.len());
        let mut splits = false;
        for (item, responder) in segment {
            splits |= matches!(item, ApplyItem::Command(IndexCommand::Split(_)));
            items.push(item);
            responders.push(responder);
        }
        let results = self.meta.apply_index(self.group, items, applied).await.map_err(meta_error)?;
        respond(responders, results, Response::Index);
        if splits {
            self.hook.range_split();
        }
        Ok(())
    }
}

impl RaftStateMachine<C> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        let state = self.meta.group_state(self.group).map_err(meta_error)?.unwrap_or_default();
        let meta = meta_of(&state)?;
        Ok((meta.last_log_id, meta.last_membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        while let Some(item) = entries.try_next().await? {
            batch.push(item);
        }
        let Some(last) = batch.last().map(|(entry, _)| entry.log_id) else { return Ok(()) };
        match self.kind {
            GroupKind::Range { .. } => {
                // A split is applied at the head of its own commit: the
                // entries before it are committed first, so the counts of
                // the half that leaves are taken from exactly the rows the
                // split sees (the same on every replica).
                let mut segment: Vec<(ApplyItem<IndexCommand>, Option<_>)> = Vec::new();
                let mut segment_last = None;
                for (entry, responder) in batch {
                    let item = match entry.payload {
                        EntryPayload::Normal(Command::Index(IndexCommand::Split(mut split))) => {
                            self.split_since_snapshot = true;
                            if let Some(upto) = segment_last.take() {
                                self.apply_range_segment(std::mem::take(&mut segment), upto).await?;
                            }
                            let (meta, group, at, child) =
                                (self.meta.clone(), self.group, split.at.clone(), split.child);
                            let counted =
                                tokio::task::spawn_blocking(move || meta.count_range(group, &at, child))
                                    .await
                                    .map_err(io::Error::other)?
                                    .map_err(meta_error)?;
                            split.upper = Some(counted);
                            ApplyItem::Command(IndexCommand::Split(split))
                        }
                        EntryPayload::Normal(Command::Index(command)) => ApplyItem::Command(command),
                        EntryPayload::Membership(m) => {
                            ApplyItem::Membership(encode(&StoredMembership::new(Some(entry.log_id), m))?)
                        }
                        _ => ApplyItem::Blank,
                    };
                    segment.push((item, responder));
                    segment_last = Some(entry.log_id);
                }
                if !segment.is_empty() {
                    self.apply_range_segment(segment, last).await?;
                }
            }
            GroupKind::Catalog => {
                let applied = encode(&last)?;
                let mut responders = Vec::with_capacity(batch.len());
                let mut items = Vec::with_capacity(batch.len());
                let mut commands = Vec::new();
                for (entry, responder) in batch {
                    items.push(match entry.payload {
                        EntryPayload::Normal(Command::Catalog(command)) => {
                            commands.push(command.clone());
                            ApplyItem::Command(command)
                        }
                        EntryPayload::Membership(m) => {
                            ApplyItem::Membership(encode(&StoredMembership::new(Some(entry.log_id), m))?)
                        }
                        _ => ApplyItem::Blank,
                    });
                    responders.push(responder);
                }
                let results = self.meta.apply_catalog(items, applied).await.map_err(meta_error)?;
                self.hook.catalog_applied(Some(&commands));
                respond(responders, results, Response::Catalog);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        Builder {
            meta: self.meta.clone(),
            group: self.group,
            kind: self.kind,
            dir: self.dir.clone(),
            current: self.current.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let (meta_store, group, kind) = (self.meta.clone(), self.group, self.kind);
        let path = snapshot.path.clone();
        let applied = meta.last_log_id.map(|id| encode(&id)).transpose()?;
        let membership = encode(&meta.last_membership)?;
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let file = std::fs::File::open(&path)?;
            match kind {
                GroupKind::Range { bucket } => {
                    meta_store
                        .install_index_snapshot(group, bucket, &mut BufReader::new(file))
                        .map_err(meta_error)?;
                }
                GroupKind::Catalog => {
                    let bytes = std::fs::read(&path)?;
                    let mut catalog: CatalogSnapshot = decode(&bytes)?;
                    catalog.state.applied = applied;
                    catalog.state.membership = Some(membership);
                    meta_store.install_catalog_snapshot(catalog).map_err(meta_error)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        if self.kind == GroupKind::Catalog {
            self.hook.catalog_applied(None);
        }
        let kept = snapshot_path(&self.dir, self.group, meta);
        std::fs::rename(&snapshot.path, &kept)?;
        set_current(&self.current, meta.clone(), kept);
        tracing::info!(group = self.group, index = ?meta.last_log_id.map(|l| l.index), "installed a snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<C, SnapshotFile>>, io::Error> {
        // A snapshot from before a split would bring a new member rows of
        // the half that left, and the split to replay over ranges it may
        // already hold: one is made afresh instead.
        if self.split_since_snapshot && self.current.lock().is_some() {
            self.get_snapshot_builder().await.build_snapshot().await?;
        }
        self.split_since_snapshot = false;
        Ok(self.current.lock().as_ref().map(|(meta, path)| Snapshot {
            meta: meta.clone(),
            snapshot: SnapshotFile { path: path.clone() },
        }))
    }
}
