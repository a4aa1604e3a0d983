//! `voxdose report DIR [--out FILE] [--pdf]`, and the `--report` of `run`, `fit` and
//! `twin sync`: all the work is [`crate::report::html::write_report`]'s.

use crate::cli::args::ReportArgs;
use crate::report::html::{write_report, ReportOptions, ReportOutcome};
use crate::Result;
use std::path::Path;

/// Runs `voxdose report`.
pub fn report(args: ReportArgs) -> Result<()> {
    let opts = ReportOptions {
        out: args.out,
        pdf: args.pdf,
    };
    print_outcome(&write_report(&args.dir, &opts)?);
    Ok(())
}

/// Writes `DIR/report.html` after another command (`--report`).
pub fn write_default(dir: &Path) -> Result<()> {
    print_outcome(&write_report(dir, &ReportOptions::default())?);
    Ok(())
}

fn print_outcome(o: &ReportOutcome) {
    println!(
        "wrote {} ({} report: {}; {:.2} s)",
        o.html.display(),
        o.kind.name(),
        o.sections.join(", "),
        o.html_s
    );
    if let Some(pdf) = &o.pdf {
        println!("wrote {}", pdf.display());
    }
}
