//! `voxdose bench`: decays per second, and time to a target uncertainty, on built-in phantoms.
//!
//! Reports the device (adapter, backend, driver) with every figure. Timings on shared
//! machines are noisy: compare devices side by side in one run.

use crate::cli::args::{BenchArgs, PhantomArgs, TransportArgs};
use crate::cli::commands::run::settings_from_args;
use crate::transport::{simulate, StopRule};
use crate::{Error, Result};
use serde::Serialize;

/// One benchmark figure.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// Phantom.
    pub phantom: String,
    /// Voxels in the grid.
    pub voxels: usize,
    /// Decays simulated.
    pub decays: u64,
    /// Transport wall time, s.
    pub wall_s: f64,
    /// Decays per second.
    pub decays_per_second: f64,
    /// Mean relative σ of voxels above 50 % of max at the end.
    pub sigma_above_50pct: f64,
    /// Target σ, when asked, and the time to reach it.
    pub target_sigma: Option<f64>,
    /// Seconds to the target σ.
    pub time_to_target_s: Option<f64>,
    /// Decays needed for the target.
    pub decays_to_target: Option<u64>,
    /// Device kind.
    pub device: String,
    /// Adapter / CPU name.
    pub adapter: String,
    /// Backend.
    pub backend: String,
    /// Driver.
    pub driver: String,
}

/// Runs `voxdose bench`.
pub fn bench(args: BenchArgs) -> Result<()> {
    let phantoms = if args.phantoms.is_empty() {
        vec!["water-sphere".to_string(), "nema-iec".to_string()]
    } else {
        args.phantoms.clone()
    };
    let transport = TransportArgs {
        nuclide: None,
        decays: Some(args.decays),
        target_uncertainty: None,
        max_decays: 1e10,
        seed: args.seed,
        batches: 10,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        device: args.device,
        dose_to: Default::default(),
        threads: None,
    };
    let mut rows = Vec::new();
    println!(
        "{:<14} {:>10} {:>10} {:>9} {:>12} {:>9} {:>12}  device",
        "phantom", "voxels", "decays", "wall (s)", "decays/s", "σ>50%", "t→target (s)"
    );
    for name in &phantoms {
        let p = crate::phantoms::build(&PhantomArgs {
            phantom: Some(name.clone()),
            radius_mm: None,
            voxel_mm: None,
            grid: None,
            material: None,
        })?;
        let settings = settings_from_args(&transport, "Lu-177", false)?;
        let r = simulate(&p.model, &p.source, &settings)?;
        let mut row = BenchRow {
            phantom: name.clone(),
            voxels: p.model.grid.n_voxels(),
            decays: r.decays,
            wall_s: r.wall_s,
            decays_per_second: r.decays as f64 / r.wall_s.max(1e-9),
            sigma_above_50pct: r.uncertainty.mean,
            target_sigma: None,
            time_to_target_s: None,
            decays_to_target: None,
            device: r.device.kind.clone(),
            adapter: r.device.name.clone(),
            backend: r.device.backend.clone(),
            driver: r.device.driver.clone(),
        };
        if let Some(pct) = args.target_uncertainty {
            if !(pct > 0.0 && pct < 100.0) {
                return Err(Error::invalid(
                    "--target-uncertainty",
                    format!("{pct} %; give a percentage between 0 and 100"),
                ));
            }
            let mut s = settings.clone();
            s.stop = StopRule::TargetUncertainty {
                relative: pct / 100.0,
                threshold: 0.5,
                max_decays: 1e10 as u64,
            };
            let t = simulate(&p.model, &p.source, &s)?;
            row.target_sigma = Some(pct / 100.0);
            row.time_to_target_s = Some(t.wall_s);
            row.decays_to_target = Some(t.decays);
        }
        println!(
            "{:<14} {:>10} {:>10} {:>9.2} {:>12.4e} {:>8.2}% {:>12}  {} {} ({})",
            row.phantom,
            row.voxels,
            row.decays,
            row.wall_s,
            row.decays_per_second,
            100.0 * row.sigma_above_50pct,
            row.time_to_target_s
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(|| "-".into()),
            row.device,
            row.adapter,
            row.backend
        );
        rows.push(row);
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&rows).map_err(|e| Error::Internal(e.to_string()))?;
        crate::io::atomic::write_atomic(path, &json)?;
    }
    Ok(())
}
