//! `voxdose validate`: parses the options, runs `crate::validate::run_suite`, prints the
//! table and writes the files.

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
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.case.clone())
        .collect();
    println!(
        "{} of {} cases within tolerance; {} and validation.csv in {}",
        results.len() - failed.len(),
        results.len(),
        output::FILES[0],
        args.out.display()
    );
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
