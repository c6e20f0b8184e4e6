//! The result of a run: totals, throughput, latency percentiles and errors,
//! as one JSON object (the `--json` contract: `mode`, `ops`, `errors`,
//! `seconds`, `ops_per_sec`, `mb_per_sec`, `latency_ms` {`p50`, `p90`, `p99`,
//! `max`}, plus details) or as a table for people.
//!
//! MB/s counts object body bytes in 10^6 bytes per second; `mib_per_sec` is
//! the same in 2^20. Latencies are whole operations, from sending the request
//! to the last byte of the answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cpu::CpuUsage;
use crate::stats::{Histogram, OpKind, OpStats, Recorder};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(histogram: &Histogram) -> Self {
        Latency {
            p50: millis(histogram.quantile(0.50)),
            p90: millis(histogram.quantile(0.90)),
            p99: millis(histogram.quantile(0.99)),
            max: millis(histogram.max()),
            mean: millis(histogram.mean()),
        }
    }
}

/// The figures of one kind of operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    pub ops_per_sec: f64,
    pub mb_per_sec: f64,
    pub latency_ms: Latency,
    pub errors_by_code: BTreeMap<String, u64>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub mode: String,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    /// `4KiB`, `1KiB..1MiB`.
    pub size: String,
    pub concurrency: usize,
    pub seed: u64,
    /// Objects prepared before the timed phase.
    pub objects: u64,
    pub prepare_seconds: f64,
    /// Successful operations (whole uploads in multipart mode).
    pub ops: u64,
    /// Failed operations, plus mismatches found by checks (`SizeMismatch`, ...).
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// The first message seen for each error code.
    pub error_examples: BTreeMap<String, String>,
    /// Length of the timed phase.
    pub seconds: f64,
    /// Object body bytes moved by successful operations.
    pub bytes: u64,
    pub ops_per_sec: f64,
    pub mb_per_sec: f64,
    pub mib_per_sec: f64,
    pub latency_ms: Latency,
    /// Per kind of operation (`get`, `put`, ..., `upload_part`).
    pub operations: BTreeMap<String, OpReport>,
    /// Keys returned by list requests (list mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_listed: Option<u64>,
    /// Whether the run was cut short by an interrupt.
    pub interrupted: bool,
    /// CPU seconds used during the timed phase (Linux; absent figures are null).
    pub cpu: CpuUsage,
}

/// What the engine knows when the timed phase is over.
pub struct RunFacts {
    pub mode: String,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub size: String,
    pub concurrency: usize,
    pub seed: u64,
    pub objects: u64,
    pub prepare_time: Duration,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub list_mode: bool,
    pub cpu: CpuUsage,
}

impl BenchReport {
    pub fn new(facts: RunFacts, recorder: &Recorder) -> Self {
        let seconds = facts.elapsed.as_secs_f64();
        let rate = |n: u64| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
        let mut total = OpStats::default();
        let mut errors_by_code: BTreeMap<String, u64> = BTreeMap::new();
        let mut error_examples: BTreeMap<String, String> = BTreeMap::new();
        let mut operations = BTreeMap::new();
        for (kind, stats) in &recorder.ops {
            if kind.is_primary() {
                total.merge(stats);
            }
            for (code, n) in &stats.errors {
                *errors_by_code.entry(code.clone()).or_default() += n;
            }
            for (code, message) in &stats.examples {
                error_examples.entry(code.clone()).or_insert_with(|| message.clone());
            }
            operations.insert(
                kind.name().to_owned(),
                OpReport {
                    ops: stats.ok,
                    errors: stats.error_count(),
                    bytes: stats.bytes,
                    ops_per_sec: round3(rate(stats.ok)),
                    mb_per_sec: round3(rate(stats.bytes) / 1e6),
                    latency_ms: Latency::of(&stats.latency),
                    errors_by_code: stats.errors.clone(),
                },
            );
        }
        let errors = errors_by_code.values().sum();
        BenchReport {
            mode: facts.mode,
            endpoint: facts.endpoint,
            bucket: facts.bucket,
            prefix: facts.prefix,
            size: facts.size,
            concurrency: facts.concurrency,
            seed: facts.seed,
            objects: facts.objects,
            prepare_seconds: round3(facts.prepare_time.as_secs_f64()),
            ops: total.ok,
            errors,
            errors_by_code,
            error_examples,
            seconds: round3(seconds),
            bytes: total.bytes,
            ops_per_sec: round3(rate(total.ok)),
            mb_per_sec: round3(rate(total.bytes) / 1e6),
            mib_per_sec: round3(rate(total.bytes) / f64::from(1u32 << 20)),
            latency_ms: Latency::of(&total.latency),
            operations,
            keys_listed: facts.list_mode.then(|| recorder.ops.get(&OpKind::List).map_or(0, |s| s.items)),
            interrupted: facts.interrupted,
            cpu: facts.cpu,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain numbers, strings and maps cannot fail; the
        // fallback keeps this total anyway.
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }

    /// The report as a table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "arca bench {} against {}: {} objects, concurrency {}, {:.2} s{}",
            self.mode,
            self.endpoint,
            self.size,
            self.concurrency,
            self.seconds,
            if self.interrupted { " (interrupted)" } else { "" }
        );
        let _ = writeln!(out, "bucket {}, prefix {}, seed {}", self.bucket, self.prefix, self.seed);
        if self.objects > 0 {
            let _ = writeln!(
                out,
                "prepared {} objects in {:.2} s (not timed)",
                self.objects, self.prepare_seconds
            );
        }
        let _ = writeln!(
            out,
            "\n{:<12} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "operation", "ops", "errors", "ops/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let mut row = |name: &str, ops: u64, errors: u64, ops_per_sec: f64, mb: f64, l: &Latency| {
            let _ = writeln!(
                out,
                "{name:<12} {ops:>9} {errors:>7} {ops_per_sec:>10.2} {mb:>9.2} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                l.p50, l.p90, l.p99, l.max
            );
        };
        for (name, op) in &self.operations {
            row(name, op.ops, op.errors, op.ops_per_sec, op.mb_per_sec, &op.latency_ms);
        }
        // A total row only where it adds up different operations (mixed);
        // multipart's parts are a detail of its uploads.
        if self.operations.keys().filter(|name| name.as_str() != OpKind::UploadPart.name()).count() > 1 {
            row("total", self.ops, self.errors, self.ops_per_sec, self.mb_per_sec, &self.latency_ms);
        }
        if let Some(keys) = self.keys_listed {
            let per_sec = if self.seconds > 0.0 { keys as f64 / self.seconds } else { 0.0 };
            let _ = writeln!(out, "\nkeys listed: {keys} ({per_sec:.0} keys/s)");
        }
        if let Some(line) = self.cpu_line() {
            let _ = writeln!(out, "\n{line}");
        }
        if !self.errors_by_code.is_empty() {
            let _ = writeln!(out, "\nerrors by code:");
            for (code, n) in &self.errors_by_code {
                let example = self.error_examples.get(code).map(String::as_str).unwrap_or("");
                let _ = writeln!(out, "  {code:<24} {n:>9}  e.g. {example}");
            }
        }
        out
    }
}

impl BenchReport {
    /// `CPU during the timed phase: bench 1.20 s, server 3.40 s, others 0.10 s,
    /// machine busy 4.70 of 6.00 s (2 cores)`, when the figures exist.
    fn cpu_line(&self) -> Option<String> {
        let cpu = &self.cpu;
        let busy = cpu.machine_busy_seconds?;
        let mut line = String::from("CPU during the timed phase:");
        if let Some(bench) = cpu.bench_seconds {
            let _ = write!(line, " bench {bench:.2} s,");
        }
        if let Some(server) = cpu.server_seconds {
            let _ = write!(line, " server {server:.2} s,");
        }
        if let Some(other) = cpu.other_seconds() {
            let _ = write!(line, " others {other:.2} s,");
        }
        let _ = write!(line, " machine busy {busy:.2}");
        if let Some(total) = cpu.machine_seconds {
            let _ = write!(line, " of {total:.2}");
        }
        let _ = write!(line, " s ({} cores)", cpu.cores);
        Some(line)
    }
}

fn millis(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1e3)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LiveCounters;

    fn facts() -> RunFacts {
        RunFacts {
            mode: "multipart".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "b".into(),
            prefix: "arca-bench/x/".into(),
            size: "16MiB".into(),
            concurrency: 4,
            seed: 1,
            objects: 0,
            prepare_time: Duration::ZERO,
            elapsed: Duration::from_secs(2),
            interrupted: false,
            list_mode: false,
            cpu: CpuUsage::default(),
        }
    }

    #[test]
    fn totals_count_primary_operations_and_every_error() {
        let live = LiveCounters::default();
        let mut recorder = Recorder::default();
        for _ in 0..4 {
            recorder.ok(&live, OpKind::Multipart, Duration::from_millis(100), 16 << 20, 0);
            for _ in 0..4 {
                recorder.ok(&live, OpKind::UploadPart, Duration::from_millis(20), 4 << 20, 0);
            }
        }
        recorder.error(&live, OpKind::Multipart, "InternalError", "InternalError (HTTP 500)");
        let report = BenchReport::new(facts(), &recorder);
        assert_eq!(report.ops, 4);
        assert_eq!(report.errors, 1);
        assert_eq!(report.bytes, 4 * (16 << 20));
        assert_eq!(report.ops_per_sec, 2.0);
        assert_eq!(report.mb_per_sec, round3(2.0 * f64::from(16u32 << 20) / 1e6));
        assert_eq!(report.operations["upload_part"].ops, 16);
        assert_eq!(report.errors_by_code.get("InternalError"), Some(&1));
        assert!((report.latency_ms.p50 - 100.0).abs() < 1.0);
        assert_eq!(report.latency_ms.max, 100.0);
    }

    #[test]
    fn json_carries_the_contract_keys() {
        let report = BenchReport::new(facts(), &Recorder::default());
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
        for key in ["mode", "ops", "errors", "seconds", "ops_per_sec", "mb_per_sec", "latency_ms"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "max"] {
            assert!(value["latency_ms"].get(key).is_some_and(|v| v.is_number()), "missing latency_ms.{key}");
        }
        assert_eq!(value["mode"], "multipart");
    }
}
