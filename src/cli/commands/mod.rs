//! One file per command; `dispatch` is the only place that knows them all.

pub mod bench;
pub mod fit;
pub mod inspect;
pub mod pbpk;
pub mod phantoms;
pub mod run;
pub mod run_patient;
pub mod run_study;

use crate::cli::args::{Cli, Command};
use crate::Result;

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Bench(a) => bench::bench(a),
        Command::Phantoms => phantoms::list_phantoms(),
        Command::Nuclides => phantoms::list_nuclides(),
        Command::Fit(a) => fit::fit(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Pbpk(c) => pbpk::pbpk(c),
        Command::Trial(a) => pbpk::trial(a),
    }
}
