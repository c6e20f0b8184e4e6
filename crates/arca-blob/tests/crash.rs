//! Crash tests: a child process writes, re-writes and deletes blobs from
//! several threads while another thread compacts without pause; the parent
//! kills it with SIGKILL — at random moments, and at each named step of
//! compaction — then reopens the store and checks that:
//! - every acknowledged write is present and byte-correct, every
//!   acknowledged delete is still deleted;
//! - an operation in flight at the kill either happened or did not, and a
//!   blob that is present is whole (its bytes are all derived from a seed
//!   they carry; a torn or mixed body cannot match);
//! - nothing is reported corrupt, by reads or by a scrub.
//!
//! The child is this test binary re-executed to run `crash_child` with
//! `ARCA_BLOB_CRASH_DIR` set. It reports each operation on stdout before it
//! starts (`@@S`) and after it returns (`@@A`), one flushed line each.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arca_blob::{BlobError, BlobStore, BlobStoreConfig, FaultPoint};
use arca_types::{BlobId, ObjectId, partition_of, placement_hash};

const WRITERS: u64 = 4;
const VOLUME_SIZE_LIMIT: u64 = 96 * 1024;

/// splitmix64: a small deterministic generator (no dependency, same
/// stream in parent and child).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn time_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// The body of a blob: the seed and length, then bytes drawn from the seed.
fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&seed.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
    let mut rng = Rng(seed);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The (seed, length) a body was made from, if it is whole and unmixed.
fn parse_body(bytes: &[u8]) -> Option<(u64, usize)> {
    let seed = u64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
    let len = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
    (len == bytes.len() && body(seed, len) == bytes).then_some((seed, len))
}

fn config(fault_hook: Option<arca_blob::FaultHook>) -> BlobStoreConfig {
    BlobStoreConfig { volume_size_limit: VOLUME_SIZE_LIMIT, fault_hook, ..BlobStoreConfig::default() }
}

fn fault_point_name(p: FaultPoint) -> &'static str {
    match p {
        FaultPoint::CompactionOutputSynced => "output-synced",
        FaultPoint::CompactionOutputRenamed => "output-renamed",
        FaultPoint::CompactionIndexSwitched => "index-switched",
        FaultPoint::CompactionInputVolumeUnlinked => "input-unlinked",
        FaultPoint::VolumeRolledOver => "rolled-over",
    }
}

/// What the workload writes its log lines to.
type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

fn log(sink: &Sink, line: &str) {
    let mut out = sink.lock().unwrap();
    // A failed write means the parent is gone; nothing to report to.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writers put, replace and delete blobs; a compactor compacts in a loop.
/// Each writer owns the ids whose first byte is its number mod WRITERS, so
/// the operations on one id are sequential and logged in order. Runs until
/// `ops_per_writer` operations are done (or forever, in a child that is
/// going to be killed).
fn run_workload(store: Arc<BlobStore>, sink: Sink, seed: u64, ops_per_writer: Option<u64>) {
    let existing: Vec<BlobId> =
        store.partitions().into_iter().flat_map(|p| store.partition_blobs(p)).map(|(id, _)| id).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (store, sink, stop) = (store.clone(), sink.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                log(&sink, "@@C start");
                store.compact(0.2).unwrap();
                log(&sink, "@@C end");
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, sink) = (store.clone(), sink.clone());
            let mut mine: Vec<BlobId> =
                existing.iter().filter(|id| u64::from(id.object.0[0]) % WRITERS == w).copied().collect();
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ (w + 1).wrapping_mul(0x1234_5678_9abc_def1));
                let mut done = 0;
                while ops_per_writer.is_none_or(|n| done < n) {
                    done += 1;
                    let roll = rng.below(100);
                    if roll < 25 && !mine.is_empty() {
                        let id = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                        log(&sink, &format!("@@S D {id} 0 0"));
                        store.delete(&id).unwrap();
                        log(&sink, &format!("@@A D {id} 0 0"));
                        continue;
                    }
                    let id = if roll < 40 && !mine.is_empty() {
                        mine[rng.below(mine.len() as u64) as usize]
                    } else {
                        let mut object = ObjectId::random();
                        object.0[0] = (object.0[0] / WRITERS as u8) * WRITERS as u8 + w as u8;
                        let id = BlobId::new(object, rng.below(4) as u32);
                        mine.push(id);
                        id
                    };
                    let len = match rng.below(100) {
                        0..=79 => 16 + rng.below(8 * 1024),
                        80..=97 => 8 * 1024 + rng.below(56 * 1024),
                        _ => 64 * 1024 + rng.below(192 * 1024),
                    } as usize;
                    let blob_seed = rng.next();
                    log(&sink, &format!("@@S P {id} {blob_seed} {len}"));
                    store
                        .put(id, partition_of(&placement_hash(&id.to_bytes()), 3), &body(blob_seed, len))
                        .unwrap();
                    log(&sink, &format!("@@A P {id} {blob_seed} {len}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    compactor.join().unwrap();
}

/// Entry point of the child process; run in-process (without the env var)
/// it is a short uninterrupted run checked by the same rules.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("ARCA_BLOB_CRASH_DIR") else {
        let dir = tempfile::tempdir().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink: Sink = Arc::new(Mutex::new(Box::new(SharedVec(lines.clone()))));
        let store = Arc::new(BlobStore::open(dir.path(), config(None)).unwrap());
        run_workload(store.clone(), sink, time_seed(), Some(60));
        drop(Arc::into_inner(store).unwrap());
        let log = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        let mut model = BTreeMap::new();
        let outcome = verify_after_crash(dir.path(), &log, &mut model);
        assert_eq!(outcome.in_flight, 0, "an uninterrupted run left operations unacknowledged");
        assert!(model.values().any(Option::is_some) && model.values().any(Option::is_none));
        return;
    };
    let crash_at = std::env::var("ARCA_BLOB_CRASH_AT").ok();
    let sink: Sink = Arc::new(Mutex::new(Box::new(std::io::stdout())));
    let hook_sink = sink.clone();
    let hook: arca_blob::FaultHook = Arc::new(move |point| {
        if crash_at.as_deref() == Some(fault_point_name(point)) {
            // Stop right here and let the parent kill -9 the process.
            log(&hook_sink, "@@CRASHPOINT");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    let store = Arc::new(BlobStore::open(&dir, config(Some(hook))).unwrap());
    log(&sink, "@@OPEN");
    let seed: u64 = std::env::var("ARCA_BLOB_CRASH_SEED").unwrap().parse().unwrap();
    // Bounded in case the parent never kills (it always does).
    run_workload(store, sink, seed, Some(20_000));
}

struct SharedVec(Arc<Mutex<Vec<u8>>>);

impl Write for SharedVec {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// State of one blob: `Some((seed, len))` when present.
type State = Option<(u64, usize)>;

struct Outcome {
    /// Operations started but not acknowledged when the child died.
    in_flight: usize,
    /// Whether the child died inside a compaction.
    in_compaction: bool,
}

/// Checks the reopened store against `model` (the verified state before
/// this run) and the run's log, then makes `model` the verified state now.
fn verify_after_crash(dir: &Path, log: &str, model: &mut BTreeMap<BlobId, State>) -> Outcome {
    // Per id: the state its last acknowledged operation left (or the model's
    // if none), and the state an unacknowledged last operation would leave.
    let mut acked: BTreeMap<BlobId, State> = BTreeMap::new();
    let mut pending: BTreeMap<BlobId, State> = BTreeMap::new();
    let mut in_compaction = false;
    for line in log.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["@@C", what] => in_compaction = *what == "start",
            [tag @ ("@@S" | "@@A"), op, id, seed, len] => {
                let id = parse_id(id);
                let state = (*op == "P").then(|| (seed.parse().unwrap(), len.parse().unwrap()));
                if *tag == "@@S" {
                    pending.insert(id, state);
                } else {
                    assert_eq!(pending.remove(&id), Some(state), "ack without start for {id}");
                    acked.insert(id, state);
                }
            }
            _ => {}
        }
    }

    let store = BlobStore::open(dir, config(None)).unwrap();
    let ids: BTreeSet<BlobId> = model.keys().chain(acked.keys()).chain(pending.keys()).copied().collect();
    for id in &ids {
        let before = acked.get(id).copied().or_else(|| model.get(id).copied()).flatten();
        let actual = match store.get(id) {
            Ok(bytes) => {
                let parsed = parse_body(&bytes);
                assert!(parsed.is_some(), "blob {id} is present but not whole ({} bytes)", bytes.len());
                parsed
            }
            Err(BlobError::NotFound(_)) => None,
            Err(e) => panic!("blob {id}: {e}"),
        };
        let allowed_in_flight = pending.get(id).is_some_and(|p| *p == actual);
        assert!(
            actual == before || allowed_in_flight,
            "blob {id}: found {actual:?}, acknowledged state {before:?}, in flight {:?}",
            pending.get(id)
        );
        model.insert(*id, actual);
    }
    // Nothing the log does not know about, and no rot anywhere.
    let present: usize = store.partitions().into_iter().map(|p| store.partition_blobs(p).len()).sum();
    assert_eq!(present, model.values().filter(|s| s.is_some()).count(), "unexpected blobs present");
    let scrub = store.scrub().unwrap();
    assert!(scrub.corrupt.is_empty() && scrub.damaged_gap_bytes == 0, "scrub after crash: {scrub:?}");
    Outcome { in_flight: pending.len(), in_compaction }
}

fn parse_id(s: &str) -> BlobId {
    let (object, stripe) = s.split_once('.').unwrap();
    BlobId::new(object.parse().unwrap(), stripe.parse().unwrap())
}

/// Runs the child on `dir` until `kill_when` says so (given the lines so
/// far), kills it with SIGKILL, and returns its log.
fn run_child_and_kill(dir: &Path, seed: u64, crash_at: Option<&str>, kill_after: Duration) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["crash_child", "--exact", "--nocapture", "--test-threads", "1"])
        .env("ARCA_BLOB_CRASH_DIR", dir)
        .env("ARCA_BLOB_CRASH_SEED", seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(point) = crash_at {
        cmd.env("ARCA_BLOB_CRASH_AT", point);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut all = String::new();
        let mut line = Vec::new();
        // Only whole lines count: the last one may be cut by the kill.
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if line.ends_with(b"\n") {
                // libtest may print "test crash_child ... " in front of the
                // first line; keep each line from its marker on.
                let text = String::from_utf8_lossy(&line);
                let text = text.find("@@").map_or("", |at| &text[at..]).to_owned();
                let _ = tx.send(text.clone());
                all.push_str(&text);
            }
            line.clear();
        }
        all
    });
    // Wait for the store to open (recovery is not what is being timed),
    // then for the delay or the crash point.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut opened_at = None;
    loop {
        let line = rx.recv_timeout(Duration::from_millis(5));
        if let Ok(line) = &line {
            if line.starts_with("@@OPEN") {
                opened_at = Some(Instant::now());
            }
            if line.starts_with("@@CRASHPOINT") {
                break;
            }
        }
        if crash_at.is_none() && opened_at.is_some_and(|t| t.elapsed() >= kill_after) {
            break;
        }
        if matches!(line, Err(std::sync::mpsc::RecvTimeoutError::Disconnected)) {
            panic!("child exited before it was killed: {:?}", child.wait());
        }
        assert!(Instant::now() < deadline, "child never reached {crash_at:?}");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let seed = time_seed();
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let (mut acked_total, mut in_compaction) = (0, 0);
    // One directory through every kill, so each recovery starts from the
    // previous one's result, volumes pile up and compaction has work.
    for round in 0..12 {
        let kill_after = Duration::from_millis(20 + rng.below(400));
        let log = run_child_and_kill(dir.path(), rng.next(), None, kill_after);
        acked_total += log.lines().filter(|l| l.starts_with("@@A")).count();
        let outcome = verify_after_crash(dir.path(), &log, &mut model);
        in_compaction += usize::from(outcome.in_compaction);
        eprintln!("round {round}: killed after {kill_after:?}, {} in flight", outcome.in_flight);
    }
    eprintln!(
        "{acked_total} acknowledged operations checked; {in_compaction} kills landed inside a compaction"
    );
    assert!(acked_total > 0, "the children acknowledged nothing");
}

#[test]
fn acknowledged_writes_survive_sigkill_at_each_step_of_compaction() {
    let seed = time_seed();
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let points = [
        FaultPoint::CompactionOutputSynced,
        FaultPoint::CompactionOutputRenamed,
        FaultPoint::CompactionIndexSwitched,
        FaultPoint::CompactionInputVolumeUnlinked,
        FaultPoint::VolumeRolledOver,
    ];
    for round in 0..2 {
        for point in points {
            let name = fault_point_name(point);
            let log = run_child_and_kill(dir.path(), rng.next(), Some(name), Duration::ZERO);
            assert!(log.contains("@@CRASHPOINT"));
            let outcome = verify_after_crash(dir.path(), &log, &mut model);
            eprintln!("round {round}: killed at {name}, {} in flight", outcome.in_flight);
        }
    }
}
