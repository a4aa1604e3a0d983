//! The command-line interface: arguments as typed ([`args`]), validated into run
//! configurations, and one file per command ([`commands`]).

pub mod args;
pub mod commands;

use crate::Result;
use clap::Parser;

/// Parses the process arguments and runs the chosen command. A value clap cannot parse
/// (`--seed -3`, `--decays abc`) is an invalid option value (exit 3) and a choice outside
/// the list (`--device tpu`) an unknown name (exit 4), as the exit-code table says; other
/// usage errors exit 2, help and version 0.
pub fn run_from_args() -> Result<()> {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::ValueValidation => 3,
                ErrorKind::InvalidValue => 4,
                _ => e.exit_code(),
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    commands::dispatch(cli)
}
