//! `arca bench`: the S3 load generator (the engine is the `arca-bench` crate).
//! This module owns the command line: it turns flags into a `BenchConfig`,
//! runs it on a tokio runtime, and prints the report.

use std::io::Write;
use std::process::ExitCode;

use arca_bench::{BenchConfig, Mix, Mode, SizeSpec, Stop};
use arca_client::Credentials;

use super::CmdResult;

const AFTER_HELP: &str = "\
Examples:
  arca bench put --endpoint http://127.0.0.1:9000 --access-key K --secret-key S --size 4KiB --concurrency 16
  arca bench get --endpoint http://127.0.0.1:9000 --size 1MiB --count 2000 --verify --json
  arca bench list --endpoint http://127.0.0.1:9000 --objects 100000 --concurrency 1 --duration 30
  arca bench mixed --endpoint http://127.0.0.1:9000 --mix get=60,put=20,delete=10,stat=10
  arca bench multipart --endpoint http://127.0.0.1:9000 --size 256MiB --part-size 16MiB --count 8

Modes: put writes new objects; get, stat and list first write --objects objects
(not timed) and then read, HEAD or list them; delete writes objects then deletes
each once; multipart runs whole multipart uploads; mixed runs GET/PUT/DELETE/HEAD
in the ratio --mix.

Sizes take units: B, KiB, MiB, GiB (1024-based), KB, MB, GB (1000-based), or a
range 1KiB..1MiB (sizes spread log-uniformly over the range).

Without --bucket a fresh bucket is created and deleted at the end. Objects are
written under <prefix><run id>/ and deleted at the end unless --keep.

Output: progress on stderr; the report on stdout, a table or (--json) one JSON
object with mode, ops, errors, seconds, ops_per_sec, mb_per_sec (10^6 bytes/s),
latency_ms {p50, p90, p99, max, mean}, errors_by_code, per-operation details, and
cpu {bench_seconds, server_seconds, machine_busy_seconds, machine_seconds, cores}:
the CPU time of the timed phase used by arca bench, by the process given with
--server-pid, and by the whole machine (Linux /proc; null elsewhere).
Exit status 0 when every operation succeeded, 1 when any failed.

Ctrl-C ends the run early (operations in flight finish, then the report and
cleanup); a second Ctrl-C quits at once without cleanup.";

/// Load-test any S3 endpoint: throughput and latency per operation.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    // Boxed: the options are many, and `Command` holds every subcommand's
    // arguments inline.
    #[command(flatten)]
    options: Box<BenchOptions>,
}

#[derive(clap::Args)]
struct BenchOptions {
    /// Workload: put, get, list, delete, stat, multipart or mixed.
    #[arg(value_name = "MODE", value_parser = parse_mode)]
    mode: Mode,

    /// S3 endpoint, http://host:port (path-style requests, plain HTTP).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    endpoint: String,

    /// Access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", value_name = "K")]
    access_key: String,

    /// Secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true, value_name = "S")]
    secret_key: String,

    /// Signing region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", value_name = "R")]
    region: String,

    /// Existing bucket to use; by default a fresh bucket is created and removed.
    #[arg(long, value_name = "B")]
    bucket: Option<String>,

    /// Object size, e.g. 4KiB, 1MiB, or a range 1KiB..1MiB [default: 4KiB; multipart: 16MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size_spec)]
    size: Option<SizeSpec>,

    /// Operations in flight.
    #[arg(long, default_value_t = 16, value_name = "N")]
    concurrency: usize,

    /// Run for this many seconds (30, 2.5, 2m) [default: 10].
    #[arg(long, value_name = "SECS", value_parser = arca_bench::parse_duration, conflicts_with = "count")]
    duration: Option<std::time::Duration>,

    /// Run this many operations in all.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,

    /// Key prefix; the run's objects go under <prefix><run id>/.
    #[arg(long, default_value = "arca-bench/", value_name = "P")]
    prefix: String,

    /// Seed for object contents and random choices (random by default).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// Compare every GET body with what was written.
    #[arg(long)]
    verify: bool,

    /// Keep the objects (and a created bucket) instead of deleting them.
    #[arg(long)]
    keep: bool,

    /// Weights of mixed mode.
    #[arg(long, default_value = "get=45,put=15,delete=10,stat=30", value_parser = parse_mix, value_name = "MIX")]
    mix: Mix,

    /// Part size of multipart uploads.
    #[arg(long, default_value = "5MiB", value_parser = arca_bench::parse_size, value_name = "SIZE")]
    part_size: u64,

    /// Objects written before get, stat, list, delete and mixed
    /// [default: up to 1000 (1 GiB's worth) to read; 1000 to list; the count or 10000 to delete].
    #[arg(long, value_name = "N")]
    objects: Option<u64>,

    /// Operations in flight while preparing and cleaning up [default: max(concurrency, 32)].
    #[arg(long, value_name = "N")]
    prepare_concurrency: Option<usize>,

    /// Sign the SHA-256 of each body instead of sending UNSIGNED-PAYLOAD (costs client CPU).
    #[arg(long)]
    sign_payload: bool,

    /// max-keys of each list request (1-1000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    list_max_keys: u32,

    /// List mode: walk the objects already under --prefix in --bucket
    /// (written by anything, e.g. `arca bucket load`) instead of writing
    /// objects of its own; nothing is written or deleted.
    #[arg(long)]
    list_existing: bool,

    /// No progress line (the report is still printed).
    #[arg(long, short)]
    quiet: bool,

    /// Also report the CPU time this process (the server, on this machine) used during the timed phase (Linux).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse()
}

fn parse_size_spec(text: &str) -> Result<SizeSpec, String> {
    text.parse()
}

fn parse_mix(text: &str) -> Result<Mix, String> {
    text.parse()
}

impl BenchOptions {
    fn into_config(self) -> BenchConfig {
        let mut config =
            BenchConfig::new(self.mode, self.endpoint, Credentials::new(self.access_key, self.secret_key));
        config.region = self.region;
        config.bucket = self.bucket;
        config.size = self.size;
        config.concurrency = self.concurrency;
        config.stop = match (self.count, self.duration) {
            (Some(count), _) => Stop::Count(count),
            (None, Some(duration)) => Stop::Duration(duration),
            (None, None) => config.stop,
        };
        config.prefix = self.prefix;
        config.seed = self.seed;
        config.verify = self.verify;
        config.keep = self.keep;
        config.mix = self.mix;
        config.part_size = self.part_size;
        config.objects = self.objects;
        config.prepare_concurrency = self.prepare_concurrency;
        config.sign_payload = self.sign_payload;
        config.list_max_keys = self.list_max_keys;
        config.list_existing = self.list_existing;
        config.progress = !self.quiet;
        config.server_pid = self.server_pid;
        config
    }
}

pub fn run(args: BenchArgs) -> CmdResult {
    let options = *args.options;
    let json = options.json;
    let quiet = options.quiet;
    let config = options.into_config();
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let interrupted = arca_bench::watch_ctrl_c();
        arca_bench::run(config, interrupted).await
    })?;
    // The runtime may still hold the interrupt watcher; it is not waited for.
    runtime.shutdown_background();

    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", report.to_json())?;
        if !quiet {
            eprint!("{}", report.to_text());
        }
    } else {
        write!(stdout, "{}", report.to_text())?;
    }
    stdout.flush()?;
    Ok(if report.errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
