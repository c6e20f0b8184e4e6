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
    /// Bulk-load empty objects through the index's own write path, for
    /// benchmarks: keys PREFIX + 16 hex digits spread over the key space.
    Load {
        bucket: String,
        /// How many objects.
        #[arg(long)]
        objects: u64,
        #[arg(long, default_value = "")]
        prefix: String,
        /// The number of the first object: loads with different starts add
        /// different keys.
        #[arg(long, default_value_t = 0)]
        start: u64,
    },
}

pub fn run(args: BucketArgs) -> CmdResult {
    let (bucket, key, allow) = match args.command {
        BucketCommand::Allow { bucket, key } => (bucket, key, true),
        BucketCommand::Deny { bucket, key } => (bucket, key, false),
        BucketCommand::Load { bucket, objects, prefix, start } => {
            return load(&args.endpoint, &bucket, objects, &prefix, start);
        }
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

/// Sends the load in requests of at most 100,000 objects, printing the
/// rate as it goes and the total time at the end.
fn load(
    endpoint: &super::admin::EndpointArgs,
    bucket: &str,
    objects: u64,
    prefix: &str,
    start: u64,
) -> CmdResult {
    const STEP: u64 = 100_000;
    let began = std::time::Instant::now();
    let mut done = 0;
    while done < objects {
        let count = STEP.min(objects - done);
        let body = json!({ "prefix": prefix, "start": start + done, "count": count });
        // A request that failed is sent again whole: its rows are plain
        // puts of the same keys, so rows it already wrote are rewritten.
        let mut attempt = 1;
        while let Err(err) =
            call(endpoint, Method::POST, &format!("buckets/{bucket}/load"), Some(body.clone()))
        {
            if attempt == 3 {
                return Err(err.into());
            }
            eprintln!("{err}; sending objects {}.. again", start + done);
            attempt += 1;
        }
        done += count;
        let secs = began.elapsed().as_secs_f64();
        eprintln!("{done} objects in {secs:.1} s ({:.0}/s)", done as f64 / secs);
    }
    println!("loaded {done} objects into {bucket} in {:.1} s", began.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
