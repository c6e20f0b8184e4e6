//! CPU time spent during the timed phase, from Linux's `/proc`: the load
//! generator's own process, optionally another process (the server, when it
//! runs on the same machine), and the whole machine. On a small machine the
//! client and the server share the cores, so these say how much of each
//! operation's cost was the client's, and whether something else was busy
//! during the run. Elsewhere (no `/proc`) every figure is absent.
//!
//! Process times are `utime + stime` of `/proc/PID/stat` (all threads, dead
//! ones included); the machine's are the aggregate `cpu` line of `/proc/stat`.
//! Both count in USER_HZ ticks, 100 per second on Linux, so a figure is good
//! to about 10 ms per thread that ran.

use serde::Serialize;

/// Ticks per second of `/proc` CPU times (USER_HZ, fixed at 100 in Linux's ABI).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU times at one instant, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    bench: Option<f64>,
    server: Option<f64>,
    machine_busy: Option<f64>,
    machine_total: Option<f64>,
}

impl CpuSnapshot {
    /// Reads the counters now; `server` is the pid of another process to account.
    pub fn take(server: Option<u32>) -> Self {
        let (machine_busy, machine_total) = match machine_times() {
            Some((busy, total)) => (Some(busy), Some(total)),
            None => (None, None),
        };
        CpuSnapshot {
            bench: process_seconds("self"),
            server: server.and_then(|pid| process_seconds(&pid.to_string())),
            machine_busy,
            machine_total,
        }
    }
}

/// CPU seconds used between two snapshots.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CpuUsage {
    /// By the load generator itself (all its threads).
    pub bench_seconds: Option<f64>,
    /// By the process given with `--server-pid`.
    pub server_seconds: Option<f64>,
    /// By every process on the machine (user, nice, system, irq, softirq).
    pub machine_busy_seconds: Option<f64>,
    /// Busy plus idle, I/O wait and steal: about cores × wall time.
    pub machine_seconds: Option<f64>,
    /// Logical CPUs the machine has.
    pub cores: usize,
}

impl CpuUsage {
    pub fn between(before: &CpuSnapshot, after: &CpuSnapshot) -> Self {
        let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(round2((b - a).max(0.0))),
            _ => None,
        };
        CpuUsage {
            bench_seconds: delta(before.bench, after.bench),
            server_seconds: delta(before.server, after.server),
            machine_busy_seconds: delta(before.machine_busy, after.machine_busy),
            machine_seconds: delta(before.machine_total, after.machine_total),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Machine CPU seconds used by neither the bench nor the server.
    pub fn other_seconds(&self) -> Option<f64> {
        let busy = self.machine_busy_seconds?;
        let other = busy - self.bench_seconds.unwrap_or(0.0) - self.server_seconds.unwrap_or(0.0);
        Some(round2(other.max(0.0)))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `utime + stime` of `/proc/<pid>/stat`, in seconds.
fn process_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_stat(&stat)
}

fn parse_process_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself; the fields after its last `)` start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 from field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// (busy, total) seconds of the whole machine, from `/proc/stat`.
fn machine_times() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_stat(&stat)
}

fn parse_machine_stat(stat: &str) -> Option<(f64, f64)> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map_while(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let get = |i: usize| ticks.get(i).copied().unwrap_or(0);
    if ticks.len() < 4 {
        return None;
    }
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    let total = busy + get(3) + get(4) + get(7);
    Some((busy as f64 / TICKS_PER_SEC, total as f64 / TICKS_PER_SEC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stat_fields_after_an_awkward_name() {
        let stat = "4242 (arca (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_process_stat(stat), Some(3.25));
        assert_eq!(parse_process_stat("garbage"), None);
    }

    #[test]
    fn machine_stat_busy_and_total() {
        let stat = "cpu  100 10 50 1000 20 0 5 3 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_machine_stat(stat), Some((1.65, 11.88)));
    }

    #[test]
    fn usage_between_snapshots() {
        let before = CpuSnapshot {
            bench: Some(1.0),
            server: Some(2.0),
            machine_busy: Some(10.0),
            machine_total: Some(100.0),
        };
        let after = CpuSnapshot {
            bench: Some(2.5),
            server: Some(4.0),
            machine_busy: Some(14.0),
            machine_total: Some(104.0),
        };
        let usage = CpuUsage::between(&before, &after);
        assert_eq!(usage.bench_seconds, Some(1.5));
        assert_eq!(usage.server_seconds, Some(2.0));
        assert_eq!(usage.other_seconds(), Some(0.5));
        assert_eq!(usage.machine_seconds, Some(4.0));
        let none = CpuUsage::between(&CpuSnapshot::default(), &after);
        assert_eq!(none.server_seconds, None);
        assert_eq!(none.other_seconds(), None);
    }

    #[test]
    fn own_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let snapshot = CpuSnapshot::take(Some(std::process::id()));
            assert!(
                snapshot.bench.is_some() && snapshot.server.is_some() && snapshot.machine_total.is_some()
            );
        }
    }
}
