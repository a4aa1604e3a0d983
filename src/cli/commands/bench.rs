//! `voxdose bench`: decays per second, and time to a target uncertainty, on built-in phantoms.
//!
//! Reports the device (adapter, backend, driver) with every figure, and the 1-minute load
//! average when the row started (Linux). Timings on shared machines are noisy: compare devices
//! side by side in one run (`--device cpu,gpu`).
//!
//! Default phantoms: `water-sphere`, `nema-iec`, and `patient15` when its GATE files are found
//! (a patient-sized, heterogeneous grid of 680 400 voxels; on 2 CPU cores it adds about as much
//! time as `nema-iec`). Without the files the default bench says it skipped it. `patient15-256`
//! (13.1 M voxels, the 256×256×200 grid of the GPU target) runs only when named: it needs
//! ~1 GB of memory, and its per-batch statistics (a pass over 13 M voxels) are a visible part
//! of a 10⁶-decay run (`stats (s)`).

use crate::cli::args::BenchArgs;
use crate::phantoms::PhantomSpec;
use crate::report::progress::ConsoleObserver;
use crate::run::{Engine, Stop, TransportConfig};
use crate::transport::{simulate, DeviceChoice, StopRule};
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
    /// Of `wall_s`, the batch statistics (tally read-back and fold, σ check), s.
    pub statistics_s: f64,
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
    /// Batches of the run to the target.
    pub batches_to_target: Option<u32>,
    /// Of `time_to_target_s`, the batch statistics, s.
    pub statistics_to_target_s: Option<f64>,
    /// Device kind.
    pub device: String,
    /// Adapter / CPU name.
    pub adapter: String,
    /// Backend.
    pub backend: String,
    /// Driver.
    pub driver: String,
    /// GPU rows: decays per work-queue block of the transport kernel.
    pub decays_per_block: Option<u32>,
    /// GPU rows: seconds the throughput run spent compiling the transport kernel, outside
    /// `wall_s` (the device's first compile, or its shader cache's hit).
    pub compile_s: Option<f64>,
    /// 1-minute load average when the row started (Linux `/proc/loadavg`).
    pub load_average_1min: Option<f64>,
}

/// The default phantom list (see the module doc).
fn default_phantoms() -> Vec<String> {
    let mut list = vec!["water-sphere".to_string(), "nema-iec".to_string()];
    match crate::phantoms::patient15::data_dir() {
        Ok(_) => list.push("patient15".into()),
        Err(e) => eprintln!("voxdose bench: patient15 skipped: {e}"),
    }
    list
}

/// 1-minute load average from `/proc/loadavg`, where there is one.
fn load_average_1min() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `voxdose bench`.
pub fn bench(args: BenchArgs) -> Result<()> {
    if let Some(pct) = args.target_uncertainty {
        if !(pct > 0.0 && pct < 100.0) {
            return Err(Error::invalid(
                "--target-uncertainty",
                format!("{pct} %; give a percentage between 0 and 100"),
            ));
        }
    }
    for &n in &args.decays_per_block {
        TransportConfig {
            decays_per_block: Some(n),
            ..Default::default()
        }
        .validate()?;
    }
    let phantoms = if args.phantoms.is_empty() {
        default_phantoms()
    } else {
        args.phantoms.clone()
    };
    // `None`: the device's own block size.
    let blocks: Vec<Option<u32>> = if args.decays_per_block.is_empty() {
        vec![None]
    } else {
        args.decays_per_block.iter().map(|&n| Some(n)).collect()
    };
    let devices = if args.device.is_empty() {
        vec![DeviceChoice::Auto]
    } else {
        args.device.clone()
    };
    let mut rows = Vec::new();
    println!(
        "{:<14} {:>10} {:>10} {:>9} {:>9} {:>12} {:>9} {:>12} {:>8} {:>5}  device",
        "phantom",
        "voxels",
        "decays",
        "wall (s)",
        "stats (s)",
        "decays/s",
        "σ>50%",
        "t→target (s)",
        "batches",
        "load"
    );
    for name in &phantoms {
        let p = crate::phantoms::build(&PhantomSpec::named(name))?;
        for &device in &devices {
            for &block in &blocks {
                let row = bench_one(&args, name, &p, device, block)?;
                print_row(&row);
                // The CPU reference (`cpu`, or `auto` without a GPU) has no blocks: one row.
                let on_cpu = row.decays_per_block.is_none();
                rows.push(row);
                if on_cpu {
                    break;
                }
            }
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&rows).map_err(|e| Error::Internal(e.to_string()))?;
        crate::io::atomic::write_atomic(path, &json)?;
    }
    Ok(())
}

/// Prints one row of the table.
fn print_row(row: &BenchRow) {
    println!(
        "{:<14} {:>10} {:>10} {:>9.2} {:>9.2} {:>12.4e} {:>8.2}% {:>12} {:>8} {:>5}  {} {} ({}){}",
        row.phantom,
        row.voxels,
        row.decays,
        row.wall_s,
        row.statistics_s,
        row.decays_per_second,
        100.0 * row.sigma_above_50pct,
        row.time_to_target_s
            .map(|t| format!("{t:.2}"))
            .unwrap_or_else(|| "-".into()),
        row.batches_to_target
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".into()),
        row.load_average_1min
            .map(|l| format!("{l:.2}"))
            .unwrap_or_else(|| "-".into()),
        row.device,
        row.adapter,
        row.backend,
        row.decays_per_block
            .map(|b| format!(", {b} decays/block"))
            .unwrap_or_default()
    );
}

/// One phantom on one device: the throughput run, then the run to the target σ if asked.
fn bench_one(
    args: &BenchArgs,
    name: &str,
    p: &crate::phantoms::Phantom,
    device: DeviceChoice,
    decays_per_block: Option<u32>,
) -> Result<BenchRow> {
    let config = TransportConfig {
        stop: Stop::Decays(args.decays),
        seed: args.seed,
        batches: 10,
        device,
        decays_per_block,
        ..Default::default()
    };
    // Checks the block size too (1 to `MAX_HISTORIES_PER_BLOCK`).
    let settings = config.settings(config.nuclide("Lu-177")?)?;
    let engine = Engine::new(&config)?;
    let mut observer = ConsoleObserver::new(false);
    let load_average_1min = load_average_1min();
    let r = engine.install(|d| simulate(&p.model, &p.source, &settings, d, &mut observer))?;
    let mut row = BenchRow {
        phantom: name.to_string(),
        voxels: p.model.grid.n_voxels(),
        decays: r.decays,
        wall_s: r.wall_s,
        statistics_s: r.statistics_s,
        decays_per_second: r.decays as f64 / r.wall_s.max(1e-9),
        sigma_above_50pct: r.uncertainty.mean,
        target_sigma: None,
        time_to_target_s: None,
        decays_to_target: None,
        batches_to_target: None,
        statistics_to_target_s: None,
        device: r.device.kind.clone(),
        adapter: r.device.name.clone(),
        backend: r.device.backend.clone(),
        driver: r.device.driver.clone(),
        decays_per_block: r.device.decays_per_block,
        compile_s: r.device.compile_s,
        load_average_1min,
    };
    if let Some(pct) = args.target_uncertainty {
        let mut s = settings.clone();
        s.stop = StopRule::TargetUncertainty {
            relative: pct / 100.0,
            threshold: 0.5,
            max_decays: 1e10 as u64,
        };
        let t = engine.install(|d| simulate(&p.model, &p.source, &s, d, &mut observer))?;
        row.target_sigma = Some(pct / 100.0);
        row.time_to_target_s = Some(t.wall_s);
        row.decays_to_target = Some(t.decays);
        row.batches_to_target = Some(t.batches);
        row.statistics_to_target_s = Some(t.statistics_s);
    }
    Ok(row)
}
