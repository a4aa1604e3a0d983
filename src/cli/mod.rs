//! The command-line interface: arguments as typed ([`args`]), validated into run
//! configurations, and one file per command ([`commands`]).

pub mod args;
pub mod commands;

use crate::Result;
use clap::Parser;

/// Parses the process arguments and runs the chosen command.
pub fn run_from_args() -> Result<()> {
    let cli = args::Cli::parse();
    commands::dispatch(cli)
}
