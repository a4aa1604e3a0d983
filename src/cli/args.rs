//! Command-line arguments exactly as typed. Validation into typed configurations happens in
//! the commands (`RunConfig::from_args` and friends), once, before any work starts.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// voxdose: voxel Monte Carlo dosimetry for radiopharmaceutical therapy.
#[derive(Debug, Parser)]
#[command(name = "voxdose", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The voxdose commands.
#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing the arguments would buy nothing"
)]
pub enum Command {
    /// Run the transport on a built-in phantom, a patient (CT + SPECT) or a study; write dose.
    Run(RunArgs),
    /// Report decays per second (and time to a target uncertainty) on built-in phantoms.
    Bench(BenchArgs),
    /// List the built-in phantoms and their parameters.
    Phantoms,
    /// List the nuclides voxdose has decay data for.
    Nuclides,
    /// Fit time–activity curves of a study and write time-integrated activity.
    Fit(FitArgs),
    /// Print what voxdose understands of a DICOM series or NIfTI file, without running anything.
    Inspect(InspectArgs),
    /// PBRPK (SBML) models: simulate a scenario, or fit a patient's measured organ TACs.
    #[command(subcommand)]
    Pbpk(PbpkCommand),
    /// Virtual trial: sampled patients of a PBRPK model → organ TIAs, doses, BED, percentiles.
    Trial(TrialArgs),
}

/// Where the transport runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum DeviceChoice {
    /// A real GPU if present, else the CPU reference transport.
    #[default]
    Auto,
    /// A wgpu adapter (a real GPU, or lavapipe when that is the only Vulkan device).
    Gpu,
    /// The CPU reference transport (Rust, all cores).
    Cpu,
}

/// Which absorbed dose is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum DoseTo {
    /// Dose to the medium in each voxel (energy / voxel mass).
    #[default]
    Medium,
    /// Dose to water (medium dose × water/medium electron stopping-power ratio).
    Water,
}

/// Transport options shared by `run` and `bench`.
#[derive(Clone, Debug, Args)]
pub struct TransportArgs {
    /// Nuclide, e.g. Lu-177 (see `voxdose nuclides`). For patient runs this overrides what the
    /// DICOM says, with a warning.
    #[arg(long)]
    pub nuclide: Option<String>,
    /// Number of decays to simulate (e.g. 1e6). Default 1e6 unless --target-uncertainty is set.
    #[arg(long, value_name = "N")]
    pub decays: Option<f64>,
    /// Stop when the relative standard uncertainty (%) in voxels above 50 % of the maximum dose
    /// reaches this value.
    #[arg(long, value_name = "PCT")]
    pub target_uncertainty: Option<f64>,
    /// Upper bound on decays when running to a target uncertainty.
    #[arg(long, value_name = "N", default_value_t = 1e9)]
    pub max_decays: f64,
    /// Random seed; the same seed on the same device gives the same result.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of history batches used for the per-voxel uncertainty (≥ 2).
    #[arg(long, default_value_t = 20)]
    pub batches: u32,
    /// Electron kinetic-energy cutoff in keV; below it energy is deposited locally.
    #[arg(long, default_value_t = 10.0)]
    pub electron_cutoff_kev: f64,
    /// Photon energy cutoff in keV; below it energy is deposited locally.
    #[arg(long, default_value_t = 10.0)]
    pub photon_cutoff_kev: f64,
    /// Where to run the transport.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Report dose to medium (default) or to water.
    #[arg(long, value_enum, default_value_t = DoseTo::Medium)]
    pub dose_to: DoseTo,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Built-in phantom parameters.
#[derive(Clone, Debug, Args)]
pub struct PhantomArgs {
    /// Built-in phantom (see `voxdose phantoms`).
    #[arg(long)]
    pub phantom: Option<String>,
    /// Source sphere radius in mm (water-sphere; default 10).
    #[arg(long)]
    pub radius_mm: Option<f64>,
    /// Voxel size in mm (default per phantom).
    #[arg(long)]
    pub voxel_mm: Option<f64>,
    /// Grid size in voxels per side (default per phantom).
    #[arg(long)]
    pub grid: Option<usize>,
    /// Medium of the phantom or of the VSV kernel (e.g. water, soft-tissue, cortical-bone).
    #[arg(long)]
    pub material: Option<String>,
}

/// `voxdose run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Built-in phantom options.
    #[command(flatten)]
    pub phantom: PhantomArgs,
    /// Transport options.
    #[command(flatten)]
    pub transport: TransportArgs,
    /// CT series folder (DICOM) or NIfTI file of HU values.
    #[arg(long)]
    pub ct: Option<PathBuf>,
    /// Quantitative SPECT or PET series folder (DICOM) or NIfTI activity map in Bq/mL.
    #[arg(long)]
    pub spect: Option<PathBuf>,
    /// RTSTRUCT file giving named regions.
    #[arg(long)]
    pub rtstruct: Option<PathBuf>,
    /// NIfTI label map giving named regions (non-zero labels).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Time-integrated activity map (NIfTI, Bq·s per voxel) to scale the dose to Gy.
    #[arg(long)]
    pub tia: Option<PathBuf>,
    /// Total time-integrated activity in Bq·s for a phantom run (dose in Gy instead of Gy/decay).
    #[arg(long, value_name = "BQ_S")]
    pub tia_bq_s: Option<f64>,
    /// With a single SPECT: derive the TIA by this documented rule (`physical-decay` or
    /// `hanscheid`); the rule is written into the outputs.
    #[arg(long)]
    pub tia_from_single_scan: Option<String>,
    /// Hours between administration and the single scan (for --tia-from-single-scan).
    #[arg(long)]
    pub scan_hours: Option<f64>,
    /// Calibration factor (Bq/mL per count) for a SPECT without quantitative units.
    #[arg(long)]
    pub calibration_bq_ml_per_count: Option<f64>,
    /// Study file (JSON): fit the kinetics, then run the transport on the TIA map.
    #[arg(long)]
    pub study: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `voxdose bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Phantoms to benchmark (default: water-sphere, nema-iec, and patient15 when its GATE
    /// files are found; patient15-256 only on request).
    #[arg(long, value_delimiter = ',')]
    pub phantoms: Vec<String>,
    /// Decays per phantom for the throughput figure.
    #[arg(long, default_value_t = 2e6)]
    pub decays: f64,
    /// Also report the time to this relative uncertainty (%) in voxels above 50 % of max.
    #[arg(long)]
    pub target_uncertainty: Option<f64>,
    /// Where to run; a comma-separated list (e.g. `cpu,gpu`) runs each phantom on each
    /// device in turn, side by side under the same machine load.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [DeviceChoice::Auto])]
    pub device: Vec<DeviceChoice>,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// GPU rows: decays per work-queue block of the transport kernel (1 to 32), a
    /// comma-separated list to compare on new hardware (e.g. `8,16,32`), one row each. The
    /// dose does not depend on it. Default: the device's own (32 on lavapipe, 8 on a GPU).
    #[arg(long, value_delimiter = ',')]
    pub decays_per_block: Vec<u32>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `voxdose fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Study file (JSON).
    pub study: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
}

/// `voxdose inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A DICOM file, a DICOM series folder or a NIfTI file.
    pub path: PathBuf,
}

/// `voxdose pbpk ...`.
#[derive(Debug, Subcommand)]
pub enum PbpkCommand {
    /// Simulate an SBML model: organ activities (tacs.csv) and time-integrated activities (tia.json).
    Simulate(PbpkSimulateArgs),
    /// Fit chosen parameters to a patient's organ TACs (the output of `voxdose fit`) by MAP.
    Fit(PbpkFitArgs),
}

/// The model, doses and solver options every PBRPK command shares.
#[derive(Debug, Args)]
pub struct PbpkModelArgs {
    /// The SBML model file (PyCNO's PSMA.sbml, reduced.sbml, or your own).
    #[arg(long)]
    pub model: PathBuf,
    /// Amounts in nmol added to species as `Compartment.Species=NMOL,...`, e.g.
    /// "Vein.Hot=10,Vein.Cold=100". Repeat for several boluses (paired with --dose-at-min).
    #[arg(long, required = true)]
    pub dose: Vec<String>,
    /// Time of each --dose, min (repeatable or comma separated; default 0; one --dose with
    /// several times repeats it).
    #[arg(long, value_delimiter = ',')]
    pub dose_at_min: Vec<f64>,
    /// Parameter override NAME=VALUE (model units), repeatable.
    #[arg(long)]
    pub param: Vec<String>,
    /// The nuclide whose half-life sets the molar activity (MBq per nmol).
    #[arg(long, default_value = "Lu-177")]
    pub nuclide: String,
    /// Relative tolerance of the ODE solver (1e-6 agrees with CVODE at 1e-10 to 4e-7 on
    /// PSMA.sbml's organ TIAs).
    #[arg(long, default_value_t = 1e-6)]
    pub rtol: f64,
    /// Absolute tolerance of the ODE solver on amounts, nmol.
    #[arg(long, default_value_t = 1e-12)]
    pub atol_nmol: f64,
}

/// `voxdose pbpk simulate`.
#[derive(Debug, Args)]
pub struct PbpkSimulateArgs {
    /// Model, doses, parameters, solver.
    #[command(flatten)]
    pub model: PbpkModelArgs,
    /// Output times START:END:STEP in minutes, e.g. 0:20160:10 (14 days every 10 min).
    #[arg(long)]
    pub minutes: String,
    /// Output folder (tacs.csv, tia.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
}

/// `voxdose pbpk fit`.
#[derive(Debug, Args)]
pub struct PbpkFitArgs {
    /// Model, doses (as administered in the fitted cycle), fixed parameters, solver.
    #[command(flatten)]
    pub model: PbpkModelArgs,
    /// The output folder of `voxdose fit` (its regions.json holds the measured region TACs).
    #[arg(long)]
    pub fit: PathBuf,
    /// Organs to measured regions: "Kidney=kidney_left+kidney_right,SG=parotid".
    #[arg(long)]
    pub map: String,
    /// Parameters to fit, comma separated (model names).
    #[arg(long, value_delimiter = ',', required = true)]
    pub params: Vec<String>,
    /// Population priors (JSON; format in README). Default: log-normal around the model's
    /// value with a geometric SD of e (σ of ln = 1).
    #[arg(long)]
    pub prior: Option<PathBuf>,
    /// The cycle of regions.json to fit (1-based).
    #[arg(long, default_value_t = 1)]
    pub cycle: usize,
    /// Relative one-σ of each measured activity (fit weights).
    #[arg(long, default_value_t = 0.1)]
    pub activity_rel_sigma: f64,
    /// Where to write the patient model (default: FIT/pbpk_patient.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing patient model file.
    #[arg(long)]
    pub force: bool,
}

/// `voxdose trial`.
#[derive(Debug, Args)]
pub struct TrialArgs {
    /// Model, doses, fixed parameters, solver.
    #[command(flatten)]
    pub model: PbpkModelArgs,
    /// Population distributions of parameters (JSON; format in README).
    #[arg(long)]
    pub population: PathBuf,
    /// Number of virtual patients.
    #[arg(long, default_value_t = 1000)]
    pub patients: usize,
    /// Seed of the parameter sampling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Organ S-values (JSON, Gy per decay or mGy per MBq·s; format in README). Without it,
    /// only TIAs are reported.
    #[arg(long)]
    pub s_values: Option<PathBuf>,
    /// Window of the TIA (and dose) in minutes after the first dose; default: to infinity.
    #[arg(long)]
    pub window_min: Option<f64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output folder (patients.csv, summary.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}
