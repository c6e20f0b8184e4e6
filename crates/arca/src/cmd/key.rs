//! `arca key`.

use super::CmdResult;

#[derive(clap::Args)]
pub struct KeyArgs {}

pub fn run(_args: KeyArgs) -> CmdResult {
    Err("not implemented yet".into())
}
