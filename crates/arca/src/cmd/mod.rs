//! One module per subcommand of `arca`.

mod admin;
pub mod bench;
pub mod bucket;
pub mod cluster;
pub mod key;
pub mod ring;
pub mod server;

/// What a subcommand returns: an exit code, or an error printed as `arca: ...`.
pub type CmdResult = Result<std::process::ExitCode, Box<dyn std::error::Error>>;
