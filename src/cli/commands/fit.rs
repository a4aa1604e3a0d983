//! `voxdose fit STUDY --out DIR`: kinetics of a study file → TIA maps, region tables, plots.
//! All the work is in [`crate::kinetics::fit_study`]; this prints a short summary.

use crate::cli::args::FitArgs;
use crate::Result;

/// Runs `voxdose fit`.
pub fn fit(args: FitArgs) -> Result<()> {
    let fit = crate::kinetics::fit_study(&args.study, &args.out, args.force)?;
    for c in &fit.cycles {
        println!(
            "cycle {}: {} regions, {} voxels fitted, {} by trapezoid, map total {:.4e} Bq·s{}",
            c.cycle,
            c.regions.len(),
            c.voxels_fitted,
            c.voxels_trapezoid,
            c.map_total_bq_s,
            if c.from_cache { " (cached)" } else { "" }
        );
        for r in &c.regions {
            println!(
                "  {:<20} {:<16} TIA {:.4e} ± {:.2e} Bq·s  T_eff {:.1} h",
                r.name, r.model, r.tia_bq_s, r.tia_sigma_bq_s, r.effective_half_life_h
            );
        }
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
