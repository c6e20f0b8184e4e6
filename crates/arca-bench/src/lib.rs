//! The S3 load generator behind `arca bench`. It measures any S3 endpoint
//! (Arca, MinIO, AWS, ...) through `arca-client`, so figures can be compared
//! side by side.
//!
//! ```text
//! arca bench MODE --endpoint URL --access-key K --secret-key S [--region R]
//!     [--bucket B] [--size SIZE] [--concurrency N] [--duration SECS | --count N] [--json]
//! ```
//!
//! - MODE: `put`, `get`, `list`, `delete`, `stat`, `multipart`, or `mixed`
//!   (GET/PUT/DELETE/HEAD in the ratio `--mix`, default
//!   `get=45,put=15,delete=10,stat=30`).
//! - SIZE: `4KiB`, `1MiB`, `1GiB`, `1000B`, `4KB` (10^3), or a range
//!   `1KiB..1MiB` (sizes log-uniform over the range). Default 4KiB
//!   (multipart: 16MiB, in `--part-size` parts, default 5MiB).
//! - Stop after `--duration` seconds (default 10) or `--count` operations.
//! - get, stat, list, delete and mixed first write `--objects` objects (not
//!   timed; defaults: up to 1000 or 1 GiB's worth for reads, 1000 for list,
//!   the count or 10000 for delete).
//! - Without `--bucket` a fresh bucket is created and deleted at the end.
//!   Objects live under `<--prefix><run id>/` (prefix default `arca-bench/`)
//!   and are deleted at the end unless `--keep`.
//! - Contents come from a seeded generator (`--seed`), streamed, never held
//!   whole; `--verify` compares every GET body with what was written.
//! - Requests are signed with SigV4, path-style, over plain HTTP; bodies are
//!   sent as UNSIGNED-PAYLOAD unless `--sign-payload`.
//!
//! Progress goes to stderr; the result to stdout, as a table or, with
//! `--json`, as one JSON object: `mode`, `ops`, `errors`, `seconds`,
//! `ops_per_sec`, `mb_per_sec` (10^6 bytes), `latency_ms` {`p50`, `p90`,
//! `p99`, `max`, `mean`}, `cpu` (CPU seconds of the timed phase: this
//! process, the `--server-pid` process, the machine), and details
//! (`errors_by_code`, `operations` per kind, `bytes`, `objects`,
//! `prepare_seconds`, ...).
//!
//! Modules: [`config`] (options), [`size`], [`data`] (object contents),
//! [`ops`] (one operation each), `mixed` (the live object set of mixed runs),
//! [`stats`] (histograms and tallies), [`cpu`] (CPU time of the timed
//! phase), `engine` (phases and workers), `progress` (the live line),
//! [`report`] (JSON and table).

pub mod config;
pub mod cpu;
pub mod data;
mod engine;
mod interrupt;
mod mixed;
pub mod ops;
mod progress;
pub mod report;
pub mod size;
pub mod stats;

pub use config::{BenchConfig, Mix, Mode, Stop, parse_duration};
pub use engine::{BenchError, run};
pub use interrupt::watch_ctrl_c;
pub use report::BenchReport;
pub use size::{SizeSpec, parse_size};
