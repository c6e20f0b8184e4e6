//! `arca server`: one Arca node — the S3 gateway over its metadata index and
//! blob stores, placed by the ring in its data directory.
//!
//! Settings come from flags, then ARCA_* environment variables, then a TOML
//! file (`--config`), then defaults. A new data directory is initialised as
//! a cluster of one: a node identity, a ring with one device and one
//! replica, and a root key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arca_blob::BlobStoreConfig;
use arca_cluster::rpc::ClusterSecret;
use arca_cluster::{Cluster, ClusterConfig, Role};
use arca_meta::{MetaConfig, MetaStore};
use arca_object::{MaintenanceConfig, ObjectConfig, ObjectService, start_maintenance};
use arca_ring::{DeviceSpec, Ring, RingBuilder, ring_path_for};
use arca_types::{Clock, NodeId};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::CmdResult;

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// A TOML file with any of the settings below (flags and ARCA_*
    /// variables take precedence).
    #[arg(long, env = "ARCA_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory [default: ./arca-data].
    #[arg(long, env = "ARCA_DATA")]
    data: Option<PathBuf>,
    /// The address to serve S3 on [default: 127.0.0.1:9000].
    #[arg(long, env = "ARCA_LISTEN")]
    listen: Option<SocketAddr>,
    /// The region buckets live in [default: us-east-1].
    #[arg(long, env = "ARCA_REGION")]
    region: Option<String>,
    /// A base domain for virtual-hosted-style requests (bucket.DOMAIN).
    #[arg(long, env = "ARCA_DOMAIN")]
    domain: Option<String>,
    /// The root access key (created or replaced at start).
    #[arg(long, env = "ARCA_ROOT_ACCESS_KEY")]
    root_access_key: Option<String>,
    /// The root secret key.
    #[arg(long, env = "ARCA_ROOT_SECRET_KEY", hide_env_values = true)]
    root_secret_key: Option<String>,
    /// This node's address for node-to-node traffic; the ring names the node
    /// by it. Without it the server is a cluster of one.
    #[arg(long, env = "ARCA_RPC")]
    rpc: Option<SocketAddr>,
    /// The secret every node of the cluster shares; node traffic without it
    /// is refused. Required with --rpc.
    #[arg(long, env = "ARCA_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// What this node does: all (gateway and storage), gateway (serves S3,
    /// holds no data) or storage (holds data, serves only node traffic)
    /// [default: all].
    #[arg(long, env = "ARCA_ROLE")]
    role: Option<RoleArg>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleArg {
    All,
    Gateway,
    Storage,
}

/// The settings a config file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
    region: Option<String>,
    domain: Option<String>,
    root_access_key: Option<String>,
    root_secret_key: Option<String>,
    rpc: Option<SocketAddr>,
    cluster_secret: Option<String>,
    role: Option<RoleArg>,
    /// Seconds between the replicator's passes over this node's partitions.
    replication_interval_secs: Option<u64>,
    /// Raft log entries between a group's snapshots.
    raft_snapshot_entries: Option<u64>,
    /// An index range splits at this many live versions and uploads
    /// (0: never by size).
    range_split_rows: Option<u64>,
    /// ... or at this many object bytes (0: never).
    range_split_bytes: Option<u64>,
    /// ... or at this many writes a second, sustained (0: never).
    range_split_writes_per_sec: Option<u64>,
    /// Objects are cut into blobs of this many bytes.
    stripe_size: Option<usize>,
    /// Bodies up to this size are stored inside their metadata row.
    inline_threshold: Option<usize>,
    /// A blob volume file is sealed and a new one started at this size.
    volume_size: Option<u64>,
    /// Seconds the blobs of an overwritten or deleted object stay readable.
    reclaim_grace_secs: Option<u64>,
    /// A client that sends no part of a request's head or body for this
    /// many seconds is cut off (RequestTimeout for a body).
    request_idle_timeout_secs: Option<u64>,
    /// Seconds between compaction passes over the blob volumes.
    compact_interval_secs: Option<u64>,
    /// A volume is compacted once this share of it is garbage.
    compact_garbage_ratio: Option<f64>,
    /// Seconds between scrubs (checksum audits) of the blob volumes.
    scrub_interval_secs: Option<u64>,
    /// Seconds between sweeps for blobs no row refers to.
    gc_interval_secs: Option<u64>,
    /// Unreferenced blobs younger than this are left alone: it must exceed
    /// the longest single upload (an object or a part).
    gc_min_age_secs: Option<u64>,
    /// Seconds between passes that drop old tombstones and events from the
    /// index.
    index_upkeep_interval_secs: Option<u64>,
    /// Deletes' tombstones are kept this long: longer than any write can be
    /// delayed.
    tombstone_reclaim_age_secs: Option<u64>,
    /// Events are kept in the log this long.
    event_retention_secs: Option<u64>,
    /// Accept Signature Version 2 beside SigV4 (default true).
    signature_v2: Option<bool>,
    /// `[devices]`: device name = directory, for devices that do not live
    /// in `DATA/devices/NAME` (a disk mounted elsewhere).
    devices: Option<BTreeMap<String, PathBuf>>,
    /// The SSE-S3 master key: a file of 32 bytes (raw, or 64 hex digits),
    /// the same on every node. Without it the cluster makes one and keeps
    /// it in its catalog.
    master_key_file: Option<PathBuf>,
}

/// Reads the SSE-S3 master key from `path`: 32 raw bytes or 64 hex digits.
fn master_key(path: &std::path::Path) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("master key {}: {e}", path.display()))?;
    if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    hex::decode_to_slice(String::from_utf8_lossy(&bytes).trim(), &mut key)
        .map_err(|_| format!("master key {}: expected 32 bytes or 64 hex digits", path.display()))?;
    Ok(key)
}

struct Settings {
    data: PathBuf,
    listen: SocketAddr,
    rpc: Option<SocketAddr>,
    secret: Option<String>,
    role: Role,
    replication_interval: Duration,
    snapshot_entries: u64,
    split: arca_cluster::SplitPolicy,
    device_paths: BTreeMap<String, PathBuf>,
    domain: Option<String>,
    signature_v2: bool,
    root: Option<(String, String)>,
    object: ObjectConfig,
    maintenance: MaintenanceConfig,
    blob: BlobStoreConfig,
    master_key_file: Option<PathBuf>,
}

impl Settings {
    fn resolve(args: ServerArgs) -> Result<Settings, Box<dyn std::error::Error>> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let defaults = ObjectConfig::default();
        let root = match (
            args.root_access_key.or(file.root_access_key),
            args.root_secret_key.or(file.root_secret_key),
        ) {
            (Some(ak), Some(sk)) => Some((ak, sk)),
            (None, None) => None,
            _ => return Err("set both the root access key and the root secret key, or neither".into()),
        };
        let stripe_size = file.stripe_size.unwrap_or(defaults.stripe_size);
        if !(64 << 10..=64 << 20).contains(&stripe_size) {
            return Err("stripe_size must be between 64 KiB and 64 MiB".into());
        }
        let blob_defaults = BlobStoreConfig::default();
        let volume_size = file.volume_size.unwrap_or(blob_defaults.volume_size_limit);
        if volume_size < 4 * stripe_size as u64 {
            return Err("volume_size must hold at least four stripes".into());
        }
        let ratio = file.compact_garbage_ratio.unwrap_or(MaintenanceConfig::default().compact_garbage_ratio);
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err("compact_garbage_ratio must be above 0 and at most 1".into());
        }
        let secs = |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
        let maintenance_defaults = MaintenanceConfig::default();
        let rpc = args.rpc.or(file.rpc);
        let secret = args.cluster_secret.or(file.cluster_secret);
        if rpc.is_some() && secret.as_deref().is_none_or(str::is_empty) {
            return Err("--rpc needs a cluster secret (--cluster-secret or ARCA_CLUSTER_SECRET)".into());
        }
        let role = match args.role.or(file.role).unwrap_or(RoleArg::All) {
            RoleArg::All => Role::All,
            RoleArg::Gateway => Role::Gateway,
            RoleArg::Storage => Role::Storage,
        };
        if role != Role::All && rpc.is_none() {
            return Err("a gateway-only or storage-only node is part of a cluster: it needs --rpc".into());
        }
        let split_defaults = arca_cluster::SplitPolicy::default();
        let split = arca_cluster::SplitPolicy {
            rows: file.range_split_rows.unwrap_or(split_defaults.rows),
            bytes: file.range_split_bytes.unwrap_or(split_defaults.bytes),
            writes_per_sec: file.range_split_writes_per_sec.unwrap_or(split_defaults.writes_per_sec),
        };
        Ok(Settings {
            split,
            master_key_file: file.master_key_file,
            device_paths: file.devices.unwrap_or_default(),
            signature_v2: file.signature_v2.unwrap_or(true),
            snapshot_entries: file
                .raft_snapshot_entries
                .unwrap_or(arca_cluster::raft::DEFAULT_SNAPSHOT_ENTRIES)
                .max(10),
            rpc,
            secret,
            role,
            replication_interval: secs(
                file.replication_interval_secs,
                arca_cluster::replicator::DEFAULT_INTERVAL,
            )
            .max(Duration::from_secs(1)),
            data: args.data.or(file.data).unwrap_or_else(|| PathBuf::from("arca-data")),
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9000))),
            domain: args.domain.or(file.domain),
            root,
            object: ObjectConfig {
                stripe_size,
                inline_threshold: file.inline_threshold.unwrap_or(defaults.inline_threshold).min(stripe_size),
                region: args.region.or(file.region).unwrap_or(defaults.region),
                reclaim_grace: secs(file.reclaim_grace_secs, defaults.reclaim_grace),
                body_idle_timeout: secs(file.request_idle_timeout_secs, defaults.body_idle_timeout)
                    .max(Duration::from_secs(1)),
                master_key: None,
            },
            maintenance: MaintenanceConfig {
                compact_interval: secs(file.compact_interval_secs, maintenance_defaults.compact_interval)
                    .max(Duration::from_secs(1)),
                compact_garbage_ratio: ratio,
                scrub_interval: secs(file.scrub_interval_secs, maintenance_defaults.scrub_interval)
                    .max(Duration::from_secs(1)),
                gc_interval: secs(file.gc_interval_secs, maintenance_defaults.gc_interval)
                    .max(Duration::from_secs(1)),
                gc_min_age: secs(file.gc_min_age_secs, maintenance_defaults.gc_min_age),
                index_upkeep_interval: secs(
                    file.index_upkeep_interval_secs,
                    maintenance_defaults.index_upkeep_interval,
                )
                .max(Duration::from_secs(1)),
                tombstone_reclaim_age: secs(
                    file.tombstone_reclaim_age_secs,
                    maintenance_defaults.tombstone_reclaim_age,
                ),
                event_retention: secs(file.event_retention_secs, maintenance_defaults.event_retention),
            },
            blob: BlobStoreConfig { volume_size_limit: volume_size, ..blob_defaults },
        })
    }
}

/// Who this node is; written once when the data directory is created.
#[derive(Debug, Serialize, Deserialize)]
struct NodeIdentity {
    /// Breaks timestamp ties between nodes.
    node_id: NodeId,
    /// This node's address as the ring names it: devices whose `node` is
    /// this string are the local ones.
    ring_node: String,
}

/// The most bytes of a request line and headers a connection buffers.
const MAX_REQUEST_HEAD: usize = 64 << 10;

const NODE_FILE: &str = "node.toml";
const RING_FILE: &str = "ring.builder";
/// A one-node ring: 2^8 partitions keep per-partition work cheap while
/// leaving room to grow into a few dozen devices.
const DEFAULT_PART_POWER: u8 = 8;

pub fn run(args: ServerArgs) -> CmdResult {
    let settings = Settings::resolve(args)?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging() {
    use std::io::IsTerminal;
    // The LSM engine logs every flush and compaction at info; that is noise
    // for an operator.
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARCA_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn,openraft=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Reads the node identity, creating it (and the one-device ring) for a new
/// data directory.
fn open_identity(data: &Path, name: &str) -> Result<NodeIdentity, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let path = data.join(NODE_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        return Ok(toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&arca_types::ObjectId::random().0[..4]);
    let identity = NodeIdentity { node_id: u32::from_be_bytes(bytes).max(1), ring_node: name.to_owned() };
    write_durably(&path, toml::to_string(&identity)?.as_bytes())?;
    Ok(identity)
}

/// Writes a small file so that it is either absent or complete after a crash.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Loads the ring, creating a one-device, one-replica ring on first start.
fn open_ring(data: &Path, identity: &NodeIdentity) -> Result<Ring, Box<dyn std::error::Error>> {
    let builder_path = data.join(RING_FILE);
    let ring_path = ring_path_for(&builder_path);
    if !ring_path.exists() {
        let device = DeviceSpec {
            region: 1,
            zone: 1,
            node: identity.ring_node.clone(),
            device: "d0".to_owned(),
            weight: 100.0,
        };
        let builder = RingBuilder::with_one_device(DEFAULT_PART_POWER, device)?;
        builder.save(&builder_path)?;
        builder.write_ring(&ring_path)?;
    }
    Ok(Ring::load(&ring_path).map_err(|e| format!("{}: {e}", ring_path.display()))?)
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    // The ring names a node by its RPC address, or for a cluster of one
    // without RPC, by its S3 address.
    let name = settings.rpc.unwrap_or(settings.listen).to_string();
    let identity = open_identity(&settings.data, &name)?;
    if identity.ring_node != name {
        return Err(format!(
            "this data directory belongs to the node named {} in its ring; start it with {} (its name \
             cannot change)",
            identity.ring_node,
            if settings.rpc.is_some() {
                "--rpc set to that address"
            } else {
                "--rpc set to that address, or --listen"
            }
        )
        .into());
    }
    let ring = open_ring(&settings.data, &identity)?;

    let meta_dir = settings.data.join("meta");
    let meta = MetaStore::open(
        &meta_dir,
        MetaConfig { part_power: ring.part_power(), node: identity.node_id, ..MetaConfig::default() },
    )
    .map_err(|e| format!("{}: {e}", meta_dir.display()))?;

    let clock = Arc::new(Clock::new(identity.node_id));
    // Rows are ordered by timestamp: if the wall clock stepped back while
    // the server was down, new writes must still come after stored ones.
    if let Some(latest) = meta.latest_timestamp().map_err(|e| format!("{}: {e}", meta_dir.display()))? {
        let now = clock.now();
        if latest > now {
            let behind = Duration::from_micros(latest.micros - now.micros);
            tracing::warn!(
                ?behind,
                "the wall clock is behind the newest stored row; timestamps continue after it"
            );
        }
        clock.observe(latest);
    }
    let meta = Arc::new(meta);
    let cluster = Cluster::start(
        meta,
        ClusterConfig {
            data: settings.data.clone(),
            node_id: u64::from(identity.node_id),
            addr: identity.ring_node.clone(),
            rpc_listen: settings.rpc,
            secret: settings.secret.as_deref().map(ClusterSecret::new),
            role: settings.role,
            blob: settings.blob.clone(),
            local_ring: ring,
            replication_interval: settings.replication_interval,
            snapshot_entries: settings.snapshot_entries,
            split: settings.split,
            device_paths: settings.device_paths.clone(),
        },
    )
    .await
    .map_err(|e| format!("cannot start the cluster layer: {e}"))?;
    if let Some(rpc) = settings.rpc {
        tracing::info!(%rpc, role = ?settings.role, "serving node RPC");
    }
    start_maintenance(cluster.clone(), settings.maintenance);
    let idle_timeout = settings.object.body_idle_timeout;
    let mut object_config = settings.object;
    if let Some(path) = &settings.master_key_file {
        object_config.master_key = Some(master_key(path)?);
    }
    let service = ObjectService::new(cluster.clone(), clock, object_config);
    bootstrap_root_key(&service, settings.root).await?;

    if !settings.role.serves_s3() {
        println!("arca: storage node serving node RPC on {}", identity.ring_node);
        shutdown_signal().await;
        cluster.shutdown().await;
        return Ok(());
    }
    let s3 = arca_s3::build(
        service,
        &arca_s3::GatewayConfig { domain: settings.domain, signature_v2: settings.signature_v2 },
    )?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    tracing::info!(listen = %settings.listen, data = %settings.data.display(), node = identity.node_id, "arca is serving S3");
    // Scripts wait for this line.
    println!("arca: listening on http://{}", listener.local_addr()?);

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = auto::Builder::new(TokioExecutor::new());
    // S3 limits a request's headers to 8 KB; hyper would buffer ~400 KB of
    // them. A larger head is answered 431 without reaching the gateway.
    http.http1().max_buf_size(MAX_REQUEST_HEAD);
    // A head that does not arrive whole in time closes the connection, so
    // clients that trickle or stall cannot hold connections open.
    http.http1().timer(TokioTimer::new()).header_read_timeout(idle_timeout);
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = http.serve_connection(TokioIo::new(stream), s3.for_peer(peer)).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down: finishing requests in flight");
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(Duration::from_secs(30)) => tracing::warn!("gave up waiting for connections after 30 s"),
    }
    cluster.shutdown().await;
    Ok(())
}

/// Sets the root key from the settings, or generates one when a new
/// cluster of one starts without one.
///
/// A node's local view of the catalog already answers for a restart with
/// the same key, so a node restarting while its cluster has no majority
/// still comes up. A root key that must be written while the catalog
/// cannot take writes is written in the background once it can.
async fn bootstrap_root_key(
    service: &ObjectService,
    root: Option<(String, String)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = service.cluster().clone();
    let roots: Vec<_> = cluster.catalog().read(|c| c.keys.values().filter(|k| k.is_root).cloned().collect());
    if let Some((ak, sk)) = root {
        if roots.len() == 1 && roots[0].access_key == ak && roots[0].secret_key == sk {
            return Ok(());
        }
        let service = service.clone();
        tokio::spawn(async move {
            loop {
                match service.set_root_key(&ak, &sk).await {
                    Ok(_) => return,
                    Err(arca_object::ObjectError::ServiceUnavailable(why)) => {
                        tracing::warn!(why, "the root key will be set once the catalog takes writes");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "could not set the root key");
                        return;
                    }
                }
            }
        });
        return Ok(());
    }
    if !roots.is_empty() || !cluster.is_alone() {
        // A member of a larger cluster gets the cluster's root key from the
        // catalog; it never makes one of its own.
        return Ok(());
    }
    if service.list_keys().await?.iter().any(|k| k.is_root) {
        return Ok(());
    }
    let ak = arca_object::generate_access_key();
    let sk = arca_object::generate_secret_key();
    service.set_root_key(&ak, &sk).await?;
    println!("arca: generated the root key (shown only this once):");
    println!("  ARCA_ROOT_ACCESS_KEY={ak}");
    println!("  ARCA_ROOT_SECRET_KEY={sk}");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
