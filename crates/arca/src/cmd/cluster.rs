//! `arca cluster`: hand a ring to a running cluster, and show the
//! cluster's state.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::Subcommand;
use http::Method;
use serde_json::{Value, json};

use super::CmdResult;
use super::admin::{EndpointArgs, call};

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Put a rebalanced builder's ring in force on every node the cluster
    /// holds (FILE is the builder; its FILE.ring is sent). Data and index
    /// ranges then move to their new places in the background.
    Apply { file: PathBuf },
    /// Nodes (up or down) and their devices, the catalog's leader and
    /// voters, and how far replication is from done.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A bucket's index ranges in key order: bounds, rows, bytes, replicas
    /// and leader of each.
    Ranges {
        #[arg(long)]
        bucket: String,
        /// Print the ranges as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: ClusterArgs) -> CmdResult {
    match args.command {
        ClusterCommand::Apply { file } => apply(&args.endpoint, &file),
        ClusterCommand::Status { json } => status(&args.endpoint, json),
        ClusterCommand::Ranges { bucket, json } => ranges(&args.endpoint, &bucket, json),
    }
}

fn ranges(endpoint: &EndpointArgs, bucket: &str, as_json: bool) -> CmdResult {
    let answer = call(endpoint, Method::GET, &format!("cluster/ranges/{bucket}"), None)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    println!("{:<20} {:<20} {:>10} {:>14}  {:<22} REPLICAS", "START", "END", "ROWS", "BYTES", "LEADER");
    for range in answer["ranges"].as_array().into_iter().flatten() {
        let replicas: Vec<String> = range["replicas"].as_array().into_iter().flatten().map(text).collect();
        let end = if range["end"].is_null() { "(end)".to_owned() } else { text(&range["end"]) };
        println!(
            "{:<20} {:<20} {:>10} {:>14}  {:<22} {}",
            format!("{:?}", text(&range["start"])),
            end,
            text(&range["rows"]),
            text(&range["bytes"]),
            text(&range["leader"]),
            replicas.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The ring file of a builder (or the ring file itself, if given).
fn ring_bytes(file: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if bytes.starts_with(b"ARCARING") {
        return Ok(bytes);
    }
    let ring = arca_ring::ring_path_for(file);
    std::fs::read(&ring)
        .map_err(|e| format!("{}: {e} (run `arca ring rebalance {}` first)", ring.display(), file.display()))
}

fn apply(endpoint: &EndpointArgs, file: &std::path::Path) -> CmdResult {
    let bytes = ring_bytes(file)?;
    let body = json!({ "ring": base64::engine::general_purpose::STANDARD.encode(&bytes) });
    let answer = call(endpoint, Method::PUT, "cluster/ring", Some(body))?;
    println!("ring version {} is in force", answer["ring_version"]);
    Ok(ExitCode::SUCCESS)
}

fn status(endpoint: &EndpointArgs, as_json: bool) -> CmdResult {
    let answer = call(endpoint, Method::GET, "cluster/status", None)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&answer));
    Ok(ExitCode::SUCCESS)
}

fn table(status: &Value) -> String {
    let mut out = String::new();
    let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    out.push_str(&format!(
        "ring version {}, {} index range(s)\n\n",
        status["ring_version"], status["ranges"]
    ));
    out.push_str(&format!(
        "{:<24} {:<6} {:<10} {:>10} {:>10} {:>14}\n",
        "NODE", "STATE", "DEVICE", "PARTITIONS", "OBJECTS", "BYTES"
    ));
    for node in status["nodes"].as_array().into_iter().flatten() {
        let devices: Vec<&Value> = node["devices"].as_array().into_iter().flatten().collect();
        if devices.is_empty() {
            out.push_str(&format!("{:<24} {:<6} {:<10}\n", text(&node["node"]), text(&node["state"]), "-"));
        }
        for device in devices {
            out.push_str(&format!(
                "{:<24} {:<6} {:<10} {:>10} {:>10} {:>14}\n",
                text(&node["node"]),
                text(&node["state"]),
                text(&device["device"]),
                text(&device["partitions"]),
                text(&device["objects"]),
                text(&device["bytes"])
            ));
        }
    }
    let voters: Vec<String> =
        status["catalog"]["voters"].as_array().into_iter().flatten().map(text).collect();
    out.push_str(&format!(
        "\ncatalog leader {} (voters: {})\n",
        text(&status["catalog"]["leader"]),
        voters.join(", ")
    ));
    out.push_str(&format!(
        "replication: {} partition(s) pending, last pass {} s ago\n",
        status["replication"]["pending_partitions"], status["replication"]["last_pass_age_secs"]
    ));
    out
}
