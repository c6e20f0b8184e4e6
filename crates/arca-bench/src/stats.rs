//! Counting what happened: a log-linear latency histogram (bounded memory
//! whatever the run length, < 1.6% relative error), per-operation tallies
//! kept by each worker and merged at the end, and the shared live counters
//! the progress line reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// Values below 2^LINEAR_BITS ns are counted exactly; above, each power of two
// is split into SUB buckets, so a bucket is at most 1/SUB of its value wide.
const LINEAR_BITS: u32 = 7;
const SUB: u64 = 1 << (LINEAR_BITS - 1);
// Latencies above 2^MAX_BITS ns (~18 minutes) are clamped into the last bucket;
// the exact maximum is kept apart.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = ((MAX_BITS - LINEAR_BITS + 2) as u64 * SUB) as usize;

/// A latency histogram in nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, sum: 0, max: 0 }
    }
}

fn bucket_of(value: u64) -> usize {
    let value = value.min((1u64 << MAX_BITS) - 1);
    if value < (1 << LINEAR_BITS) {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    let sub = value >> (exp - (LINEAR_BITS - 1));
    ((u64::from(exp - LINEAR_BITS + 1)) * SUB + sub) as usize
}

// The smallest and largest value of a bucket.
fn bucket_bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < (1 << LINEAR_BITS) {
        return (index, index);
    }
    let exp = (index / SUB) as u32 + LINEAR_BITS - 2;
    let sub = index % SUB + SUB;
    let shift = exp - (LINEAR_BITS - 1);
    (sub << shift, ((sub + 1) << shift) - 1)
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.count += 1;
        self.sum += u128::from(nanos);
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum / u128::from(self.count)) as u64)
    }

    /// The latency below which a fraction `q` (0..=1) of the values lie: the
    /// middle of the bucket holding that rank, never above the maximum seen.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                return Duration::from_nanos((low + (high - low) / 2).min(self.max));
            }
        }
        self.max()
    }
}

/// The operations a run counts, each with its own tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Put,
    Get,
    Stat,
    Delete,
    List,
    /// A whole multipart upload: create, parts, complete.
    Multipart,
    /// One part of a multipart upload (a detail of `Multipart`).
    UploadPart,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Stat => "stat",
            OpKind::Delete => "delete",
            OpKind::List => "list",
            OpKind::Multipart => "multipart",
            OpKind::UploadPart => "upload_part",
        }
    }

    /// Whether the operation counts in the run's totals; parts are already
    /// counted in their upload.
    pub fn is_primary(self) -> bool {
        self != OpKind::UploadPart
    }
}

/// The tally of one kind of operation.
#[derive(Clone, Default)]
pub struct OpStats {
    pub ok: u64,
    pub bytes: u64,
    /// Keys seen, for listings.
    pub items: u64,
    pub latency: Histogram,
    pub errors: BTreeMap<String, u64>,
    /// The first message seen for each error code, to show what went wrong.
    pub examples: BTreeMap<String, String>,
}

impl OpStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.ok += other.ok;
        self.bytes += other.bytes;
        self.items += other.items;
        self.latency.merge(&other.latency);
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        for (code, message) in &other.examples {
            self.examples.entry(code.clone()).or_insert_with(|| message.clone());
        }
    }
}

/// Counters read by the progress line while workers run.
#[derive(Default)]
pub struct LiveCounters {
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

impl LiveCounters {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ops.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// One worker's tallies; merged into the run's at the end.
#[derive(Clone, Default)]
pub struct Recorder {
    pub ops: BTreeMap<OpKind, OpStats>,
}

impl Recorder {
    pub fn ok(&mut self, live: &LiveCounters, kind: OpKind, latency: Duration, bytes: u64, items: u64) {
        let stats = self.ops.entry(kind).or_default();
        stats.ok += 1;
        stats.bytes += bytes;
        stats.items += items;
        stats.latency.record(latency);
        if kind.is_primary() {
            live.ops.fetch_add(1, Ordering::Relaxed);
            live.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub fn error(&mut self, live: &LiveCounters, kind: OpKind, code: &str, message: &str) {
        let stats = self.ops.entry(kind).or_default();
        *stats.errors.entry(code.to_owned()).or_default() += 1;
        stats.examples.entry(code.to_owned()).or_insert_with(|| message.to_owned());
        live.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn merge(&mut self, other: &Recorder) {
        for (kind, stats) in &other.ops {
            self.ops.entry(*kind).or_default().merge(stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_contain_their_values() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert!(low <= high);
            if let Some(prev) = previous_high {
                assert_eq!(low, prev + 1, "gap before bucket {index}");
            }
            previous_high = Some(high);
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(high), index);
            // Relative width bounded by 1/SUB.
            assert!((high - low) as f64 <= low as f64 / SUB as f64 + 1.0);
        }
        assert_eq!(previous_high, Some((1u64 << MAX_BITS) - 1));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_track_the_exact_ones() {
        // A skewed spread from 50 µs to ~2 s, as a latency distribution is.
        let mut values: Vec<u64> = (0..20_000u64).map(|i| 50_000 + i * i * 5).collect();
        let mut histogram = Histogram::default();
        for &v in &values {
            histogram.record(Duration::from_nanos(v));
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.99] {
            let exact = values[((q * values.len() as f64).ceil() as usize) - 1] as f64;
            let approx = histogram.quantile(q).as_nanos() as f64;
            assert!((approx - exact).abs() / exact < 1.0 / SUB as f64, "q{q}: {approx} vs {exact}");
        }
        assert_eq!(histogram.max(), Duration::from_nanos(*values.last().unwrap_or(&0)));
        assert_eq!(histogram.count(), 20_000);
    }

    #[test]
    fn merging_equals_recording_into_one() {
        let (mut a, mut b, mut both) = (Histogram::default(), Histogram::default(), Histogram::default());
        for i in 0..1000u64 {
            let d = Duration::from_micros(i * 37 % 5000 + 1);
            if i % 3 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            both.record(d);
        }
        a.merge(&b);
        assert_eq!(a.counts, both.counts);
        assert_eq!((a.count(), a.max(), a.mean()), (both.count(), both.max(), both.mean()));
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.99), Duration::ZERO);
        assert_eq!(histogram.mean(), Duration::ZERO);
    }
}
