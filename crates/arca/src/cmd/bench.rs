//! `arca bench`.

use super::CmdResult;

#[derive(clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> CmdResult {
    Err("not implemented yet".into())
}
