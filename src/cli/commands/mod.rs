//! One file per command; `dispatch` is the only place that knows them all.

pub mod bed;
pub mod bench;
pub mod cluster;
pub mod fit;
pub mod inspect;
pub mod pbpk;
pub mod phantoms;
pub mod recovery;
pub mod report;
pub mod run;
pub mod twin;
pub mod validate;

use crate::cli::args::{Cli, Command};
use crate::Result;

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Merge(a) => cluster::merge(a),
        Command::Slurm(a) => cluster::slurm(a),
        Command::Bench(a) => bench::bench(a),
        Command::Phantoms => phantoms::list_phantoms(),
        Command::Nuclides => phantoms::list_nuclides(),
        Command::Fit(a) => fit::fit(a),
        Command::Inspect(a) => inspect::inspect(a),
        Command::Pbpk(c) => pbpk::pbpk(c),
        Command::Trial(a) => pbpk::trial(a),
        Command::Bed(a) => bed::bed(a),
        Command::Twin(a) => twin::twin(a),
        Command::Recovery(a) => recovery::recovery(a),
        Command::Report(a) => report::report(a),
        Command::Validate(a) => validate::validate(a),
    }
}
