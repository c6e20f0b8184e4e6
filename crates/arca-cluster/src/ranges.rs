//! A bucket's index ranges from the gateway's side: routing each request
//! to the range that holds its key, walking the ranges in key order for
//! listings and counters, and splitting a range that grew too large or too
//! busy (seed Q3; docs/design.md 8.4).
//!
//! The range map is the catalog's (`range/{bucket}{start}` rows), held in
//! every node's catalog view. A view may trail a split: a request routed by
//! it reaches the old range, which answers `WrongRange` (its bounds no
//! longer hold the key; checked against the bounds it has applied, in the
//! same order as its writes), and the request catches the view up with the
//! catalog and is routed again. A stale map therefore costs a retry, never
//! a wrong answer. A walk over a bucket's ranges continues each time from
//! the end the answering range reports, so it neither skips nor repeats
//! keys whatever splits happen meanwhile.

use std::sync::Arc;
use std::time::Duration;

use arca_meta::raft::{CatalogCommand, IndexCommand, IndexOutcome};
use arca_meta::ranges::Split;
use arca_meta::{
    BucketStats, ListPage, ListQuery, MetaError, UploadListPage, UploadListQuery, VersionListEntry,
    VersionListPage, VersionListQuery,
};
use arca_types::ObjectId;
use tokio::time::Instant;

use crate::catalog::{KeyRange, RangeDesc};
use crate::cluster::{Answer, Cluster, IndexAnswer, IndexQuery, Query, REQUEST_PATIENCE, new_group_id};
use crate::error::{ClusterError, ClusterResult};
use crate::raft::{Command, GroupDesc, Response};

/// When a range splits (server TOML: `range_split_rows`,
/// `range_split_bytes`, `range_split_writes_per_sec`; 0 turns a trigger
/// off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Live versions and uploads the range counts.
    pub rows: u64,
    /// Object bytes the range counts.
    pub bytes: u64,
    /// Entries its leader applies per second, sustained over
    /// [`LOAD_WINDOW`].
    pub writes_per_sec: u64,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy { rows: 1_000_000, bytes: 0, writes_per_sec: 0 }
    }
}

/// The window over which a range's write rate is measured.
pub const LOAD_WINDOW: Duration = Duration::from_secs(6);

/// Whether keys at or after `end` can still start with `prefix`.
fn more_under(prefix: &str, end: &str) -> bool {
    end.starts_with(prefix) || end < prefix
}

impl Cluster {
    /// The range of `bucket` that holds `key`, by the catalog view (caught
    /// up with the catalog if the view knows no such range).
    pub(crate) async fn range_for(&self, bucket: ObjectId, key: &str) -> ClusterResult<RangeDesc> {
        if let Some(range) = self.catalog.range_for(bucket, key) {
            return Ok(range);
        }
        self.sync_catalog().await?;
        self.catalog.range_for(bucket, key).ok_or(ClusterError::Meta(MetaError::NoSuchBucket))
    }

    /// After a `WrongRange`: the view trails a split. It catches up with the
    /// catalog; the pause keeps a retry from spinning while the split's
    /// range rows are still being written.
    async fn map_moved(&self, attempt: u32, deadline: Instant) -> ClusterResult<()> {
        if Instant::now() >= deadline {
            return Err(ClusterError::Unavailable("the bucket's index ranges keep moving; try again".into()));
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10)))).await;
        }
        self.sync_catalog().await
    }

    /// Applies an index change in the range that holds its key.
    pub async fn index_write(&self, bucket: ObjectId, command: IndexCommand) -> ClusterResult<IndexOutcome> {
        let Some(key) = command.key().map(str::to_owned) else {
            return Err(ClusterError::Internal("a whole-range command sent by key".into()));
        };
        let deadline = Instant::now() + REQUEST_PATIENCE;
        let mut attempt = 0;
        loop {
            let range = self.range_for(bucket, &key).await?;
            match self.range_write(range.group, command.clone()).await {
                Err(ClusterError::Meta(MetaError::WrongRange)) => {
                    self.map_moved(attempt, deadline).await?;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Applies a change in range `group`.
    pub(crate) async fn range_write(&self, group: u64, command: IndexCommand) -> ClusterResult<IndexOutcome> {
        match self.propose(group, Command::Index(command)).await? {
            Response::Index(result) => Ok(result.map_err(MetaError::from)?),
            other => Err(ClusterError::Internal(format!("unexpected index answer {other:?}"))),
        }
    }

    /// Reads from the range that holds the query's key (see `read_range`).
    pub async fn index_read(
        self: &Arc<Self>,
        bucket: ObjectId,
        query: IndexQuery,
    ) -> ClusterResult<IndexAnswer> {
        let key = query.route_key().unwrap_or_default().to_owned();
        Ok(self.read_at(bucket, &key, |_| query.clone(), false).await?.0)
    }

    /// Reads `query(from)` from the range holding `from`, following the
    /// range map as it moves; returns the answer, the bounds of the range
    /// that gave it, and its map row. With `fresh`, only a leader answers
    /// (never a replica's possibly stale copy: garbage collection acts on
    /// it).
    async fn read_at(
        self: &Arc<Self>,
        bucket: ObjectId,
        from: &str,
        query: impl Fn(String) -> IndexQuery,
        fresh: bool,
    ) -> ClusterResult<(IndexAnswer, KeyRange, RangeDesc)> {
        let deadline = Instant::now() + REQUEST_PATIENCE;
        let mut attempt = 0;
        loop {
            let range = self.range_for(bucket, from).await?;
            let read = match fresh {
                true => self.leader_read(range.group, query(from.to_owned())).await,
                false => self.read_range(range.group, query(from.to_owned())).await,
            };
            match read {
                Err(ClusterError::Meta(MetaError::WrongRange)) => {
                    self.map_moved(attempt, deadline).await?;
                    attempt += 1;
                }
                other => return other.map(|(answer, bounds)| (answer, bounds, range)),
            }
        }
    }

    /// Reads a range at its leader, never a stale copy.
    async fn leader_read(&self, group: u64, query: IndexQuery) -> ClusterResult<(IndexAnswer, KeyRange)> {
        match self.query(group, Query::Index(query), REQUEST_PATIENCE).await? {
            Answer::Index(result, range) => Ok((result.map_err(MetaError::from)?, range)),
            Answer::ReadIndex(_) => Err(ClusterError::Internal("unexpected read-index answer".into())),
        }
    }

    /// Visits every range of a bucket in key order, from the one that
    /// starts at "" to the one that has no end: `query(start)` is asked of
    /// the range that starts at `start`, and the walk goes on from the end
    /// it reports.
    async fn each_range(
        self: &Arc<Self>,
        bucket: ObjectId,
        query: impl Fn(String) -> IndexQuery,
        fresh: bool,
        mut visit: impl FnMut(IndexAnswer) -> ClusterResult<()>,
    ) -> ClusterResult<()> {
        let mut from = String::new();
        loop {
            let (answer, range, _) = self.read_at(bucket, &from, &query, fresh).await?;
            visit(answer)?;
            match range.end {
                Some(end) => from = end,
                None => return Ok(()),
            }
        }
    }

    /// A bucket's counters: the sum of its ranges'.
    pub async fn bucket_stats(self: &Arc<Self>, bucket: ObjectId) -> ClusterResult<BucketStats> {
        let mut total = BucketStats::default();
        self.each_range(
            bucket,
            |from| IndexQuery::Stats { bucket, from },
            false,
            |answer| match answer {
                IndexAnswer::Stats(stats) => {
                    total.objects += stats.objects;
                    total.bytes += stats.bytes;
                    total.uploads += stats.uploads;
                    Ok(())
                }
                other => Err(ClusterError::Internal(format!("unexpected answer {other:?}"))),
            },
        )
        .await?;
        Ok(total)
    }

    /// The range that starts at `from`: its group, epoch, counters and
    /// bounds, read at its leader (`arca cluster ranges`).
    pub(crate) async fn range_counts(
        self: &Arc<Self>,
        bucket: ObjectId,
        from: &str,
    ) -> ClusterResult<(u64, u64, BucketStats, KeyRange)> {
        let query = |from| IndexQuery::Stats { bucket, from };
        match self.read_at(bucket, from, query, true).await? {
            (IndexAnswer::Stats(stats), bounds, range) => {
                let epoch = self.meta.group_range(range.group).ok().flatten().map_or(range.epoch, |(_, e)| e);
                Ok((range.group, epoch.max(range.epoch), stats, bounds))
            }
            (other, ..) => Err(ClusterError::Internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// Every body the rows of a bucket refer to, from its ranges' leaders.
    pub(crate) async fn referenced_bodies_of(
        self: &Arc<Self>,
        bucket: ObjectId,
        into: &mut std::collections::HashSet<ObjectId>,
    ) -> ClusterResult<()> {
        let query = |from| IndexQuery::ReferencedBodies { bucket, from };
        self.each_range(bucket, query, true, |answer| match answer {
            IndexAnswer::Bodies(list) => {
                into.extend(list);
                Ok(())
            }
            other => Err(ClusterError::Internal(format!("unexpected answer {other:?}"))),
        })
        .await
    }

    /// Puts `rows` (of one bucket) unconditionally, one entry per range
    /// they fall in: a bulk load through the index's own write path
    /// (`arca bucket load`). Rows a stale map sent to the wrong range are
    /// routed again. Returns how many took effect.
    pub async fn load_rows(&self, bucket: ObjectId, rows: Vec<arca_meta::ObjectRow>) -> ClusterResult<u64> {
        let deadline = Instant::now() + REQUEST_PATIENCE;
        let mut pending = rows;
        let mut loaded = 0;
        let mut attempt = 0;
        while !pending.is_empty() {
            let mut by_group: std::collections::BTreeMap<u64, Vec<arca_meta::ObjectRow>> = Default::default();
            for row in pending.drain(..) {
                let range = self.range_for(bucket, &row.key).await?;
                by_group.entry(range.group).or_default().push(row);
            }
            for (group, rows) in by_group {
                let command = IndexCommand::PutObjects { bucket, rows: rows.clone() };
                match self.range_write(group, command).await {
                    Ok(IndexOutcome::Loaded(n)) => loaded += n,
                    Ok(other) => return Err(ClusterError::Internal(format!("unexpected answer {other:?}"))),
                    Err(ClusterError::Meta(MetaError::WrongRange)) => pending.extend(rows),
                    Err(err) => return Err(err),
                }
            }
            if !pending.is_empty() {
                self.map_moved(attempt, deadline).await?;
                attempt += 1;
            }
        }
        Ok(loaded)
    }

    /// One page of a bucket's objects (ListObjects), read range after
    /// range (see [`list_across`](Self::list_across)).
    pub async fn list_objects(self: &Arc<Self>, bucket: ObjectId, q: ListQuery) -> ClusterResult<ListPage> {
        self.list_across(bucket, q).await
    }

    /// One page of a bucket's versions (ListObjectVersions).
    pub async fn list_versions(
        self: &Arc<Self>,
        bucket: ObjectId,
        q: VersionListQuery,
    ) -> ClusterResult<VersionListPage> {
        self.list_across(bucket, q).await
    }

    /// One page of a bucket's uploads in progress (ListMultipartUploads).
    pub async fn list_uploads(
        self: &Arc<Self>,
        bucket: ObjectId,
        q: UploadListQuery,
    ) -> ClusterResult<UploadListPage> {
        self.list_across(bucket, q).await
    }

    /// One page of a listing, read range after range: each range lists
    /// from where the page stands to its own end; the page goes on in the
    /// next range after its last entry (all rows of a key live in one
    /// range, and a common prefix that spans ranges is skipped by the
    /// marker), and stops at the first range past the prefix. A page
    /// filled before the last range asks the following ranges for one more
    /// entry only, to tell whether it is truncated.
    async fn list_across<L: RangeListing>(
        self: &Arc<Self>,
        bucket: ObjectId,
        q: L,
    ) -> ClusterResult<L::Page> {
        let mut page = L::Page::default();
        if q.max() == 0 {
            return Ok(page);
        }
        let mut query = q.clone();
        let mut from = q.start();
        loop {
            let have = L::count(&page);
            let full = have >= q.max();
            query.set_max(if full { 1 } else { q.max() - have });
            let (answer, range, _) =
                self.read_at(bucket, &from, |from| query.ask(bucket, from), false).await?;
            let part = L::take(answer)
                .ok_or_else(|| ClusterError::Internal("unexpected answer to a listing".into()))?;
            if full {
                if L::count(&part) > 0 {
                    L::mark_truncated(&mut page);
                    break;
                }
            } else if L::append(&mut page, part) {
                break;
            }
            match range.end.filter(|end| more_under(q.prefix(), end)) {
                Some(end) => {
                    from = end;
                    query.resume_after(&page);
                }
                None => break,
            }
        }
        Ok(page)
    }

    /// Closes every range of a bucket (DeleteBucket's first step), in key
    /// order. The closed bounds must cover the whole key space, one after
    /// the other: a range the view does not know yet (a split a moment
    /// ago) would otherwise stay open under a deleted bucket. On any
    /// failure the ranges closed so far are reopened.
    pub(crate) async fn close_ranges(&self, bucket: ObjectId) -> ClusterResult<Vec<u64>> {
        self.sync_catalog().await?;
        let ranges = self.catalog.ranges_of(bucket);
        if ranges.is_empty() {
            return Err(ClusterError::Meta(MetaError::NoSuchBucket));
        }
        let mut closed = Vec::new();
        // Where the next range must start; `None` once the last has no end.
        let mut expect = Some(String::new());
        let mut gap = false;
        for range in &ranges {
            match self.range_write(range.group, IndexCommand::Close { bucket }).await {
                Ok(IndexOutcome::Closed(bounds)) => {
                    closed.push(range.group);
                    gap |= expect.as_deref() != Some(bounds.start.as_str());
                    expect = bounds.end;
                }
                other => {
                    self.reopen_ranges(bucket, &closed).await;
                    return Err(match other {
                        Err(err) => err,
                        Ok(answer) => {
                            ClusterError::Internal(format!("unexpected answer to a close: {answer:?}"))
                        }
                    });
                }
            }
        }
        if gap || expect.is_some() {
            self.reopen_ranges(bucket, &closed).await;
            return Err(ClusterError::Unavailable(
                "the bucket's index ranges are splitting; try again".into(),
            ));
        }
        Ok(closed)
    }

    pub(crate) async fn reopen_ranges(&self, bucket: ObjectId, groups: &[u64]) {
        for group in groups {
            if let Err(err) = self.range_write(*group, IndexCommand::Reopen { bucket }).await {
                tracing::warn!(group, error = %err, "could not reopen a closed range");
            }
        }
    }

    /// On the leader of range `group`: splits it at its middle key. The
    /// split is one entry in the range's log; the new half starts on the
    /// same replicas with its rows already in place, and the catalog's
    /// range map is told of both halves. Returns the new group, if a split
    /// was made.
    pub(crate) async fn split_range(self: &Arc<Self>, group: u64) -> ClusterResult<Option<u64>> {
        let Some(handle) = self.groups.get(group) else { return Ok(None) };
        let (leader, effective) = crate::raft::with_metrics(&handle.raft, |m| {
            (crate::raft::leads(m), m.membership_config.as_ref().clone())
        });
        // A split starts the new half on the parent's voters; not while
        // those change.
        if !leader || effective.membership().get_joint_config().len() != 1 {
            return Ok(None);
        }
        let meta = self.meta.clone();
        let (state, at) = tokio::task::spawn_blocking(move || {
            Ok::<_, MetaError>((meta.group_state(group)?, meta.split_key(group)?))
        })
        .await??;
        let (Some(state), Some(at)) = (state, at) else { return Ok(None) };
        let (Some(bucket), Some(applied)) = (state.bucket, state.membership.clone()) else { return Ok(None) };
        if state.closed || crate::raft::encode_membership(&effective)? != applied {
            return Ok(None);
        }
        let child = new_group_id();
        let (child_applied, child_membership) = crate::raft::split_child_state(effective.membership())?;
        let split = Split {
            bucket,
            at: at.clone(),
            child,
            child_applied,
            child_membership,
            expect_membership: applied,
            upper: None,
        };
        match self.range_write(group, IndexCommand::Split(split)).await {
            Ok(_) => {}
            // The range moved on meanwhile (its membership, its bounds).
            Err(ClusterError::Meta(MetaError::WrongRange | MetaError::PreconditionFailed)) => {
                return Ok(None);
            }
            Err(err) => return Err(err),
        }
        tracing::info!(group, child, at = %at, "split an index range");
        // The new half runs here at once and asks for votes, so its keys
        // are writable again within a round trip rather than an election
        // timeout.
        if let Some(handle) = self.open_split_child(child).await? {
            let _ = handle.raft.trigger().elect(false).await;
        }
        // The new half first: until the parent's row is narrowed too, the
        // greatest start at or below a key still names its range.
        self.register_range(child).await?;
        self.register_range(group).await?;
        Ok(Some(child))
    }

    /// Runs a group a split created here.
    pub(crate) async fn open_split_child(
        &self,
        group: u64,
    ) -> ClusterResult<Option<crate::raft::GroupHandle>> {
        let Some(state) = self.meta.group_state(group)? else { return Ok(None) };
        let desc = GroupDesc { group, bucket: state.bucket, range: state.range, epoch: state.epoch };
        Ok(Some(self.groups.open(desc).await?))
    }

    /// Writes a range's bounds, as this replica has applied them, and its
    /// members to the catalog's range map, unless the map already holds
    /// them (or newer).
    /// Run by the range's leader after a split and at every keeper pass, so
    /// the map catches up even if the splitter died before writing it.
    pub(crate) async fn register_range(&self, group: u64) -> ClusterResult<()> {
        let Some(state) = self.meta.group_state(group)? else { return Ok(()) };
        let Some(bucket) = state.bucket else { return Ok(()) };
        let Some(handle) = self.groups.get(group) else { return Ok(()) };
        let replicas: std::collections::BTreeMap<u64, String> =
            crate::raft::with_metrics(&handle.raft, |m| {
                m.membership_config.membership().nodes().map(|(id, node)| (*id, node.addr.clone())).collect()
            });
        let current =
            self.catalog.read(|c| c.ranges.get(&bucket).and_then(|r| r.get(&state.range.start).cloned()));
        if current.as_ref().is_some_and(|r| {
            r.epoch > state.epoch || (r.epoch == state.epoch && r.group == group && r.replicas == replicas)
        }) {
            return Ok(());
        }
        let Some(name) =
            self.catalog.read(|c| c.buckets.values().find(|b| b.id == bucket).map(|b| b.name.clone()))
        else {
            return Ok(());
        };
        let desc = RangeDesc {
            group,
            bucket,
            start: state.range.start.clone(),
            end: state.range.end.clone(),
            epoch: state.epoch,
            // A split's half is never initialised from the map: its state
            // came with the split.
            initial: current.filter(|r| r.group == group).map(|r| r.initial).unwrap_or_default(),
            replicas,
        };
        match self.catalog_write(CatalogCommand::PutRange { name, desc }).await {
            Ok(_) | Err(ClusterError::Meta(MetaError::NoSuchBucket)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// A listing whose pages are read range after range
/// (`Cluster::list_across`): the query, and how pages join.
trait RangeListing: Clone {
    type Page: Default;
    fn max(&self) -> usize;
    fn set_max(&mut self, max: usize);
    fn prefix(&self) -> &str;
    /// The key the page starts at: its range answers first.
    fn start(&self) -> String;
    fn ask(&self, bucket: ObjectId, from: String) -> IndexQuery;
    fn take(answer: IndexAnswer) -> Option<Self::Page>;
    /// Entries and common prefixes the page holds.
    fn count(page: &Self::Page) -> usize;
    /// Appends one range's part (its markers too); whether it was
    /// truncated within its range.
    fn append(page: &mut Self::Page, part: Self::Page) -> bool;
    /// Goes on after the page's last entry.
    fn resume_after(&mut self, page: &Self::Page);
    /// The page is truncated at its last entry (more follow in a later
    /// range).
    fn mark_truncated(page: &mut Self::Page);
}

impl RangeListing for ListQuery {
    type Page = ListPage;

    fn max(&self) -> usize {
        self.max_keys
    }
    fn set_max(&mut self, max: usize) {
        self.max_keys = max;
    }
    fn prefix(&self) -> &str {
        &self.prefix
    }
    fn start(&self) -> String {
        self.start_after.clone().unwrap_or_default().max(self.prefix.clone())
    }
    fn ask(&self, bucket: ObjectId, from: String) -> IndexQuery {
        IndexQuery::ListObjects { bucket, query: self.clone(), from }
    }
    fn take(answer: IndexAnswer) -> Option<ListPage> {
        match answer {
            IndexAnswer::Objects(page) => Some(page),
            _ => None,
        }
    }
    fn count(page: &ListPage) -> usize {
        page.entries.len()
    }
    fn append(page: &mut ListPage, part: ListPage) -> bool {
        page.entries.extend(part.entries);
        page.is_truncated = part.is_truncated;
        page.next_marker = part.next_marker;
        page.is_truncated
    }
    fn resume_after(&mut self, page: &ListPage) {
        if let Some(last) = page.entries.last() {
            self.start_after = Some(last.marker().to_owned());
        }
    }
    fn mark_truncated(page: &mut ListPage) {
        page.is_truncated = true;
        page.next_marker = page.entries.last().map(|e| e.marker().to_owned());
    }
}

impl RangeListing for VersionListQuery {
    type Page = VersionListPage;

    fn max(&self) -> usize {
        self.max_keys
    }
    fn set_max(&mut self, max: usize) {
        self.max_keys = max;
    }
    fn prefix(&self) -> &str {
        &self.prefix
    }
    fn start(&self) -> String {
        self.key_marker.clone().unwrap_or_default().max(self.prefix.clone())
    }
    fn ask(&self, bucket: ObjectId, from: String) -> IndexQuery {
        IndexQuery::ListVersions { bucket, query: self.clone(), from }
    }
    fn take(answer: IndexAnswer) -> Option<VersionListPage> {
        match answer {
            IndexAnswer::Versions(page) => Some(page),
            _ => None,
        }
    }
    fn count(page: &VersionListPage) -> usize {
        page.entries.len()
    }
    fn append(page: &mut VersionListPage, part: VersionListPage) -> bool {
        page.entries.extend(part.entries);
        page.is_truncated = part.is_truncated;
        page.next_key_marker = part.next_key_marker;
        page.next_version_marker = part.next_version_marker;
        page.is_truncated
    }
    fn resume_after(&mut self, page: &VersionListPage) {
        if let Some(last) = page.entries.last() {
            // All versions of a key are in one range: the next range
            // starts after the key.
            self.key_marker = Some(version_entry_key(last).to_owned());
            self.version_marker = None;
        }
    }
    fn mark_truncated(page: &mut VersionListPage) {
        page.is_truncated = true;
        match page.entries.last() {
            Some(VersionListEntry::Version(v)) => {
                page.next_key_marker = Some(v.key.clone());
                page.next_version_marker = Some(v.version);
            }
            Some(VersionListEntry::CommonPrefix(p)) => page.next_key_marker = Some(p.clone()),
            None => {}
        }
    }
}

fn version_entry_key(entry: &VersionListEntry) -> &str {
    match entry {
        VersionListEntry::Version(v) => &v.key,
        VersionListEntry::CommonPrefix(p) => p,
    }
}

impl RangeListing for UploadListQuery {
    type Page = UploadListPage;

    fn max(&self) -> usize {
        self.max_uploads
    }
    fn set_max(&mut self, max: usize) {
        self.max_uploads = max;
    }
    fn prefix(&self) -> &str {
        &self.prefix
    }
    fn start(&self) -> String {
        self.key_marker.clone().unwrap_or_default().max(self.prefix.clone())
    }
    fn ask(&self, bucket: ObjectId, from: String) -> IndexQuery {
        IndexQuery::ListUploads { bucket, query: self.clone(), from }
    }
    fn take(answer: IndexAnswer) -> Option<UploadListPage> {
        match answer {
            IndexAnswer::Uploads(page) => Some(page),
            _ => None,
        }
    }
    fn count(page: &UploadListPage) -> usize {
        page.uploads.len() + page.common_prefixes.len()
    }
    fn append(page: &mut UploadListPage, part: UploadListPage) -> bool {
        page.uploads.extend(part.uploads);
        page.common_prefixes.extend(part.common_prefixes);
        page.is_truncated = part.is_truncated;
        page.next_key_marker = part.next_key_marker;
        page.next_upload_id_marker = part.next_upload_id_marker;
        page.is_truncated
    }
    fn resume_after(&mut self, page: &UploadListPage) {
        if let Some((key, _)) = last_upload_item(page) {
            self.key_marker = Some(key);
            self.upload_id_marker = None;
        }
    }
    fn mark_truncated(page: &mut UploadListPage) {
        page.is_truncated = true;
        if let Some((key, upload)) = last_upload_item(page) {
            page.next_key_marker = Some(key);
            page.next_upload_id_marker = upload;
        }
    }
}

/// The page's last item in key order: its last upload (key and id) or its
/// last common prefix, whichever comes later (the page keeps them apart).
fn last_upload_item(page: &UploadListPage) -> Option<(String, Option<ObjectId>)> {
    let upload = page.uploads.last().map(|u| (u.key.clone(), Some(u.upload_id)));
    let prefix = page.common_prefixes.last().map(|p| (p.clone(), None));
    upload.into_iter().chain(prefix).max_by(|a, b| a.0.cmp(&b.0))
}
