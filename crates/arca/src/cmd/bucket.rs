//! `arca bucket`.

use super::CmdResult;

#[derive(clap::Args)]
pub struct BucketArgs {}

pub fn run(_args: BucketArgs) -> CmdResult {
    Err("not implemented yet".into())
}
