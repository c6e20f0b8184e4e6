//! Crash test: a child process writes from several threads and is killed
//! with SIGKILL at a random moment; after each restart every acknowledged
//! write must be present and correct, and nothing unacknowledged may be
//! half-visible (a row without its counter or event, or the reverse).
//!
//! The child is this test binary itself, re-run with only the ignored test
//! `crash_child` selected and the store's directory in the environment. Each
//! of its threads prints an intent line (`I <thread> <op>`) before a call
//! and an acknowledgement (`A <thread>`) after it returns, flushed at once.
//! Threads write disjoint keys and run one call at a time, so after the kill
//! each thread has a list of acknowledged operations and at most one in
//! flight. The parent rebuilds the expected state from the acknowledged
//! operations, decides whether each in-flight one took effect from the event
//! log (the event commits with the row, so it is the witness), and then
//! requires the store to equal that state exactly: rows, parts, counters and
//! events. Rounds accumulate in one store, so later rounds also recover
//! journals and tables written by earlier ones.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arca_meta::{
    BucketRow, EventKind, ListQuery, Manifest, ManifestPart, MetaConfig, MetaStore, ObjectBody, ObjectMeta,
    ObjectRow, PartRow, PutCondition, UploadListQuery, UploadRow,
};
use arca_types::{Clock, ObjectId, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DIR_ENV: &str = "ARCA_META_CRASH_DIR";
const ROUND_ENV: &str = "ARCA_META_CRASH_ROUND";
const BUCKET: &str = "crash";
const THREADS: u64 = 4;
const ROUNDS: u32 = 8;
const NODE: u32 = 3;

/// One operation of a child thread, as printed on its intent line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Put { key: String, micros: u64, size: u64 },
    Del { key: String, micros: u64 },
    Create { key: String, upload: ObjectId, micros: u64 },
    Part { key: String, upload: ObjectId, number: u32, body: ObjectId },
    Complete { key: String, upload: ObjectId, micros: u64, parts: Vec<(u32, ObjectId)> },
    Abort { key: String, upload: ObjectId, micros: u64 },
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Put { key, micros, size } => format!("PUT {key} {micros} {size}"),
            Op::Del { key, micros } => format!("DEL {key} {micros}"),
            Op::Create { key, upload, micros } => format!("CREATE {key} {upload} {micros}"),
            Op::Part { key, upload, number, body } => format!("PART {key} {upload} {number} {body}"),
            Op::Complete { key, upload, micros, parts } => {
                let parts: Vec<String> = parts.iter().map(|(n, b)| format!("{n}:{b}")).collect();
                format!("COMPLETE {key} {upload} {micros} {}", parts.join(","))
            }
            Op::Abort { key, upload, micros } => format!("ABORT {key} {upload} {micros}"),
        }
    }

    fn parse(words: &[&str]) -> Option<Op> {
        let id = |s: &str| s.parse::<ObjectId>().ok();
        let num = |s: &str| s.parse::<u64>().ok();
        Some(match words {
            ["PUT", key, micros, size] => {
                Op::Put { key: key.to_string(), micros: num(micros)?, size: num(size)? }
            }
            ["DEL", key, micros] => Op::Del { key: key.to_string(), micros: num(micros)? },
            ["CREATE", key, upload, micros] => {
                Op::Create { key: key.to_string(), upload: id(upload)?, micros: num(micros)? }
            }
            ["PART", key, upload, number, body] => Op::Part {
                key: key.to_string(),
                upload: id(upload)?,
                number: number.parse().ok()?,
                body: id(body)?,
            },
            ["COMPLETE", key, upload, micros, parts @ ..] => Op::Complete {
                key: key.to_string(),
                upload: id(upload)?,
                micros: num(micros)?,
                parts: parts
                    .first()
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        p.split(',')
                            .map(|np| {
                                let (n, b) = np.split_once(':')?;
                                Some((n.parse().ok()?, id(b)?))
                            })
                            .collect::<Option<Vec<_>>>()
                    })
                    .unwrap_or(Some(Vec::new()))?,
            },
            ["ABORT", key, upload, micros] => {
                Op::Abort { key: key.to_string(), upload: id(upload)?, micros: num(micros)? }
            }
            _ => return None,
        })
    }

    /// The event this operation appends, if any: (kind, key, µs).
    fn event(&self) -> Option<(EventKind, String, u64)> {
        match self {
            Op::Put { key, micros, .. } => Some((EventKind::ObjectCreated, key.clone(), *micros)),
            Op::Del { key, micros } => Some((EventKind::ObjectRemoved, key.clone(), *micros)),
            Op::Create { key, micros, .. } => Some((EventKind::UploadCreated, key.clone(), *micros)),
            Op::Part { .. } => None,
            Op::Complete { key, micros, .. } => Some((EventKind::UploadCompleted, key.clone(), *micros)),
            Op::Abort { key, micros, .. } => Some((EventKind::UploadAborted, key.clone(), *micros)),
        }
    }
}

fn etag(micros: u64) -> String {
    format!("\"{micros:x}\"")
}

fn part_row(upload: ObjectId, number: u32, body: ObjectId) -> PartRow {
    PartRow {
        upload_id: upload,
        part_number: number,
        body,
        size: 1000 + u64::from(number),
        stripe_size: 4 << 20,
        etag: format!("\"part{number}\""),
        checksums: Vec::new(),
        ts: Timestamp::new(1, NODE),
        deleted: false,
    }
}

fn manifest(parts: &[(u32, ObjectId)]) -> ObjectBody {
    ObjectBody::Striped(Manifest {
        parts: parts
            .iter()
            .map(|&(n, body)| {
                let p = part_row(ObjectId([0; 16]), n, body);
                ManifestPart { part_number: n, body, size: p.size, stripe_size: p.stripe_size, etag: p.etag }
            })
            .collect(),
    })
}

fn object_row(bucket: ObjectId, key: &str, micros: u64, size: u64, body: ObjectBody) -> ObjectRow {
    ObjectRow {
        bucket,
        key: key.to_owned(),
        version: None,
        ts: Timestamp::new(micros, NODE),
        deleted: false,
        meta: ObjectMeta { size, etag: etag(micros), owner: "crash".into(), ..Default::default() },
        body,
    }
}

// ---------------------------------------------------------------- the child

/// Writes one whole line to stdout and flushes it (a pipe write of under
/// PIPE_BUF bytes is atomic, so a kill never leaves half a line).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

#[test]
#[ignore = "the child process of sigkill_keeps_acknowledged_writes_and_nothing_half_visible, which runs it"]
fn crash_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else { return };
    let store = MetaStore::open(&dir, MetaConfig { node: NODE, ..Default::default() }).unwrap();
    let bucket = store.get_bucket(BUCKET).unwrap().expect("the parent creates the bucket").id;
    let store = std::sync::Arc::new(store);
    let clock = std::sync::Arc::new(Clock::new(NODE));
    say("READY");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, clock, round) = (store.clone(), clock.clone(), round.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(rand::random::<u64>() ^ t);
                // Acknowledged live uploads of this thread: key, id, part numbers and bodies.
                let mut uploads: Vec<(String, ObjectId, BTreeMap<u32, ObjectId>)> = Vec::new();
                for i in 0u64.. {
                    let key = format!("r{round}/t{t}/k{}", rng.random_range(0..6));
                    let op = match rng.random_range(0..10) {
                        0..4 => Op::Put { key, micros: clock.now().micros, size: rng.random_range(0..5000) },
                        4..6 => Op::Del { key, micros: clock.now().micros },
                        6 if uploads.len() < 3 => {
                            let micros = clock.now().micros;
                            let mut upload = ObjectId::random();
                            upload.0[..8].copy_from_slice(&micros.to_be_bytes());
                            Op::Create { key: format!("r{round}/t{t}/mp{i}"), upload, micros }
                        }
                        7 | 8 if !uploads.is_empty() => {
                            let (key, upload, _) = uploads[rng.random_range(0..uploads.len())].clone();
                            Op::Part { key, upload, number: rng.random_range(1..5), body: ObjectId::random() }
                        }
                        9 if !uploads.is_empty() => {
                            let (key, upload, parts) =
                                uploads.swap_remove(rng.random_range(0..uploads.len()));
                            let micros = clock.now().micros;
                            if rng.random_bool(0.25) {
                                Op::Abort { key, upload, micros }
                            } else {
                                // Some parts may stay out of the manifest.
                                let used = parts.into_iter().filter(|_| rng.random_bool(0.8)).collect();
                                Op::Complete { key, upload, micros, parts: used }
                            }
                        }
                        _ => continue,
                    };
                    say(&format!("I {t} {}", op.line()));
                    let not_applied = || arca_meta::MetaError::Invalid("a newer row won".into());
                    let result = match &op {
                        Op::Put { key, micros, size } => store
                            .put_object(
                                object_row(bucket, key, *micros, *size, ObjectBody::Inline(vec![1; 8])),
                                PutCondition::Always,
                            )
                            .and_then(|o| if o.applied { Ok(()) } else { Err(not_applied()) }),
                        Op::Del { key, micros } => {
                            store.delete_object(bucket, key, Timestamp::new(*micros, NODE)).map(drop)
                        }
                        Op::Create { key, upload, micros } => {
                            let ts = Timestamp::new(*micros, NODE);
                            let row = UploadRow {
                                bucket,
                                key: key.clone(),
                                upload_id: *upload,
                                initiated: ts,
                                meta: ObjectMeta::default(),
                                ts,
                                deleted: false,
                            };
                            store
                                .create_upload(row)
                                .map(|()| uploads.push((key.clone(), *upload, BTreeMap::new())))
                        }
                        Op::Part { key, upload, number, body } => {
                            store.put_part(bucket, key, part_row(*upload, *number, *body)).map(|_| {
                                if let Some(u) = uploads.iter_mut().find(|u| u.1 == *upload) {
                                    u.2.insert(*number, *body);
                                }
                            })
                        }
                        Op::Complete { key, upload, micros, parts } => {
                            let size = parts.iter().map(|(n, _)| 1000 + u64::from(*n)).sum();
                            let row = object_row(bucket, key, *micros, size, manifest(parts));
                            store
                                .complete_upload(bucket, key, *upload, row)
                                .and_then(|o| if o.applied { Ok(()) } else { Err(not_applied()) })
                        }
                        Op::Abort { key, upload, micros } => {
                            store.abort_upload(bucket, key, *upload, Timestamp::new(*micros, NODE)).map(drop)
                        }
                    };
                    match result {
                        Ok(()) => say(&format!("A {t}")),
                        Err(e) => {
                            say(&format!("E {t} {e}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

// --------------------------------------------------------------- the parent

/// An object as the model expects it: µs, size, and the manifest's
/// (part number, body) pairs if it was completed from an upload.
type ExpectedObject = (u64, u64, Option<Vec<(u32, ObjectId)>>);

/// What the store must hold: built from acknowledged operations and the
/// in-flight ones that took effect.
#[derive(Default)]
struct Model {
    /// Key -> the live object, or None once deleted.
    objects: BTreeMap<String, Option<ExpectedObject>>,
    /// Upload id -> (key, live, parts).
    uploads: BTreeMap<ObjectId, (String, bool, BTreeMap<u32, ObjectId>)>,
    events: BTreeSet<(EventKind, String, u64)>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        if let Some(e) = op.event() {
            assert!(self.events.insert(e), "one event per operation: {op:?}");
        }
        match op {
            Op::Put { key, micros, size } => {
                self.objects.insert(key.clone(), Some((*micros, *size, None)));
            }
            Op::Del { key, .. } => {
                self.objects.insert(key.clone(), None);
            }
            Op::Create { key, upload, .. } => {
                self.uploads.insert(*upload, (key.clone(), true, BTreeMap::new()));
            }
            Op::Part { upload, number, body, .. } => {
                let u = self.uploads.get_mut(upload).expect("parts follow their upload");
                u.2.insert(*number, *body);
            }
            Op::Complete { key, upload, micros, parts } => {
                let size = parts.iter().map(|(n, _)| 1000 + u64::from(*n)).sum();
                self.objects.insert(key.clone(), Some((*micros, size, Some(parts.clone()))));
                let u = self.uploads.get_mut(upload).expect("completes follow their upload");
                u.1 = false;
                u.2.clear();
            }
            Op::Abort { upload, .. } => {
                let u = self.uploads.get_mut(upload).expect("aborts follow their upload");
                u.1 = false;
                u.2.clear();
            }
        }
    }
}

/// Fails with only the differences (the sets hold thousands of items).
fn assert_same<T: Ord + std::fmt::Debug>(what: &str, stored: &BTreeSet<T>, expected: &BTreeSet<T>) {
    let missing: Vec<&T> = expected.difference(stored).collect();
    let unexpected: Vec<&T> = stored.difference(expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{what}: missing {missing:?}, unexpected {unexpected:?}"
    );
}

/// Per thread: the acknowledged operations in order, and the one in flight.
fn parse_log(out: &str) -> (Vec<Op>, Vec<Op>, usize) {
    let mut acked = Vec::new();
    let mut pending: BTreeMap<u64, Op> = BTreeMap::new();
    // Only whole lines: a line is complete once its newline arrived.
    let complete = match out.rfind('\n') {
        Some(end) => &out[..end],
        None => "",
    };
    for line in complete.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["I", t, op @ ..] => {
                let op = Op::parse(op).unwrap_or_else(|| panic!("unparsable intent {line:?}"));
                let prev = pending.insert(t.parse().unwrap(), op);
                assert!(prev.is_none(), "thread {t} started an operation before the last one returned");
            }
            ["A", t] => acked
                .push(pending.remove(&t.parse().unwrap()).expect("an acknowledgement follows its intent")),
            ["E", ..] => panic!("the child failed: {line}"),
            _ => {} // the test harness's own lines
        }
    }
    let n = acked.len();
    (acked, pending.into_values().collect(), n)
}

fn verify(store: &MetaStore, bucket: ObjectId, model: &mut Model, acked: &[Op], in_flight: &[Op]) {
    for op in acked {
        model.apply(op);
    }
    let stored_events: Vec<(EventKind, String, u64)> = store
        .events_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind != EventKind::BucketCreated)
        .map(|e| (e.kind, e.key, e.ts.micros))
        .collect();
    let event_set: BTreeSet<_> = stored_events.iter().cloned().collect();
    assert_eq!(event_set.len(), stored_events.len(), "an event was logged twice");
    // An in-flight operation took effect iff its witness is stored: its
    // event, or for a part (which logs none) the part row itself.
    for op in in_flight {
        let took_effect = match (op.event(), op) {
            (Some(e), _) => event_set.contains(&e),
            (None, Op::Part { upload, number, body, .. }) => {
                let (parts, _) = store.list_parts(*upload, 0, 10_000).unwrap();
                parts.iter().any(|p| p.part_number == *number && p.body == *body)
            }
            (None, _) => unreachable!(),
        };
        if took_effect {
            model.apply(op);
        }
    }
    assert_same("events", &event_set, &model.events);

    // Objects: exactly the model's live keys, each with the model's row.
    let all = ListQuery { max_keys: usize::MAX, ..Default::default() };
    let listed: Vec<String> =
        store.list_objects(bucket, &all).unwrap().entries.iter().map(|e| e.marker().to_owned()).collect();
    let live: BTreeSet<String> =
        model.objects.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.clone()).collect();
    assert_same("live keys", &listed.iter().cloned().collect(), &live);
    assert_eq!(listed.len(), live.len(), "a key was listed twice");
    let (mut objects, mut bytes) = (0, 0);
    for (key, want) in &model.objects {
        let got = store.get_object(bucket, key).unwrap();
        match (want, got) {
            (None, None) => {}
            (Some((micros, size, parts)), Some(row)) => {
                assert_eq!(
                    (row.ts.micros, row.meta.size, row.meta.etag.clone()),
                    (*micros, *size, etag(*micros)),
                    "{key}"
                );
                match parts {
                    Some(parts) => assert_eq!(row.body, manifest(parts), "{key}"),
                    None => assert!(matches!(row.body, ObjectBody::Inline(_)), "{key}"),
                }
                objects += 1;
                bytes += size;
            }
            (want, got) => panic!("{key}: expected {want:?}, found {got:?}"),
        }
    }

    // Uploads and their parts.
    let q = UploadListQuery { max_uploads: usize::MAX, ..Default::default() };
    let listed: BTreeSet<ObjectId> =
        store.list_uploads(bucket, &q).unwrap().uploads.iter().map(|u| u.upload_id).collect();
    let live: BTreeSet<ObjectId> = model.uploads.iter().filter(|(_, u)| u.1).map(|(id, _)| *id).collect();
    assert_same("live uploads", &listed, &live);
    for (id, (key, is_live, parts)) in &model.uploads {
        assert_eq!(store.get_upload(bucket, key, *id).unwrap().is_some(), *is_live, "upload {id}");
        let (stored, _) = store.list_parts(*id, 0, 10_000).unwrap();
        let stored: BTreeMap<u32, ObjectId> = stored.iter().map(|p| (p.part_number, p.body)).collect();
        assert_eq!(&stored, parts, "parts of upload {id}");
    }

    // Counters agree with the rows.
    let stats = store.bucket_stats(bucket).unwrap();
    assert_eq!((stats.objects, stats.bytes, stats.uploads), (objects, bytes, live.len() as u64), "counters");
}

#[test]
fn sigkill_keeps_acknowledged_writes_and_nothing_half_visible() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = {
        let store = MetaStore::open(dir.path(), MetaConfig { node: NODE, ..Default::default() }).unwrap();
        let ts = Timestamp::new(1, NODE);
        let row = BucketRow {
            name: BUCKET.into(),
            id: ObjectId::random(),
            owner: "crash".into(),
            created: ts,
            region: "us-east-1".into(),
            grants: Vec::new(),
            ts,
            deleted: false,
            versioning: Default::default(),
            tags: Vec::new(),
            object_lock: None,
            attrs: Vec::new(),
        };
        store.create_bucket(row.clone()).unwrap();
        row.id
    };
    let seed: u64 = rand::random();
    println!("kill delays seeded with {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let (mut total_acked, mut total_in_flight) = (0, 0);
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DIR_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            let mut told = false;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                if !told && out.windows(6).any(|w| w == b"READY\n") {
                    told = true;
                    let _ = ready_tx.send(());
                }
            }
            String::from_utf8(out).unwrap()
        });
        ready_rx.recv_timeout(Duration::from_secs(60)).expect("the child opened the store");
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().unwrap();
        child.wait().unwrap();
        let out = reader.join().unwrap();
        let (acked, in_flight, n) = parse_log(&out);
        println!(
            "round {round}: killed after {:?}; {n} acknowledged, {} in flight",
            started.elapsed(),
            in_flight.len()
        );
        total_acked += n;
        total_in_flight += in_flight.len();

        let store = MetaStore::open(dir.path(), MetaConfig { node: NODE, ..Default::default() }).unwrap();
        verify(&store, bucket, &mut model, &acked, &in_flight);
    }
    // The test means something only if the child got work done and was
    // killed mid-call.
    assert!(total_acked >= 50, "only {total_acked} operations were acknowledged");
    assert!(total_in_flight > 0, "no operation was in flight at any kill");
}

#[test]
fn the_log_parser_keeps_whole_lines_only() {
    let out = "running 1 test\nREADY\nI 0 PUT r0/t0/k1 5 10\nA 0\nI 1 DEL r0/t1/k2 6\nI 0 PUT r0/t0/k2 7 1\nA 0\nA 1";
    let (acked, in_flight, n) = parse_log(out);
    assert_eq!(n, 2);
    assert_eq!(acked[1], Op::Put { key: "r0/t0/k2".into(), micros: 7, size: 1 });
    // "A 1" has no newline yet: the delete is still in flight.
    assert_eq!(in_flight, vec![Op::Del { key: "r0/t1/k2".into(), micros: 6 }]);
    let complete = Op::Complete {
        key: "k".into(),
        upload: ObjectId([1; 16]),
        micros: 3,
        parts: vec![(1, ObjectId([2; 16]))],
    };
    let line = complete.line();
    assert_eq!(Op::parse(&line.split(' ').collect::<Vec<_>>()), Some(complete));
    let empty = Op::Complete { key: "k".into(), upload: ObjectId([1; 16]), micros: 3, parts: vec![] };
    assert_eq!(Op::parse(&empty.line().split(' ').collect::<Vec<_>>()), Some(empty));
}
