//! `arca ring`: build and inspect rings, as swift-ring-builder does.
//!
//! FILE is always the builder file (devices, assignment, move history). Every
//! `rebalance` also writes the compact ring that servers load beside it, as
//! `FILE.ring`; `show` and `lookup` read FILE and answer for the ring last
//! published from it. Edits (`add`, `remove`, `set-weight`) take effect at the
//! next `rebalance`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use arca_ring::{Device, DeviceSpec, RebalanceReport, RingBuilder, ring_path_for};
use clap::Subcommand;
use serde_json::json;

use super::CmdResult;

#[derive(clap::Args)]
pub struct RingArgs {
    #[command(subcommand)]
    command: RingCommand,
}

#[derive(Subcommand)]
enum RingCommand {
    /// Create an empty builder file.
    Create {
        /// The builder file to create (it must not exist).
        file: PathBuf,
        /// 2^P partitions (0 to 24).
        #[arg(long, value_name = "P")]
        part_power: u8,
        /// Replicas of every partition (1 to 16).
        #[arg(long, value_name = "R")]
        replicas: u8,
        /// Hours a partition that moved stays put before it may move again.
        #[arg(long, value_name = "H", default_value_t = 1)]
        min_part_hours: u32,
    },
    /// Add a device; prints its id.
    Add {
        file: PathBuf,
        #[arg(long)]
        region: u32,
        #[arg(long)]
        zone: u32,
        /// The server owning the device, as HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        node: String,
        /// The device's name on that server.
        #[arg(long, value_name = "NAME")]
        device: String,
        /// Relative capacity (e.g. its size in GB); 0 drains it.
        #[arg(long)]
        weight: f64,
    },
    /// Remove a device (the next rebalance moves its partitions away).
    Remove {
        file: PathBuf,
        #[arg(long)]
        id: u32,
    },
    /// Change a device's weight.
    SetWeight {
        file: PathBuf,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        weight: f64,
    },
    /// Change how long a moved partition stays put.
    SetMinPartHours {
        file: PathBuf,
        #[arg(long, value_name = "H")]
        hours: u32,
    },
    /// Reassign partitions after edits and publish FILE.ring.
    Rebalance { file: PathBuf },
    /// Print the ring's devices and balance.
    Show {
        file: PathBuf,
        /// One JSON object with the whole assignment (replica2part2dev).
        #[arg(long)]
        json: bool,
    },
    /// Print the partition of KEY and its primary and handoff devices.
    Lookup {
        file: PathBuf,
        /// A placement key (its UTF-8 bytes are hashed).
        key: String,
        /// How many handoff devices to list (default: the replica count).
        #[arg(long, value_name = "N")]
        handoffs: Option<usize>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RingArgs) -> CmdResult {
    match args.command {
        RingCommand::Create { file, part_power, replicas, min_part_hours } => {
            if file.exists() {
                return Err(
                    format!("{} already exists; remove it to start a new ring", file.display()).into()
                );
            }
            RingBuilder::new(part_power, replicas, min_part_hours)?.save(&file)?;
            println!(
                "created {}: {} partitions, {replicas} replica(s), min_part_hours {min_part_hours}",
                file.display(),
                1u64 << part_power
            );
        }
        RingCommand::Add { file, region, zone, node, device, weight } => {
            let mut builder = RingBuilder::load(&file)?;
            let id = builder.add_device(DeviceSpec { region, zone, node, device, weight })?;
            builder.save(&file)?;
            println!("{id}");
        }
        RingCommand::Remove { file, id } => {
            let mut builder = RingBuilder::load(&file)?;
            builder.remove_device(id)?;
            builder.save(&file)?;
            println!("device {id} removed; run `arca ring rebalance` to move its partitions away");
        }
        RingCommand::SetWeight { file, id, weight } => {
            let mut builder = RingBuilder::load(&file)?;
            builder.set_weight(id, weight)?;
            builder.save(&file)?;
            println!("device {id} now weighs {weight}; run `arca ring rebalance` to apply it");
        }
        RingCommand::SetMinPartHours { file, hours } => {
            let mut builder = RingBuilder::load(&file)?;
            builder.set_min_part_hours(hours);
            builder.save(&file)?;
            println!("min_part_hours is now {hours}");
        }
        RingCommand::Rebalance { file } => rebalance(&file)?,
        RingCommand::Show { file, json } => {
            let builder = RingBuilder::load(&file)?;
            if json {
                println!("{}", show_json(&builder));
            } else {
                show_text(&file, &builder);
            }
        }
        RingCommand::Lookup { file, key, handoffs, json } => lookup(&file, &key, handoffs, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Rebalances, then saves the builder before publishing the ring: were the
/// ring written first and the builder save lost, the next rebalance could
/// publish a different ring under the same version.
fn rebalance(file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = RingBuilder::load(file)?;
    let report = builder.rebalance()?;
    builder.save(file)?;
    let ring_file = ring_path_for(file);
    builder.write_ring(&ring_file)?;
    print_report(&report, &ring_file, builder.min_part_hours());
    Ok(())
}

fn print_report(report: &RebalanceReport, ring_file: &Path, min_part_hours: u32) {
    if report.published {
        println!("published ring version {} to {}", report.version, ring_file.display());
    } else {
        println!("nothing changed; ring version {} (in {})", report.version, ring_file.display());
    }
    if report.assigned > 0 {
        println!("assigned {} partition-replicas", report.assigned);
    }
    println!("moved {} partition-replicas", report.moved);
    match report.worst_device {
        Some(id) if report.balance > 0.0 => println!("balance {:.2}% (worst: device {id})", report.balance),
        _ => println!("balance {:.2}%", report.balance),
    }
    if !report.dropped_devices.is_empty() {
        let ids: Vec<String> = report.dropped_devices.iter().map(u32::to_string).collect();
        println!("removed devices left the ring: {}", ids.join(", "));
    }
    if report.pending_moves > 0 || report.undispersed_partitions > 0 {
        println!(
            "{} partition-replicas still to move ({} on removed devices), {} partitions not yet fully \
             dispersed: each rebalance moves at most one replica of a partition; run `arca ring \
             rebalance` again once data has moved (min_part_hours is {min_part_hours})",
            report.pending_moves, report.on_removed_devices, report.undispersed_partitions
        );
    }
}

fn device_json(d: &Device) -> serde_json::Value {
    json!({
        "id": d.id,
        "region": d.region,
        "zone": d.zone,
        "node": d.node,
        "device": d.device,
        "weight": d.weight,
    })
}

/// The contract scripts rely on: `version`, `part_power`, `replicas`,
/// `devices` (with `partitions`) and `replica2part2dev` (empty before the
/// first rebalance). The other keys are informative.
fn show_json(builder: &RingBuilder) -> serde_json::Value {
    let devices: Vec<serde_json::Value> = builder
        .usage()
        .into_iter()
        .map(|u| {
            let mut d = device_json(&u.device);
            d["partitions"] = json!(u.partitions);
            d["fair_share"] = json!(u.fair_share);
            d["removed"] = json!(u.removed);
            d
        })
        .collect();
    json!({
        "version": builder.version(),
        "part_power": builder.part_power(),
        "replicas": builder.replicas(),
        "min_part_hours": builder.min_part_hours(),
        "pending_changes": builder.has_pending_changes(),
        "balance": builder.balance().map(|(b, _)| b),
        "devices": devices,
        "replica2part2dev": builder.replica2part2dev().unwrap_or_default(),
    })
}

fn show_text(file: &Path, builder: &RingBuilder) {
    println!(
        "{}: {} partitions (part power {}), {} replica(s), min_part_hours {}",
        file.display(),
        1u64 << builder.part_power(),
        builder.part_power(),
        builder.replicas(),
        builder.min_part_hours()
    );
    if builder.is_assigned() {
        println!("ring version {} (published to {})", builder.version(), ring_path_for(file).display());
    } else {
        println!("not rebalanced yet: no partitions assigned");
    }
    match builder.balance() {
        Some((balance, id)) if balance > 0.0 => println!("balance {balance:.2}% (worst: device {id})"),
        Some((balance, _)) => println!("balance {balance:.2}%"),
        None => {}
    }
    if builder.has_pending_changes() {
        println!("devices changed since the last rebalance: run `arca ring rebalance` to apply");
    }
    let usage = builder.usage();
    println!("{} device(s):", usage.len());
    println!(
        "  {:>5} {:>6} {:>5}  {:<24} {:<12} {:>10} {:>10} {:>10} {:>8}",
        "id", "region", "zone", "node", "device", "weight", "partitions", "share", "balance"
    );
    for u in usage {
        let d = &u.device;
        let (share, balance) = match u.fair_share {
            Some(s) if s > 0.0 => {
                (format!("{s:.1}"), format!("{:+.2}%", (u.partitions as f64 - s) / s * 100.0))
            }
            Some(s) => (format!("{s:.1}"), "-".to_string()),
            None => ("-".to_string(), "-".to_string()),
        };
        let note = if u.removed { "  (removed)" } else { "" };
        println!(
            "  {:>5} {:>6} {:>5}  {:<24} {:<12} {:>10.2} {:>10} {:>10} {:>8}{note}",
            d.id, d.region, d.zone, d.node, d.device, d.weight, u.partitions, share, balance
        );
    }
}

fn lookup(
    file: &Path,
    key: &str,
    handoffs: Option<usize>,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let ring = RingBuilder::load(file)?.to_ring()?;
    let partition = ring.partition_for_key(key.as_bytes());
    let primaries: Vec<&Device> = ring.primary_devices(partition).collect();
    let handoffs: Vec<&Device> =
        ring.handoffs(partition).take(handoffs.unwrap_or(usize::from(ring.replicas()))).collect();
    if json {
        let out = json!({
            "key": key,
            "partition": partition,
            "version": ring.version(),
            "primaries": primaries.iter().map(|d| device_json(d)).collect::<Vec<_>>(),
            "handoffs": handoffs.iter().map(|d| device_json(d)).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("key {key:?}: partition {partition} (ring version {})", ring.version());
    println!("primaries:");
    for (replica, d) in primaries.iter().enumerate() {
        println!("  replica {replica}: {}", describe(d));
    }
    println!("handoffs:");
    for d in handoffs {
        println!("  {}", describe(d));
    }
    Ok(())
}

fn describe(d: &Device) -> String {
    format!("device {} region {} zone {} {}/{} weight {}", d.id, d.region, d.zone, d.node, d.device, d.weight)
}
