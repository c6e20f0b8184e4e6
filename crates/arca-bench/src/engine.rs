//! A run from start to end: set up the bucket, prepare objects (not timed),
//! run the timed phase with `concurrency` workers, clean up, report.
//!
//! Workers are tokio tasks, each looping over operations until the stop
//! condition (a deadline, an operation count, the objects to delete running
//! out, or an interrupt). An operation in flight when the deadline passes
//! completes and counts; `seconds` is the time until the last one ended, so
//! rates are never inflated. Cleanup deletes everything under the run's
//! prefix, whatever happened before, unless asked to keep it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arca_client::{Client, ClientConfig, DELETE_BATCH, ListOptions, PayloadSigning};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use tokio::task::JoinSet;

use crate::config::{BenchConfig, Mode, Stop};
use crate::cpu::{CpuSnapshot, CpuUsage};
use crate::data::{DataPool, mix64};
use crate::mixed::LiveSet;
use crate::ops::{self, Ctx, OpError};
use crate::progress::Progress;
use crate::report::{BenchReport, RunFacts};
use crate::stats::{LiveCounters, OpKind, Recorder};

/// Why a run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Config(String),
    #[error("{what}: {source}")]
    Client {
        what: String,
        #[source]
        source: arca_client::Error,
    },
    #[error("preparing objects failed: {0}")]
    Prepare(String),
    #[error("interrupted while preparing objects")]
    Interrupted,
}

/// Attempts per object while preparing and cleaning up (not timed, so a
/// transient failure is retried instead of ending the run).
const SETUP_ATTEMPTS: u32 = 3;

/// Runs the benchmark `config` describes. `interrupted` ends the timed phase
/// early when set (see [`watch_ctrl_c`](crate::watch_ctrl_c)); the objects
/// are still cleaned up and a report is still made.
pub async fn run(config: BenchConfig, interrupted: Arc<AtomicBool>) -> Result<BenchReport, BenchError> {
    config.validate().map_err(BenchError::Config)?;
    let run_id = format!("{:08x}", rand::rng().next_u32());
    let seed = config.seed.unwrap_or_else(|| rand::rng().next_u64());
    let setup_concurrency = config.prepare_concurrency();
    let client = Client::new(ClientConfig {
        endpoint: config.endpoint.clone(),
        credentials: config.credentials.clone(),
        region: config.region.clone(),
        service: "s3".into(),
        payload_signing: if config.sign_payload { PayloadSigning::Signed } else { PayloadSigning::Unsigned },
        max_idle_connections: config.concurrency.max(setup_concurrency),
    })
    .map_err(|source| BenchError::Client { what: "cannot use the endpoint".into(), source })?;

    let (bucket, created) = match &config.bucket {
        Some(bucket) => (bucket.clone(), false),
        None => {
            let bucket = format!("arca-bench-{run_id}");
            client.create_bucket(&bucket).await.map_err(|source| BenchError::Client {
                what: format!("cannot create bucket {bucket}"),
                source,
            })?;
            (bucket, true)
        }
    };
    let ctx = Arc::new(Ctx {
        client,
        bucket,
        prefix: match config.list_existing {
            true => config.prefix.clone(),
            false => format!("{}{run_id}/", config.prefix),
        },
        pool: DataPool::new(seed),
        size: config.size(),
        seed,
        verify: config.verify,
        sign_payload: config.sign_payload,
        part_size: config.part_size,
        list_max_keys: config.list_max_keys,
    });

    let outcome = prepare_and_measure(&config, &ctx, seed, &interrupted).await;

    if config.list_existing {
        // Nothing of its own was written.
    } else if config.keep {
        eprintln!("arca bench: kept the objects under s3://{}/{}", ctx.bucket, ctx.prefix);
    } else {
        if let Err(message) = cleanup(&ctx, setup_concurrency, config.progress).await {
            eprintln!("arca bench: warning: cleanup incomplete: {message}");
        }
        if created && let Err(err) = ctx.client.delete_bucket(&ctx.bucket).await {
            eprintln!("arca bench: warning: cannot delete bucket {}: {err}", ctx.bucket);
        }
    }
    outcome
}

async fn prepare_and_measure(
    config: &BenchConfig,
    ctx: &Arc<Ctx>,
    seed: u64,
    interrupted: &Arc<AtomicBool>,
) -> Result<BenchReport, BenchError> {
    let objects = config.objects_to_prepare();
    let prepare_started = Instant::now();
    if objects > 0 {
        prepare(ctx, objects, config.prepare_concurrency(), config.progress, interrupted).await?;
    }
    let prepare_time = prepare_started.elapsed();

    let plan = Arc::new(Plan {
        mode: config.mode,
        stop: config.stop,
        deadline: match config.stop {
            Stop::Duration(d) => Some(Instant::now() + d),
            Stop::Count(_) => None,
        },
        started: AtomicU64::new(0),
        next_id: AtomicU64::new(objects),
        delete_cursor: AtomicU64::new(0),
        prepared: objects,
        interrupted: interrupted.clone(),
        mix: config.mix,
        live_set: Mutex::new(if config.mode == Mode::Mixed {
            LiveSet::new(0..objects)
        } else {
            LiveSet::default()
        }),
    });
    let live = Arc::new(LiveCounters::default());
    let total = match config.stop {
        Stop::Count(n) => Some(n),
        Stop::Duration(_) if config.mode == Mode::Delete => Some(objects),
        Stop::Duration(_) => None,
    };
    let progress = Progress::start(config.progress, config.mode.name(), live.clone(), total);
    let cpu_before = CpuSnapshot::take(config.server_pid);
    let began = Instant::now();
    let mut workers = JoinSet::new();
    for index in 0..config.concurrency {
        let (ctx, plan, live) = (ctx.clone(), plan.clone(), live.clone());
        let rng = Xoshiro256PlusPlus::seed_from_u64(mix64(seed ^ 0x3077_6b65_7273, index as u64));
        workers.spawn(async move { worker(&ctx, &plan, &live, rng).await });
    }
    let mut recorder = Recorder::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(worker) => recorder.merge(&worker),
            // A worker panicking is a bug; count it rather than losing the run.
            Err(err) => recorder.error(&live, primary_kind(config.mode), "WorkerFailed", &err.to_string()),
        }
    }
    let elapsed = began.elapsed();
    let cpu = CpuUsage::between(&cpu_before, &CpuSnapshot::take(config.server_pid));
    progress.finish().await;

    Ok(BenchReport::new(
        RunFacts {
            mode: config.mode.name().into(),
            endpoint: ctx.client.endpoint().into(),
            bucket: ctx.bucket.clone(),
            prefix: ctx.prefix.clone(),
            size: ctx.size.to_string(),
            concurrency: config.concurrency,
            seed,
            objects,
            prepare_time,
            elapsed,
            interrupted: interrupted.load(Ordering::Relaxed),
            list_mode: config.mode == Mode::List,
            cpu,
        },
        &recorder,
    ))
}

/// The operation a mode's totals are about (mixed counts all four).
fn primary_kind(mode: Mode) -> OpKind {
    match mode {
        Mode::Put | Mode::Mixed => OpKind::Put,
        Mode::Get => OpKind::Get,
        Mode::List => OpKind::List,
        Mode::Delete => OpKind::Delete,
        Mode::Stat => OpKind::Stat,
        Mode::Multipart => OpKind::Multipart,
    }
}

/// What the workers of the timed phase share.
struct Plan {
    mode: Mode,
    stop: Stop,
    deadline: Option<Instant>,
    started: AtomicU64,
    /// The number of the next object to create.
    next_id: AtomicU64,
    /// The next prepared object to delete (delete mode).
    delete_cursor: AtomicU64,
    prepared: u64,
    interrupted: Arc<AtomicBool>,
    mix: crate::config::Mix,
    live_set: Mutex<LiveSet>,
}

impl Plan {
    /// Whether a worker may start one more operation.
    fn admit(&self) -> bool {
        if self.interrupted.load(Ordering::Relaxed) {
            return false;
        }
        match self.stop {
            Stop::Duration(_) => self.deadline.is_none_or(|deadline| Instant::now() < deadline),
            Stop::Count(n) => self.started.fetch_add(1, Ordering::Relaxed) < n,
        }
    }

    fn live_set(&self) -> std::sync::MutexGuard<'_, LiveSet> {
        // The set stays consistent under every operation, so a panic in
        // another worker does not make it unusable.
        self.live_set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn worker(ctx: &Ctx, plan: &Plan, live: &LiveCounters, mut rng: Xoshiro256PlusPlus) -> Recorder {
    let mut rec = Recorder::default();
    let mut walk = ListWalk::default();
    while plan.admit() {
        match plan.mode {
            Mode::Put => {
                let id = plan.next_id.fetch_add(1, Ordering::Relaxed);
                timed(&mut rec, live, OpKind::Put, ops::put(ctx, id)).await;
            }
            Mode::Get => {
                let id = rng.random_range(0..plan.prepared);
                timed(&mut rec, live, OpKind::Get, ops::get(ctx, id)).await;
            }
            Mode::Stat => {
                let id = rng.random_range(0..plan.prepared);
                timed(&mut rec, live, OpKind::Stat, ops::stat(ctx, id)).await;
            }
            Mode::Delete => {
                let id = plan.delete_cursor.fetch_add(1, Ordering::Relaxed);
                if id >= plan.prepared {
                    break;
                }
                timed(&mut rec, live, OpKind::Delete, ops::delete(ctx, id)).await;
            }
            Mode::List => walk.step(ctx, (plan.prepared > 0).then_some(plan.prepared), &mut rec, live).await,
            Mode::Multipart => {
                let id = plan.next_id.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                match ops::multipart(ctx, id).await {
                    Ok((bytes, parts)) => {
                        rec.ok(live, OpKind::Multipart, began.elapsed(), bytes, 0);
                        for (latency, bytes) in parts {
                            rec.ok(live, OpKind::UploadPart, latency, bytes, 0);
                        }
                    }
                    Err(err) => rec.error(live, OpKind::Multipart, &err.code, &err.message),
                }
            }
            Mode::Mixed => mixed_step(ctx, plan, &mut rec, live, &mut rng).await,
        }
    }
    rec
}

/// Runs one operation and records its latency, bytes or error.
async fn timed(
    rec: &mut Recorder,
    live: &LiveCounters,
    kind: OpKind,
    operation: impl Future<Output = Result<u64, OpError>>,
) -> bool {
    let began = Instant::now();
    match operation.await {
        Ok(bytes) => {
            rec.ok(live, kind, began.elapsed(), bytes, 0);
            true
        }
        Err(err) => {
            rec.error(live, kind, &err.code, &err.message);
            false
        }
    }
}

async fn mixed_step(
    ctx: &Ctx,
    plan: &Plan,
    rec: &mut Recorder,
    live: &LiveCounters,
    rng: &mut Xoshiro256PlusPlus,
) {
    let mix = plan.mix;
    let pick = rng.random_range(0..mix.total());
    let wanted = if pick < mix.get {
        OpKind::Get
    } else if pick < mix.get + mix.put {
        OpKind::Put
    } else if pick < mix.get + mix.put + mix.delete {
        OpKind::Delete
    } else {
        OpKind::Stat
    };
    match wanted {
        OpKind::Get | OpKind::Stat => {
            let picked = plan.live_set().check_out(rng);
            if let Some(id) = picked {
                if wanted == OpKind::Get {
                    timed(rec, live, OpKind::Get, ops::get(ctx, id)).await;
                } else {
                    timed(rec, live, OpKind::Stat, ops::stat(ctx, id)).await;
                }
                plan.live_set().check_in(id);
                return;
            }
        }
        OpKind::Delete => {
            let taken = plan.live_set().take_for_delete(rng);
            if let Some(id) = taken {
                timed(rec, live, OpKind::Delete, ops::delete(ctx, id)).await;
                return;
            }
        }
        _ => {}
    }
    // A PUT, or what a read or delete becomes when no object is free for it.
    let id = plan.next_id.fetch_add(1, Ordering::Relaxed);
    if timed(rec, live, OpKind::Put, ops::put(ctx, id)).await {
        plan.live_set().insert(id);
    }
}

/// One worker's walk through the listing, a page per operation; each full
/// walk is checked against the number of objects prepared.
#[derive(Default)]
struct ListWalk {
    token: Option<String>,
    seen: u64,
}

impl ListWalk {
    /// `prepared`: the number of keys a full walk must find, if known.
    async fn step(&mut self, ctx: &Ctx, prepared: Option<u64>, rec: &mut Recorder, live: &LiveCounters) {
        let began = Instant::now();
        match ops::list_page(ctx, self.token.take()).await {
            Ok(page) => {
                let keys = page.entries.len() as u64;
                rec.ok(live, OpKind::List, began.elapsed(), 0, keys);
                self.seen += keys;
                if page.is_truncated {
                    self.token = page.next_continuation_token;
                } else {
                    if let Some(prepared) = prepared
                        && self.seen != prepared
                    {
                        let message =
                            format!("a full listing found {} keys, {prepared} were written", self.seen);
                        rec.error(live, OpKind::List, "ListMismatch", &message);
                    }
                    self.seen = 0;
                }
            }
            Err(err) => {
                rec.error(live, OpKind::List, &err.code, &err.message);
                self.seen = 0;
            }
        }
    }
}

/// Writes objects `0..count` with `concurrency` writers, retrying each a few
/// times; the first object that cannot be written ends the preparation.
async fn prepare(
    ctx: &Arc<Ctx>,
    count: u64,
    concurrency: usize,
    show_progress: bool,
    interrupted: &Arc<AtomicBool>,
) -> Result<(), BenchError> {
    let live = Arc::new(LiveCounters::default());
    let cursor = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let progress = Progress::start(show_progress, "prepare", live.clone(), Some(count));
    let mut writers = JoinSet::new();
    for _ in 0..(concurrency as u64).min(count) {
        let (ctx, live, cursor, failed, interrupted) =
            (ctx.clone(), live.clone(), cursor.clone(), failed.clone(), interrupted.clone());
        writers.spawn(async move {
            loop {
                if failed.load(Ordering::Relaxed) || interrupted.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let id = cursor.fetch_add(1, Ordering::Relaxed);
                if id >= count {
                    return Ok(());
                }
                let mut attempt = 1;
                let bytes = loop {
                    match ops::put(&ctx, id).await {
                        Ok(bytes) => break bytes,
                        Err(err) if attempt >= SETUP_ATTEMPTS => {
                            failed.store(true, Ordering::Relaxed);
                            return Err(format!("PUT {}: {}", ctx.key(id), err.message));
                        }
                        Err(_) => {
                            live.errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                            attempt += 1;
                        }
                    }
                };
                live.ops.fetch_add(1, Ordering::Relaxed);
                live.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = writers.join_next().await {
        let outcome = joined.unwrap_or_else(|err| Err(format!("a writer failed: {err}")));
        if let Err(message) = outcome {
            first_error.get_or_insert(message);
        }
    }
    progress.finish().await;
    match first_error {
        Some(message) => Err(BenchError::Prepare(message)),
        None if interrupted.load(Ordering::Relaxed) => Err(BenchError::Interrupted),
        None => Ok(()),
    }
}

/// Deletes every object under the run's prefix: list a page, hand it to a
/// DeleteObjects task, list the next. A server without DeleteObjects gets
/// single DELETEs instead.
async fn cleanup(ctx: &Arc<Ctx>, concurrency: usize, show_progress: bool) -> Result<(), String> {
    let live = Arc::new(LiveCounters::default());
    let progress = Progress::start(show_progress, "cleanup", live.clone(), None);
    let mut deleters: JoinSet<Result<(), String>> = JoinSet::new();
    let mut token = None;
    let mut failures = Vec::new();
    loop {
        let options = ListOptions {
            prefix: Some(ctx.prefix.clone()),
            continuation_token: token.take(),
            max_keys: Some(DELETE_BATCH as u32),
            ..ListOptions::default()
        };
        let page = match with_retries(|| ctx.client.list_objects_v2(&ctx.bucket, &options)).await {
            Ok(page) => page,
            Err(err) => {
                failures.push(format!("listing {}: {err}", ctx.prefix));
                break;
            }
        };
        let keys: Vec<String> = page.entries.into_iter().map(|e| e.key).collect();
        if !keys.is_empty() {
            while deleters.len() >= concurrency.max(1) {
                if let Some(joined) = deleters.join_next().await {
                    note_failure(joined, &mut failures);
                }
            }
            let (ctx, live) = (ctx.clone(), live.clone());
            deleters.spawn(async move { delete_batch(&ctx, keys, &live).await });
        }
        match page.next_continuation_token {
            Some(next) if page.is_truncated => token = Some(next),
            _ => break,
        }
    }
    while let Some(joined) = deleters.join_next().await {
        note_failure(joined, &mut failures);
    }
    progress.finish().await;
    if failures.is_empty() {
        Ok(())
    } else {
        let more =
            if failures.len() > 1 { format!(" (and {} more)", failures.len() - 1) } else { String::new() };
        Err(format!("{}{more}", failures[0]))
    }
}

fn note_failure(joined: Result<Result<(), String>, tokio::task::JoinError>, failures: &mut Vec<String>) {
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(message)) => failures.push(message),
        Err(err) => failures.push(err.to_string()),
    }
}

async fn delete_batch(ctx: &Ctx, keys: Vec<String>, live: &LiveCounters) -> Result<(), String> {
    match with_retries(|| ctx.client.delete_objects(&ctx.bucket, &keys)).await {
        Ok(failures) if failures.is_empty() => {
            live.ops.fetch_add(keys.len() as u64, Ordering::Relaxed);
            Ok(())
        }
        Ok(failures) => Err(format!(
            "{} keys not deleted, e.g. {}: {} {}",
            failures.len(),
            failures[0].key,
            failures[0].code,
            failures[0].message
        )),
        // No DeleteObjects on this server (or it refuses it): one by one.
        Err(_) => {
            for key in &keys {
                with_retries(|| ctx.client.delete_object(&ctx.bucket, key))
                    .await
                    .map_err(|err| format!("DELETE {key}: {err}"))?;
                live.ops.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    }
}

async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, arca_client::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, arca_client::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if attempt >= SETUP_ATTEMPTS || !is_transient(&err) => return Err(err),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
        }
    }
}

// Worth another try: the connection failed, or the server said so (5xx, SlowDown).
fn is_transient(err: &arca_client::Error) -> bool {
    match err {
        arca_client::Error::Connect { .. } | arca_client::Error::Transport(_) => true,
        arca_client::Error::S3 { status, code, .. } => {
            (status.is_server_error() && status.as_u16() != 501) || code == "SlowDown"
        }
        _ => false,
    }
}
