//! `voxdose validate`: parses the options, runs `crate::validate::run_suite`, prints the
//! table and writes the files (and the folder's HTML report).

use crate::cli::args::ValidateArgs;
use crate::validate::{output, run_suite, Mode, ValidateConfig, ValidationError};
use crate::Result;

/// Runs `voxdose validate`.
pub fn validate(args: ValidateArgs) -> Result<()> {
    let config = ValidateConfig {
        mode: if args.full { Mode::Full } else { Mode::Quick },
        device: args.device.unwrap_or_default(),
        cases: args.cases,
        ..Default::default()
    };
    crate::validate::select(&config.cases)?;
    output::check_free(&args.out, args.force)?;
    println!("{}", output::table_header());
    let results = run_suite(&config, &mut |r| println!("{}", output::table_row(r)))?;
    output::write(&args.out, &results, args.force)?;
    // The page `voxdose report DIR` makes of the folder, beside the files it is made from.
    let report = crate::report::html::write_report(&args.out, &Default::default())?;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.fails_suite())
        .map(|r| r.case.clone())
        .collect();
    let known = results
        .iter()
        .filter(|r| !r.pass && r.known_disagreement.is_some())
        .count();
    println!(
        "{} of {} cases within tolerance{}; {}, validation.csv and {} in {}",
        results.iter().filter(|r| r.pass).count(),
        results.len(),
        if known > 0 {
            format!(", {known} outside it as documented known disagreements (known_disagreement in the JSON)")
        } else {
            String::new()
        },
        output::FILES[0],
        report
            .html
            .file_name()
            .map_or("report.html".into(), |n| n.to_string_lossy()),
        args.out.display()
    );
    println!("{}", crate::validate::NOT_COVERED);
    println!("{}", crate::validate::RECORDED_SPEED);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::Failed {
            failed,
            total: results.len(),
        }
        .into())
    }
}
