//! The `arca` command: the server and the tools that drive it.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only
//! parses the command line and dispatches.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Arca: a distributed, S3-compatible object store.
#[derive(Parser)]
#[command(name = "arca", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an Arca node: the S3 gateway with its metadata and blob stores.
    Server(cmd::server::ServerArgs),
    /// Build and inspect rings (the placement of partitions on devices).
    Ring(cmd::ring::RingArgs),
    /// Manage access keys on a running server.
    Key(cmd::key::KeyArgs),
    /// Manage bucket access on a running server.
    Bucket(cmd::bucket::BucketArgs),
    /// Put a ring in force on a running cluster, and show its state.
    Cluster(cmd::cluster::ClusterArgs),
    /// Load-test any S3 endpoint.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => cmd::server::run(args),
        Command::Ring(args) => cmd::ring::run(args),
        Command::Key(args) => cmd::key::run(args),
        Command::Bucket(args) => cmd::bucket::run(args),
        Command::Cluster(args) => cmd::cluster::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("arca: {err}");
            ExitCode::FAILURE
        }
    }
}
