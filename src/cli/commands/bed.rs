//! `voxdose bed --dose FILE --out DIR`: BED, EQD2 and EUBED of a dose map. All the work is in
//! [`crate::radiobiology::bed_command::run`]; this maps the arguments and prints a summary.

use crate::cli::args::BedArgs;
use crate::radiobiology::bed_command::{run, BedConfig};
use crate::Result;

/// Runs `voxdose bed`.
pub fn bed(a: BedArgs) -> Result<()> {
    let cfg = BedConfig {
        dose: a.dose,
        dose_uncertainty: a.dose_uncertainty,
        out: a.out,
        force: a.force,
        effective_half_life_h: a.effective_half_life_h,
        fit: a.fit,
        cycle: a.cycle,
        tissue: a.tissue,
        alpha_beta_gy: a.alpha_beta_gy,
        repair_half_time_h: a.repair_half_time_h,
        alpha_per_gy: a.alpha_per_gy,
        labels: a.labels,
        tissue_map: a.tissue_map,
    };
    let summary = run(&cfg)?;
    for note in &summary.notes {
        eprintln!("voxdose: {note}");
    }
    for r in &summary.regions {
        let eubed = r
            .eubed_gy
            .map_or(String::new(), |e| format!("  EUBED {e:.3} Gy"));
        let limit = r.limit.as_ref().map_or(String::new(), |l| {
            format!(
                "  ({} {:.0} % of the {:.0} Gy limit)",
                l.compared,
                100.0 * l.fraction_of_limit,
                l.limit.value_gy
            )
        });
        println!(
            "{:<20} {:<16} D {:.4} Gy  BED {:.4} ± {:.4} Gy  EQD2 {:.4} Gy{eubed}{limit}",
            r.name, r.tissue, r.dose_mean_gy, r.bed_mean_gy, r.bed_mean_gy_sigma, r.eqd2_mean_gy
        );
    }
    println!("wrote {}", cfg.out.display());
    Ok(())
}
