//! `arca bucket`: grant or revoke another key's access to a bucket on a
//! running server.

use std::process::ExitCode;

use clap::Subcommand;
use http::Method;
use serde_json::json;

use super::CmdResult;
use super::admin::{EndpointArgs, call};

#[derive(clap::Args, Debug)]
pub struct BucketArgs {
    #[command(subcommand)]
    command: BucketCommand,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(Subcommand, Debug)]
enum BucketCommand {
    /// Let KEY read and write BUCKET (run as the owner or root).
    Allow {
        bucket: String,
        /// The access key id to grant.
        key: String,
    },
    /// Take back what `allow` gave.
    Deny {
        bucket: String,
        /// The access key id to revoke.
        key: String,
    },
}

pub fn run(args: BucketArgs) -> CmdResult {
    let (bucket, key, allow) = match args.command {
        BucketCommand::Allow { bucket, key } => (bucket, key, true),
        BucketCommand::Deny { bucket, key } => (bucket, key, false),
    };
    let body = json!({ "access_key": key, "allow": allow });
    let answer = call(&args.endpoint, Method::POST, &format!("buckets/{bucket}/grants"), Some(body))?;
    let grants: Vec<&str> =
        answer["grants"].as_array().into_iter().flatten().filter_map(|g| g.as_str()).collect();
    println!(
        "Bucket {bucket} (owner {}): granted to [{}]",
        answer["owner"].as_str().unwrap_or_default(),
        grants.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
