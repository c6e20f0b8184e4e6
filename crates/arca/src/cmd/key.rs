//! `arca key`: create, list and delete access keys on a running server.

use std::process::ExitCode;

use clap::Subcommand;
use http::Method;
use serde_json::json;

use super::CmdResult;
use super::admin::{EndpointArgs, call};

#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create a key and print the pair. Given a pair, import it as is.
    Create {
        /// A name for the key (shown as the owner's display name).
        name: String,
        /// Import this access key id instead of generating one.
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        /// Import this secret key instead of generating one.
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
        /// Print the pair as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (without their secrets).
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a key.
    Delete {
        /// The access key id.
        access_key: String,
    },
}

pub fn run(args: KeyArgs) -> CmdResult {
    let ep = &args.endpoint;
    match args.command {
        KeyCommand::Create { name, access_key, secret_key, json } => {
            let body = json!({ "name": name, "access_key": access_key, "secret_key": secret_key });
            let key = call(ep, Method::POST, "keys", Some(body))?;
            if json {
                println!("{key}");
            } else {
                println!("Name:          {}", key["name"].as_str().unwrap_or_default());
                println!("Access key id: {}", key["access_key"].as_str().unwrap_or_default());
                println!("Secret key:    {}", key["secret_key"].as_str().unwrap_or_default());
            }
        }
        KeyCommand::List { json } => {
            let keys = call(ep, Method::GET, "keys", None)?;
            if json {
                println!("{keys}");
            } else {
                println!("{:<24} {:<6} NAME", "ACCESS KEY", "ROOT");
                for key in keys.as_array().into_iter().flatten() {
                    println!(
                        "{:<24} {:<6} {}",
                        key["access_key"].as_str().unwrap_or_default(),
                        if key["is_root"].as_bool().unwrap_or(false) { "yes" } else { "no" },
                        key["name"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        KeyCommand::Delete { access_key } => {
            call(ep, Method::DELETE, &format!("keys/{access_key}"), None)?;
            println!("Deleted {access_key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
