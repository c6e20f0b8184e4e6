//! `arca server`.

use super::CmdResult;

#[derive(clap::Args)]
pub struct ServerArgs {}

pub fn run(_args: ServerArgs) -> CmdResult {
    Err("not implemented yet".into())
}
