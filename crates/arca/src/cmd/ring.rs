//! `arca ring`.

use super::CmdResult;

#[derive(clap::Args)]
pub struct RingArgs {}

pub fn run(_args: RingArgs) -> CmdResult {
    Err("not implemented yet".into())
}
