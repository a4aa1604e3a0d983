//! `validation.json`, `validation.csv` and the printed table.

use super::CaseResult;
use crate::io::atomic::write_atomic;
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

/// The files `voxdose validate` writes into its folder.
pub const FILES: [&str; 2] = ["validation.json", "validation.csv"];

/// Writes `validation.json` and `validation.csv` into `dir` (created if missing); refuses to
/// replace them unless `force`.
pub fn write(dir: &Path, results: &[CaseResult], force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::OutputNotWritable {
        path: dir.to_path_buf(),
        source,
    })?;
    for name in FILES {
        let path = dir.join(name);
        if path.exists() && !force {
            return Err(Error::OutputExists { path });
        }
    }
    let json = serde_json::to_vec_pretty(results).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&dir.join(FILES[0]), &json)?;
    write_atomic(&dir.join(FILES[1]), csv(results).as_bytes())?;
    Ok(())
}

/// Refuses early when `dir` already holds the suite's files (unless `force`), so a long
/// run is not lost at the end.
pub fn check_free(dir: &Path, force: bool) -> Result<()> {
    match FILES.iter().map(|n| dir.join(n)).find(|p| p.exists()) {
        Some(path) if !force => Err(Error::OutputExists { path }),
        _ => Ok(()),
    }
}

/// One row per case; the eleven published columns first.
pub fn csv(results: &[CaseResult]) -> String {
    let mut s = String::from(
        "case,nuclide,quantity,voxdose,voxdose_sigma,reference,reference_sigma,ratio,tolerance,\
         pass,source,tolerance_basis,method,histories,histories_per_second,known_disagreement\n",
    );
    for r in results {
        let _ = writeln!(
            s,
            "{},{},{},{:e},{:e},{:e},{},{:.6},{:.6},{},{},{},{},{},{:.4e},{}",
            r.case,
            r.nuclide.as_deref().unwrap_or(""),
            quote(&r.quantity),
            r.voxdose,
            r.voxdose_sigma,
            r.reference,
            r.reference_sigma
                .map(|v| format!("{v:e}"))
                .unwrap_or_default(),
            r.ratio,
            r.tolerance,
            r.pass,
            quote(&r.source),
            quote(&r.tolerance_basis),
            quote(&r.method),
            r.histories,
            r.histories_per_second,
            r.known_disagreement
                .as_deref()
                .map(quote)
                .unwrap_or_default()
        );
    }
    s
}

/// A CSV field in double quotes (inner quotes doubled).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The header of the printed table.
pub fn table_header() -> String {
    format!(
        "{:<26} {:<7} {:>12} {:>10} {:>12} {:>8} {:>7}  {:<5} {:>9}  method",
        "case", "nuclide", "voxdose", "σ", "reference", "ratio", "tol", "pass", "hist/s"
    )
}

/// One row of the printed table.
pub fn table_row(r: &CaseResult) -> String {
    format!(
        "{:<26} {:<7} {:>12.5e} {:>10.2e} {:>12.5e} {:>8.5} {:>6.2}%  {:<5} {:>9.3e}  {}",
        r.case,
        r.nuclide.as_deref().unwrap_or("-"),
        r.voxdose,
        r.voxdose_sigma,
        r.reference,
        r.ratio,
        100.0 * r.tolerance,
        match (r.pass, &r.known_disagreement) {
            (true, _) => "ok",
            (false, Some(_)) => "known",
            (false, None) => "FAIL",
        },
        r.histories_per_second,
        r.method
    )
}
