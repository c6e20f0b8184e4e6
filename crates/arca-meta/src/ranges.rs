//! Index ranges: which object keys a range holds, the catalog rows that map
//! a bucket's keys to its ranges, and splitting a range in two.
//!
//! A bucket's index is cut by object key into ranges `[start, end)`, each
//! a Raft group (arca-cluster). All ranges of a bucket share its rows'
//! key space on a node (`partition ‖ bucket id ‖ key ‖ 00 ‖ suffix`), so a
//! range is a contiguous run of that space and a split moves no row: it
//! narrows the parent's bounds and gives the upper part to a new group, in
//! one apply of one log entry on every replica (TiKV's batch split). The
//! bucket's counters are kept per range (`bucket id ‖ start`), so they
//! stay exact across splits: the split carries the counts of the part that
//! leaves, counted by each replica from its own rows at the split's place
//! in the log, where every replica holds the same rows.

use arca_types::ObjectId;
use fjall::Readable;
use serde::{Deserialize, Serialize};

use crate::raft::{GroupState, RaftMeta};
use crate::rows::{BucketStats, ObjectRow, UploadRow};
use crate::store::{MetaStore, Table};
use crate::writer::Txn;
use crate::{MetaError, Result, codec, keys};

/// The object keys an index range holds: `[start, end)`, `end` `None`
/// for the end of the bucket. The default is the whole bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRange {
    pub start: String,
    pub end: Option<String>,
}

impl KeyRange {
    pub fn whole() -> KeyRange {
        KeyRange::default()
    }

    pub fn contains(&self, key: &str) -> bool {
        key >= self.start.as_str() && self.end.as_deref().is_none_or(|end| key < end)
    }

    pub fn overlaps(&self, other: &KeyRange) -> bool {
        self.end.as_deref().is_none_or(|end| other.start.as_str() < end)
            && other.end.as_deref().is_none_or(|end| self.start.as_str() < end)
    }

    /// What is left of this range without `others`, in key order.
    pub fn minus(&self, others: &[KeyRange]) -> Vec<KeyRange> {
        let mut others: Vec<&KeyRange> = others.iter().filter(|o| o.overlaps(self)).collect();
        others.sort_by(|a, b| a.start.cmp(&b.start));
        let mut out = Vec::new();
        let mut from = Some(self.start.clone());
        for other in others {
            let Some(start) = from.take() else { break };
            if start < other.start {
                out.push(KeyRange { start: start.clone(), end: Some(other.start.clone()) });
            }
            // Goes on past the other's end (if it ends before this range
            // does, and later than where this piece started).
            from = match &other.end {
                None => None,
                Some(end) if end.as_str() > start.as_str() => Some(end.clone()),
                Some(_) => Some(start),
            };
        }
        if let Some(start) = from
            && self.end.as_ref().is_none_or(|end| start < *end)
        {
            out.push(KeyRange { start, end: self.end.clone() });
        }
        out
    }

    /// The smallest range holding both (a range's old and new bounds).
    pub fn hull(&self, other: &KeyRange) -> KeyRange {
        let end = match (&self.end, &other.end) {
            (Some(a), Some(b)) => Some(a.max(b).clone()),
            _ => None,
        };
        KeyRange { start: self.start.clone().min(other.start.clone()), end }
    }

    /// Row-key bounds `[lower, upper)` of the range's rows in a bucket whose
    /// row keys begin with `head`. Exact because a row key is `head ‖ key ‖
    /// 00 ‖ suffix`: `head ‖ start` is at or below every row of `start` and
    /// above every smaller key, `head ‖ end` likewise, and no key holds
    /// `0xFF` (UTF-8), so `head ‖ FF` is above every key.
    pub fn row_bounds(&self, head: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let lower = [head, self.start.as_bytes()].concat();
        let upper = match &self.end {
            Some(end) => [head, end.as_bytes()].concat(),
            None => [head, &[keys::PAST_TEXT][..]].concat(),
        };
        (lower, upper)
    }
}

/// One index range of a bucket in the catalog's range map: the Raft group
/// holding the rows of keys in `range`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDesc {
    pub group: u64,
    pub bucket: ObjectId,
    pub start: String,
    /// `None`: to the end of the bucket.
    pub end: Option<String>,
    /// 1 for a bucket's first range; a split sets both halves to the
    /// parent's epoch + 1. Of two rows for one range the greater epoch is
    /// the newer.
    pub epoch: u64,
    /// The members the group was created with: the nodes that may
    /// initialise it (a bucket's first range; a split's half starts on the
    /// parent's voters, already initialised by the split).
    pub initial: std::collections::BTreeMap<u64, String>,
    /// The members (voters and learners) as the range's leader last
    /// recorded them: where a gateway that holds no replica looks for the
    /// leader. Empty in rows written before ranges split.
    pub replicas: std::collections::BTreeMap<u64, String>,
}

/// [`RangeDesc`] as rows written before ranges split hold it.
#[derive(Deserialize)]
struct RangeDescV1 {
    group: u64,
    bucket: ObjectId,
    start: String,
    end: Option<String>,
    epoch: u64,
    initial: std::collections::BTreeMap<u64, String>,
}

impl RangeDesc {
    pub fn range(&self) -> KeyRange {
        KeyRange { start: self.start.clone(), end: self.end.clone() }
    }
}

/// Prefix of every range row of the catalog's `cluster` table.
pub const RANGE_PREFIX: &[u8] = b"range/";

/// `range/ ‖ bucket id (16) ‖ start`: a bucket's ranges in key order. The
/// first range's key (start "") is the bucket's whole-range key of old.
pub fn range_key(bucket: ObjectId, start: &str) -> Vec<u8> {
    [RANGE_PREFIX, bucket.as_bytes().as_slice(), start.as_bytes()].concat()
}

/// `range/ ‖ bucket id`: the prefix of one bucket's range rows.
pub fn bucket_ranges_prefix(bucket: ObjectId) -> Vec<u8> {
    [RANGE_PREFIX, bucket.as_bytes().as_slice()].concat()
}

pub fn encode_range(desc: &RangeDesc) -> Vec<u8> {
    postcard::to_stdvec(desc).unwrap_or_default()
}

/// Decodes a range row, of either layout (the older lacks `replicas`).
pub fn decode_range(raw: &[u8]) -> Result<RangeDesc> {
    postcard::from_bytes(raw)
        .or_else(|_| {
            postcard::from_bytes::<RangeDescV1>(raw).map(|v| RangeDesc {
                group: v.group,
                bucket: v.bucket,
                start: v.start,
                end: v.end,
                epoch: v.epoch,
                initial: v.initial,
                replicas: Default::default(),
            })
        })
        .map_err(|e| MetaError::Corrupt(format!("range row: {e}")))
}

/// The catalog's `PutRange`: records a range's bounds and replicas in the
/// map if its bucket is live and the row is not older (by epoch) than what
/// the map holds for the same start. Applying it twice, or after a newer
/// row, changes nothing. No other row is touched: a split keeps its parent's start and
/// adds one, so a range's start stays a range start, and a map that holds
/// a child's row before its parent's narrowed one still routes every key
/// right (the greatest start at or below a key names its range).
pub(crate) fn put_range_in(txn: &mut Txn<'_>, name: &str, desc: RangeDesc) -> Result<()> {
    let live: Option<crate::BucketRow> = txn.get(Table::Buckets, name.as_bytes())?;
    if live.is_none_or(|b| b.deleted || b.id != desc.bucket) {
        return Err(MetaError::NoSuchBucket);
    }
    let key = range_key(desc.bucket, &desc.start);
    if let Some(stored) = txn.get_raw(Table::Cluster, &key)?
        && let stored = decode_range(&stored)?
        && (stored.epoch > desc.epoch || (stored.epoch == desc.epoch && stored.replicas == desc.replicas))
    {
        return Ok(());
    }
    txn.put_raw(Table::Cluster, key, encode_range(&desc));
    Ok(())
}

/// Removes every range row of a bucket (its deletion).
pub(crate) fn remove_ranges_in(txn: &mut Txn<'_>, bucket: ObjectId) -> Result<()> {
    for (key, _) in txn.scan_prefix(Table::Cluster, &bucket_ranges_prefix(bucket))? {
        txn.remove(Table::Cluster, key);
    }
    Ok(())
}

/// What a split changes, as the log carries it. The new group's Raft state
/// is written by the split itself (its applied log id and membership, in
/// the consensus layer's encoding, and the same log id as purged), so the
/// new group starts where a snapshot would leave it: a member that did not
/// apply the split can only join it by snapshot, never by replaying a log
/// that does not hold its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub bucket: ObjectId,
    /// The first key of the upper half: an object key, so all versions and
    /// uploads of one key stay in one range.
    pub at: String,
    pub child: u64,
    pub child_applied: Vec<u8>,
    pub child_membership: Vec<u8>,
    /// The parent's applied membership the proposer saw; a split is
    /// refused if it changed since (the child must start on the parent's
    /// voters as they are at the split).
    pub expect_membership: Vec<u8>,
    /// The counts of `[at, end)`: filled in by each replica just before it
    /// applies the split ([`MetaStore::count_range`]).
    pub upper: Option<BucketStats>,
}

pub(crate) fn split_in(txn: &mut Txn<'_>, group: u64, split: Split) -> Result<()> {
    let key = group.to_be_bytes().to_vec();
    let mut parent: GroupState = txn.get(Table::Groups, &key)?.unwrap_or_default();
    if parent.closed {
        return Err(MetaError::NoSuchBucket);
    }
    if split.at <= parent.range.start || !parent.range.contains(&split.at) {
        // Already split there (a retried proposal), or bounds moved on.
        return Err(MetaError::WrongRange);
    }
    if parent.membership.as_deref() != Some(split.expect_membership.as_slice()) {
        return Err(MetaError::PreconditionFailed);
    }
    let upper = split.upper.ok_or_else(|| MetaError::Invalid("a split without its counts".into()))?;
    let lower_key = range_counter_key(split.bucket, &parent.range.start);
    let stats: BucketStats = txn.get(Table::Counters, &lower_key)?.unwrap_or_default();
    let lower = stats.less(&upper);
    txn.put(Table::Counters, lower_key, &lower)?;
    let child_range = KeyRange { start: split.at.clone(), end: parent.range.end.take() };
    parent.range.end = Some(split.at);
    parent.epoch += 1;
    let child_key = split.child.to_be_bytes().to_vec();
    // A child state already here holds more than the split can give (it
    // cannot, while a node never opens a group overlapping one it runs,
    // but a state is never overwritten by an older one).
    let existing: Option<GroupState> = txn.get(Table::Groups, &child_key)?;
    if existing.is_none_or(|s| s.applied.is_none() && s.membership.is_none()) {
        let child = GroupState {
            bucket: Some(split.bucket),
            applied: Some(split.child_applied.clone()),
            membership: Some(split.child_membership),
            range: child_range,
            epoch: parent.epoch,
            ..GroupState::default()
        };
        txn.put(Table::Groups, child_key, &child)?;
        txn.put(Table::Counters, range_counter_key(split.bucket, &child.range.start), &upper)?;
        txn.put_raw(
            Table::RaftMeta,
            crate::raft::meta_key(split.child, RaftMeta::Purged).to_vec(),
            split.child_applied,
        );
    }
    txn.put(Table::Groups, key, &parent)
}

/// `bucket id ‖ start`: the counters of the range starting at `start` (a
/// bucket's first range, start "", has the bucket's counter key of old).
pub fn range_counter_key(bucket: ObjectId, start: &str) -> Vec<u8> {
    [bucket.as_bytes().as_slice(), start.as_bytes()].concat()
}

impl MetaStore {
    /// The bounds of a group's range as this replica has applied them.
    pub fn group_range(&self, group: u64) -> Result<Option<(KeyRange, u64)>> {
        Ok(self.group_state(group)?.map(|s| (s.range, s.epoch)))
    }

    /// The counters of one range of a bucket.
    pub fn range_stats(&self, bucket: ObjectId, start: &str) -> Result<BucketStats> {
        Ok(self.tables.get(Table::Counters, &range_counter_key(bucket, start))?.unwrap_or_default())
    }

    /// Counts the live versions, their bytes and the live uploads of
    /// `[at, end of group's range)`, from one snapshot: what a split of
    /// `group` at `at` moves to its new half.
    ///
    /// Where the new half already runs here (this replica replays the
    /// split over a snapshot taken before it, and the half came by a
    /// snapshot of its own, with newer rows), the rows of `[at, end)` are
    /// that half's, not the split's: the half that stays is counted
    /// instead, and the leaving half gets the rest of the range's counters.
    pub fn count_range(&self, group: u64, at: &str, child: u64) -> Result<BucketStats> {
        let state = self.group_state(group)?.unwrap_or_default();
        let Some(bucket) = state.bucket else { return Ok(BucketStats::default()) };
        if self.group_state(child)?.is_some_and(|s| s.membership.is_some()) {
            let staying = KeyRange { start: state.range.start.clone(), end: Some(at.to_owned()) };
            let lower = self.count_rows(bucket, &staying)?;
            return Ok(self.range_stats(bucket, &state.range.start)?.less(&lower));
        }
        self.count_rows(bucket, &KeyRange { start: at.to_owned(), end: state.range.end })
    }

    /// The live versions, their bytes and the live uploads of `range`.
    fn count_rows(&self, bucket: ObjectId, range: &KeyRange) -> Result<BucketStats> {
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let (lower, upper) = range.row_bounds(&head);
        let view = self.tables.db.snapshot();
        let mut stats = BucketStats::default();
        for guard in view.range(&self.tables.objects, lower.as_slice()..upper.as_slice()) {
            let (_, value) = guard.into_inner()?;
            let head = codec::decode_object_head(&value)?;
            if !head.deleted {
                stats.objects += 1;
                stats.bytes += head.meta.size;
            }
        }
        for guard in view.range(&self.tables.uploads, lower.as_slice()..upper.as_slice()) {
            let (_, value) = guard.into_inner()?;
            let upload: UploadRow = codec::decode(&value)?;
            if !upload.deleted {
                stats.uploads += 1;
            }
        }
        Ok(stats)
    }

    /// Where to split a group's range: the object key of its middle row
    /// (by row count, tombstones and versions included), provided it is
    /// above the range's start (a range of one key cannot split). Two
    /// passes over the keys, none over values.
    pub fn split_key(&self, group: u64) -> Result<Option<String>> {
        let Some(state) = self.group_state(group)? else { return Ok(None) };
        let Some(bucket) = state.bucket else { return Ok(None) };
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let (lower, upper) = state.range.row_bounds(&head);
        let view = self.tables.db.snapshot();
        let rows = view.range(&self.tables.objects, lower.as_slice()..upper.as_slice()).count();
        if rows < 2 {
            return Ok(None);
        }
        let Some(guard) = view.range(&self.tables.objects, lower.as_slice()..upper.as_slice()).nth(rows / 2)
        else {
            return Ok(None);
        };
        let raw = guard.key()?;
        let (key, _) = keys::split_row_key(&head, &raw)?;
        Ok((key > state.range.start.as_str()).then(|| key.to_owned()))
    }

    /// Every body a range's rows refer to (garbage collection), from one
    /// snapshot.
    pub fn referenced_bodies_in(
        &self,
        bucket: ObjectId,
        range: &KeyRange,
    ) -> Result<std::collections::HashSet<ObjectId>> {
        let view = self.tables.db.snapshot();
        let head = keys::bucket_prefix(self.index_partition(bucket), bucket);
        let (lower, upper) = range.row_bounds(&head);
        let mut bodies = std::collections::HashSet::new();
        for guard in view.range(&self.tables.objects, lower.as_slice()..upper.as_slice()) {
            let (_key, value) = guard.into_inner()?;
            let row: ObjectRow = codec::decode(&value)?;
            if let crate::ObjectBody::Striped(manifest) = row.body {
                bodies.extend(manifest.parts.iter().map(|p| p.body));
            }
        }
        for guard in view.range(&self.tables.uploads, lower.as_slice()..upper.as_slice()) {
            let (_key, value) = guard.into_inner()?;
            let upload: UploadRow = codec::decode(&value)?;
            for part in view.prefix(&self.tables.parts, upload.upload_id.as_bytes()) {
                let (_key, value) = part.into_inner()?;
                let row: crate::PartRow = codec::decode(&value)?;
                bodies.insert(row.body);
            }
        }
        Ok(bodies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: &str, end: Option<&str>) -> KeyRange {
        KeyRange { start: start.into(), end: end.map(Into::into) }
    }

    #[test]
    fn bounds_contain_their_keys_and_nothing_else() {
        let r = range("b", Some("d"));
        assert!(!r.contains("a") && r.contains("b") && r.contains("c/zzz") && !r.contains("d"));
        assert!(range("", None).contains("") && range("", None).contains("\u{10FFFF}"));
        assert!(r.overlaps(&range("c", None)) && !r.overlaps(&range("d", None)));
        assert!(!r.overlaps(&range("", Some("b"))) && r.overlaps(&range("", Some("b0"))));
        assert_eq!(r.hull(&range("b", None)), range("b", None));
    }

    #[test]
    fn minus_leaves_what_no_other_range_covers() {
        let r = range("b", Some("m"));
        assert_eq!(r.minus(&[]), vec![r.clone()]);
        assert_eq!(r.minus(&[range("d", Some("f"))]), vec![range("b", Some("d")), range("f", Some("m"))]);
        assert_eq!(r.minus(&[range("a", Some("c")), range("k", None)]), vec![range("c", Some("k"))]);
        assert_eq!(r.minus(&[range("", None)]), vec![]);
        assert_eq!(r.minus(&[range("m", None), range("", Some("b"))]), vec![r.clone()]);
        assert_eq!(
            range("", None).minus(&[range("c", Some("d"))]),
            vec![range("", Some("c")), range("d", None)]
        );
    }

    #[test]
    fn row_bounds_hold_exactly_the_rows_of_the_range() {
        let head = [1u8, 2, 3];
        let r = range("a/b", Some("a0"));
        let (lower, upper) = r.row_bounds(&head);
        for (key, inside) in
            [("a", false), ("a/", false), ("a/b", true), ("a/b/c", true), ("a/z", true), ("a0", false)]
        {
            let row = keys::row_key(&head, key, &[0xFF; 16]);
            let first = keys::row_key(&head, key, &[0; 16]);
            assert_eq!(row >= lower && row < upper, inside, "{key}");
            assert_eq!(first >= lower && first < upper, inside, "{key}");
        }
    }
}
