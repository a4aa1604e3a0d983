//! Command-line arguments exactly as typed. The commands lower them into the library's typed
//! configurations (`crate::run::RunConfig` and friends), which validate once, before any work
//! starts. Choices that the library names (`--device`, `--dose-to`,
//! `--tia-from-single-scan`) are parsed into the library's own enums here.

use crate::run::{DoseTo, SingleScanRule};
use crate::transport::DeviceChoice;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// `--device auto|gpu|cpu`.
fn device_parser() -> impl TypedValueParser<Value = DeviceChoice> {
    PossibleValuesParser::new(DeviceChoice::NAMES).try_map(|s| s.parse::<DeviceChoice>())
}

/// `--dose-to medium|water`.
fn dose_to_parser() -> impl TypedValueParser<Value = DoseTo> {
    PossibleValuesParser::new(DoseTo::NAMES).try_map(|s| s.parse::<DoseTo>())
}

/// `--method mc|dvk|ldm`.
fn method_parser() -> impl TypedValueParser<Value = crate::run::dvk::DoseMethod> {
    PossibleValuesParser::new(crate::run::dvk::DoseMethod::NAMES)
        .try_map(|s| s.parse::<crate::run::dvk::DoseMethod>())
}

/// `--tia-from-single-scan physical-decay|hanscheid`.
fn rule_parser() -> impl TypedValueParser<Value = SingleScanRule> {
    PossibleValuesParser::new(SingleScanRule::NAMES).try_map(|s| s.parse::<SingleScanRule>())
}

/// voxdose: voxel Monte Carlo dosimetry for radiopharmaceutical therapy.
///
/// Negative numbers are taken as values (`--decays -5` is refused by the check of
/// `--decays`, exit 3, not read as an unknown flag).
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
    #[command(allow_negative_numbers = true)]
    Run(RunArgs),
    /// Merge the shards of one run (`run --shard K/N`) into that run's outputs, bit for bit.
    Merge(MergeArgs),
    /// Write (and with --submit, submit) a Slurm array job of a run's shards and its merge.
    Slurm(SlurmArgs),
    /// Report decays per second (and time to a target uncertainty) on built-in phantoms.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// List the built-in phantoms and their parameters.
    Phantoms,
    /// List the nuclides voxdose has decay data for.
    Nuclides,
    /// Fit time–activity curves of a study and write time-integrated activity.
    #[command(allow_negative_numbers = true)]
    Fit(FitArgs),
    /// Print what voxdose understands of a DICOM series or NIfTI file, without running anything.
    Inspect(InspectArgs),
    /// BED, EQD2 and EUBED maps from an absorbed-dose map (Gy) and the kinetics.
    #[command(allow_negative_numbers = true)]
    Bed(BedArgs),
    /// The theranostic digital twin of a patient: init, sync, predict, plan, status.
    #[command(allow_negative_numbers = true)]
    Twin(TwinArgs),
    /// Measure recovery coefficients on a sphere-phantom scan and fit the RC(volume) curve.
    #[command(allow_negative_numbers = true)]
    Recovery(RecoveryArgs),
    /// PBRPK (SBML) models: simulate a scenario, or fit a patient's measured organ TACs.
    #[command(subcommand)]
    Pbpk(PbpkCommand),
    /// Virtual trial: sampled patients of a PBRPK model → organ TIAs, doses, BED, percentiles.
    #[command(allow_negative_numbers = true)]
    Trial(TrialArgs),
    /// One self-contained HTML report (and PDF) of an output folder: run, fit, study, bed, twin.
    Report(ReportArgs),
    /// Run the benchmark cases against published references (XCOM, ESTAR, ICRP-107, CPE,
    /// voxel S values of Lanconelli et al. 2012 and MIRD 17).
    Validate(ValidateArgs),
}

/// `voxdose validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Install check: seconds per case (the default).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// 10 to 25 times the histories of --quick (σ at the published precision).
    #[arg(long)]
    pub full: bool,
    /// Where the full-transport cases run (energy per decay, CPE sphere, voxel S values)
    /// [default: auto].
    #[arg(long, value_parser = device_parser())]
    pub device: Option<DeviceChoice>,
    /// Only these cases (comma separated; an unknown name lists them all).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Output folder for validation.json, validation.csv and report.html (the HTML page).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace validation.json and validation.csv in --out.
    #[arg(long)]
    pub force: bool,
}

/// Transport options of `run` (with `--config`, the ones given override the file's).
#[derive(Clone, Debug, Default, Args)]
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
    /// Upper bound on decays when running to a target uncertainty [default: 1e9].
    #[arg(long, value_name = "N")]
    pub max_decays: Option<f64>,
    /// Random seed; the same seed on the same device gives the same result [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of history batches used for the per-voxel uncertainty (≥ 2) [default: 20].
    #[arg(long)]
    pub batches: Option<u32>,
    /// Electron kinetic-energy cutoff in keV; below it energy is deposited locally
    /// [default: 10].
    #[arg(long)]
    pub electron_cutoff_kev: Option<f64>,
    /// Photon energy cutoff in keV; below it energy is deposited locally [default: 10].
    #[arg(long)]
    pub photon_cutoff_kev: Option<f64>,
    /// Where to run the transport [default: auto].
    #[arg(long, value_parser = device_parser())]
    pub device: Option<DeviceChoice>,
    /// Report dose to medium or to water [default: medium].
    #[arg(long, value_parser = dose_to_parser())]
    pub dose_to: Option<DoseTo>,
    /// CPU threads, 1 to 1024 (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory the run may use, GB: a run that needs more (its estimate is printed before it
    /// starts) is refused (exit code 71). The available memory and the job's limit apply too.
    #[arg(long, value_name = "G")]
    pub mem: Option<f64>,
    /// How the dose is computed: mc (Monte Carlo, default), dvk (dose-voxel-kernel
    /// convolution, kernel made by voxdose's MC and cached) or ldm (local deposition).
    #[arg(long, value_parser = method_parser())]
    pub method: Option<crate::run::dvk::DoseMethod>,
    /// dvk: scale each voxel's dose by kernel density / voxel density.
    #[arg(long)]
    pub density_scaling: bool,
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
    /// `slabs` phantom: layers along z, `MATERIAL:THICKNESS_MM[@DENSITY]`, comma separated,
    /// e.g. `water:20,cortical-bone:10,lung:20@0.26,water:20`.
    #[arg(long)]
    pub layers: Option<String>,
    /// `slabs` phantom: the layer holding the uniform source, numbered from 1 (default 1).
    #[arg(long)]
    pub source_layer: Option<usize>,
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
    #[arg(long, value_parser = rule_parser())]
    pub tia_from_single_scan: Option<SingleScanRule>,
    /// Hours between administration and the single scan (for --tia-from-single-scan).
    #[arg(long)]
    pub scan_hours: Option<f64>,
    /// Calibration factor (Bq/mL per count) for a SPECT without quantitative units.
    #[arg(long)]
    pub calibration_bq_ml_per_count: Option<f64>,
    /// Accept a SPECT/PET whose activity in the field of view exceeds the injected activity
    /// (decayed to the scan) by more than 20 % (refused otherwise, exit 62).
    #[arg(long)]
    pub accept_activity_mismatch: bool,
    /// Accept a SPECT more than half of whose activity lies outside the CT.
    #[arg(long)]
    pub accept_small_overlap: bool,
    /// Bits per RT Dose value (patient runs): 32 (default; quantum max/4 294 967 295) or 16
    /// (quantum max/65 535, for planning systems that read only 16-bit doses).
    #[arg(long, value_name = "BITS", value_parser = ["16", "32"])]
    pub rtdose_bits: Option<String>,
    /// PatientID of the RT Dose (patient runs): for a NIfTI CT, or to replace the DICOM's.
    #[arg(long, value_name = "ID")]
    pub patient_id: Option<String>,
    /// StudyInstanceUID of the RT Dose (patient runs): for a NIfTI CT, or to replace the
    /// DICOM's.
    #[arg(long, value_name = "UID")]
    pub study_uid: Option<String>,
    /// FrameOfReferenceUID of the RT Dose (patient runs): the frame the CT's coordinates are
    /// in, for a NIfTI CT, or to replace the DICOM's.
    #[arg(long, value_name = "UID")]
    pub frame_of_reference_uid: Option<String>,
    /// Study file (JSON): fit the kinetics, then run the transport on the TIA map.
    #[arg(long)]
    pub study: Option<PathBuf>,
    /// NIfTI label map of materials (instead of --ct); needs --materials-table and --tia or
    /// --spect on the same space.
    #[arg(long, requires = "materials_table")]
    pub materials: Option<PathBuf>,
    /// Materials table (JSON) for --materials: {"1": {"material": "water", "density_g_cm3": 1.0}, …}.
    #[arg(long, requires = "materials")]
    pub materials_table: Option<PathBuf>,
    /// Partial-volume correction of a study's region activities (overrides the study's
    /// `partial_volume`).
    #[command(flatten)]
    pub pvc: PvcArgs,
    /// A saved run configuration (the `run.json` every run writes): run it again. Transport
    /// options given with it override the file's.
    #[arg(long, value_name = "RUN_JSON", conflicts_with_all = ["phantom", "ct", "spect", "study", "materials", "materials_table", "layers", "source_layer", "rtstruct", "labels", "tia", "tia_bq_s", "tia_from_single_scan", "scan_hours", "calibration_bq_ml_per_count", "radius_mm", "voxel_mm", "grid", "material", "pvc", "psf_fwhm_mm", "rc_curve", "rtdose_bits", "patient_id", "study_uid", "frame_of_reference_uid"])]
    pub config: Option<PathBuf>,
    /// Output folder.
    #[arg(long, required_unless_present_any = ["resume", "estimate_only"])]
    pub out: Option<PathBuf>,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the time estimate (a pilot of the first decays, about a second of transport)
    /// and stop, exit 0, writing nothing (--out is not needed, and not touched): to size a
    /// cluster job.
    #[arg(long, conflicts_with_all = ["shard", "checkpoint_every_s", "resume", "report"])]
    pub estimate_only: bool,
    /// Run only the K-th of N equal parts of the decays and write a shard file
    /// (`shard.json`, `shard.bin`) instead of dose maps; `voxdose merge` makes the run of them.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Write a checkpoint into --out this often (seconds); SIGTERM/SIGINT write one too and
    /// stop the run (exit code 42). Continue with `voxdose run --resume DIR`.
    #[arg(long, value_name = "S")]
    pub checkpoint_every_s: Option<f64>,
    /// Continue the run whose checkpoint is in DIR (its configuration is in the checkpoint).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out", "shard", "phantom", "ct", "spect", "study", "materials"])]
    pub resume: Option<PathBuf>,
    /// Also write the HTML report of the output folder (`report.html`, as `voxdose report`).
    #[arg(long)]
    pub report: bool,
}

/// `voxdose merge`.
#[derive(Clone, Debug, Args)]
pub struct MergeArgs {
    /// The shard folders (each holding `shard.json` and `shard.bin`), in any order.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
    /// Output folder for the merged run.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

/// `voxdose slurm`.
#[derive(Clone, Debug, Args)]
pub struct SlurmArgs {
    /// The run configuration (`run.json`, as every run writes it).
    #[arg(
        long,
        value_name = "RUN_JSON",
        required_unless_present = "configs",
        conflicts_with = "configs"
    )]
    pub config: Option<PathBuf>,
    /// A text file listing run configurations, one path per line (patients, what-ifs).
    #[arg(long, value_name = "LIST")]
    pub configs: Option<PathBuf>,
    /// Shards per run (array tasks).
    #[arg(long)]
    pub shards: u32,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each task, HH:MM:SS or D-HH:MM:SS.
    #[arg(long)]
    pub time: Option<String>,
    /// Memory of each task, GB.
    #[arg(long, value_name = "G")]
    pub mem: Option<f64>,
    /// CPU cores per task (the shard's --threads).
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: u32,
    /// Seconds between the tasks' checkpoints.
    #[arg(long, value_name = "S", default_value_t = 300.0)]
    pub checkpoint_every_s: f64,
    /// Submit the array job and the merge job (`sbatch`) and print their ids.
    #[arg(long)]
    pub submit: bool,
    /// The job folder (scripts, tasks, logs, each run's shards and merged outputs).
    #[arg(long)]
    pub out: PathBuf,
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
    /// Where to run (auto, gpu, cpu); a comma-separated list (e.g. `cpu,gpu`) runs each
    /// phantom on each device in turn, side by side under the same machine load
    /// [default: auto].
    #[arg(long, value_parser = device_parser(), value_delimiter = ',')]
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
    /// Study file (JSON; docs/study-file.md): cycles of scans, each a NIfTI in the study's
    /// `units` or a DICOM NM/PT series (its own units; its times when the study gives
    /// none), labels as a NIfTI label map or an RTSTRUCT.
    pub study: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
    /// Partial-volume correction (overrides the study's `partial_volume`).
    #[command(flatten)]
    pub pvc: PvcArgs,
    /// Also write the HTML report of the output folder (`report.html`, as `voxdose report`).
    #[arg(long)]
    pub report: bool,
}

/// Partial-volume correction flags; each replaces the study file's `partial_volume` value.
#[derive(Clone, Debug, Default, Args)]
pub struct PvcArgs {
    /// Partial-volume correction of region activities: gtm, rc-curve or none.
    #[arg(long, value_name = "METHOD")]
    pub pvc: Option<String>,
    /// PSF FWHM in mm for GTM: one value, or x,y,z along the map grid's axes. Without it
    /// (or the study's), GTM takes the rc_curve's FWHM, else the first scan's DICOM
    /// SpatialResolution, else the documented default for its collimator (assumed, warned).
    #[arg(long, value_name = "MM", value_delimiter = ',')]
    pub psf_fwhm_mm: Vec<f64>,
    /// Recovery curve (rc.json from `voxdose recovery`) for --pvc rc-curve.
    #[arg(long, value_name = "RC_JSON")]
    pub rc_curve: Option<PathBuf>,
}

/// `voxdose recovery`.
#[derive(Debug, Args)]
pub struct RecoveryArgs {
    /// The phantom scan: quantitative SPECT/PET (DICOM folder or file) or NIfTI in Bq/mL.
    #[arg(long, required_unless_present = "synthetic_fwhm_mm")]
    pub spect: Option<PathBuf>,
    /// Instead of a scan: a synthetic NEMA IEC scan blurred by a Gaussian of this FWHM (mm).
    #[arg(long, value_name = "MM", conflicts_with = "spect")]
    pub synthetic_fwhm_mm: Option<f64>,
    /// Voxel size of the synthetic scan, mm.
    #[arg(long, default_value_t = 4.0, requires = "synthetic_fwhm_mm")]
    pub voxel_mm: f64,
    /// Label map of the spheres (NIfTI; each non-zero label one sphere).
    #[arg(long, required_unless_present = "phantom")]
    pub labels: Option<PathBuf>,
    /// Built-in phantom whose spheres are located in the scan: nema-iec.
    #[arg(long, conflicts_with = "labels")]
    pub phantom: Option<String>,
    /// True sphere activity concentration at the scan time, Bq/mL.
    #[arg(long, value_name = "BQ_PER_ML")]
    pub concentration: f64,
    /// True background concentration at the scan time, Bq/mL (default 0: cold).
    #[arg(long, value_name = "BQ_PER_ML", default_value_t = 0.0)]
    pub background: f64,
    /// Bq/mL per count, for a scan in counts.
    #[arg(long)]
    pub calibration_bq_ml_per_count: Option<f64>,
    /// The recovery curve to write (JSON); the plot goes beside it as .png.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing --out and its plot.
    #[arg(long)]
    pub force: bool,
}

/// `voxdose inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A DICOM file, a DICOM series folder or a NIfTI file.
    pub path: PathBuf,
}

/// `voxdose bed`.
#[derive(Debug, Args)]
pub struct BedArgs {
    /// Absorbed dose in Gy: a NIfTI (voxdose's dose.nii.gz of a run with TIA, or another
    /// program's map, taken as Gy) or a DICOM RT Dose (DoseUnits GY).
    #[arg(long, value_name = "FILE")]
    pub dose: PathBuf,
    /// 1-σ of the dose: voxdose's uncertainty.nii.gz (relative) or an RT Dose of DoseType
    /// ERROR (Gy). Default: the uncertainty.nii.gz / rtdose_sigma.dcm beside the dose.
    #[arg(long, value_name = "FILE")]
    pub dose_uncertainty: Option<PathBuf>,
    /// Mono-exponential kinetics with this effective half-life (h); with --fit, used for
    /// regions the fit does not cover (where the dose is of one cycle, their voxels with a
    /// stored voxel fit keep their own curve).
    #[arg(long, value_name = "T")]
    pub effective_half_life_h: Option<f64>,
    /// Output folder of `voxdose fit` (or `voxdose run --study`): each voxel's own fitted
    /// curve where the fit stored one (its voxel_kinetics_cycle files), else its region's
    /// model.
    #[arg(long, value_name = "DIR")]
    pub fit: Option<PathBuf>,
    /// With --fit: the dose is of this cycle only (default: it holds every cycle of the fit,
    /// split per region by TIA share).
    #[arg(long, value_name = "N")]
    pub cycle: Option<usize>,
    /// Tissue from the built-in table: kidney, red-marrow, salivary-glands, liver, spleen,
    /// lacrimal-glands, tumour.
    #[arg(long, value_name = "NAME")]
    pub tissue: Option<String>,
    /// Custom tissue: α/β in Gy (with --repair-half-time-h).
    #[arg(long, value_name = "X")]
    pub alpha_beta_gy: Option<f64>,
    /// Custom tissue: repair half-time in h (with --alpha-beta-gy).
    #[arg(long, value_name = "Y")]
    pub repair_half_time_h: Option<f64>,
    /// α in 1/Gy, for EUBED (applies to every tissue, overriding the table).
    #[arg(long, value_name = "A")]
    pub alpha_per_gy: Option<f64>,
    /// Label map (NIfTI): one summary per label; with --fit, the study's label map.
    #[arg(long, value_name = "FILE.nii.gz")]
    pub labels: Option<PathBuf>,
    /// Tissue per label, e.g. "1=kidney,2=kidney,3=tumour" (needs --labels).
    #[arg(long, value_name = "MAP")]
    pub tissue_map: Option<String>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing outputs in --out.
    #[arg(long)]
    pub force: bool,
}

/// `voxdose twin`.
#[derive(Debug, Args)]
pub struct TwinArgs {
    /// What to do with the twin.
    #[command(subcommand)]
    pub command: TwinCommand,
}

/// The twin's commands.
#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing the arguments would buy nothing"
)]
pub enum TwinCommand {
    /// Create a twin folder from a study: fit, dose, S-matrix and BED of every cycle.
    Init(TwinInitArgs),
    /// Bring in what is new in the study (a new cycle, new time points of the last one).
    Sync(TwinSyncArgs),
    /// Predict the next cycle(s) at an activity: dose, BED, cumulative BED with 95 % intervals
    /// (from the measured kinetics, or from a PBRPK model with --model pbpk).
    Predict(TwinPredictArgs),
    /// The largest activity per remaining cycle that keeps every limited organ within its limit.
    Plan(TwinPlanArgs),
    /// The cycles, margins, prediction errors and baseline uptake.
    Status(TwinStatusArgs),
}

/// `voxdose twin init`.
#[derive(Debug, Args)]
pub struct TwinInitArgs {
    /// The twin folder (new or empty).
    pub dir: PathBuf,
    /// The study file (docs/study-file.md); it must have a label map.
    #[arg(long)]
    pub study: PathBuf,
    /// CT for the transport medium when the study names no reference_ct.
    #[arg(long)]
    pub ct: Option<PathBuf>,
    /// Limits and region tissues: {"limits": [{"organ": "kidney", "quantity": "bed",
    /// "value_gy": 28}], "tissues": {"lesion_1": "tumour"}}.
    #[arg(long)]
    pub limits: Option<PathBuf>,
    /// Patient identifier (default: the study file's name).
    #[arg(long)]
    pub patient_id: Option<String>,
    /// Decays per source region of each cycle's S-matrix.
    #[arg(long, value_name = "N", default_value_t = 2e5)]
    pub smatrix_decays: f64,
    /// A baseline PET (e.g. PSMA PET; DICOM folder or NIfTI in Bq/mL): SUVmean/SUVmax per lesion.
    #[arg(long)]
    pub baseline_pet: Option<PathBuf>,
    /// Body weight for the baseline PET's SUV when its DICOM does not give it, kg.
    #[arg(long, requires = "baseline_pet")]
    pub baseline_pet_weight_kg: Option<f64>,
    /// Injected activity of the baseline PET when its DICOM does not give it, MBq.
    #[arg(long, requires = "baseline_pet")]
    pub baseline_pet_injected_mbq: Option<f64>,
    /// Transport options of every cycle's dose (as for `voxdose run`).
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// `voxdose twin sync`.
#[derive(Debug, Args)]
pub struct TwinSyncArgs {
    /// The twin folder.
    pub dir: PathBuf,
    /// The study file with the new scans.
    #[arg(long)]
    pub study: PathBuf,
    /// Redo this already-synced cycle although its inputs changed (logged).
    #[arg(long, value_name = "N")]
    pub resync_cycle: Option<usize>,
    /// Also write the twin's HTML report (`DIR/report.html`, as `voxdose report DIR`).
    #[arg(long)]
    pub report: bool,
}

/// `voxdose twin predict`.
#[derive(Debug, Args)]
pub struct TwinPredictArgs {
    /// The twin folder.
    pub dir: PathBuf,
    /// Activity per cycle, GBq.
    #[arg(long, value_name = "GBQ")]
    pub activity_gbq: f64,
    /// Cycles at that activity.
    #[arg(long, default_value_t = 1)]
    pub cycles: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Prediction model: `kinetics`, the measured kinetics of the synced cycles (TIA per GBq,
    /// their spread); `pbpk`, a PBRPK model (SBML) fitted to the synced cycles, which
    /// predicts the TIAs for the planned activity and peptide amount (needs --pbpk-model).
    #[arg(long, value_enum, default_value_t = TwinPredictModel::Kinetics)]
    pub model: TwinPredictModel,
    /// The SBML model of `--model pbpk` (PyCNO conventions: Hot/Cold species, top-level
    /// compartments are organs).
    #[arg(
        long,
        value_name = "FILE.sbml",
        required_if_eq("model", "pbpk"),
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub pbpk_model: Option<PathBuf>,
    /// Unlabelled (cold) peptide of each predicted cycle, nmol [default: the latest fitted
    /// cycle's].
    #[arg(
        long,
        value_name = "NMOL",
        allow_negative_numbers = true,
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub cold_nmol: Option<f64>,
    /// A fitted patient (`voxdose pbpk fit` output) to use instead of fitting the model to the
    /// twin's cycles [default: the twin's DIR/pbpk/patient.json while it fits the model and
    /// cycles, else a new fit, stored there].
    #[arg(long, value_name = "FILE", help_heading = "PBPK model (--model pbpk)")]
    pub patient_model: Option<PathBuf>,
    /// Parameters to fit to the twin's cycles, comma separated (model names) [default: those
    /// of the twin's stored patient model].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAME,…",
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub params: Vec<String>,
    /// Cold peptide given in each synced cycle, nmol: one value for all, or one per cycle
    /// [default: as recorded in the twin's stored patient model].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NMOL,…",
        allow_negative_numbers = true,
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub measured_cold_nmol: Vec<f64>,
    /// Model organs to twin regions, "Kidney=kidney_left+kidney_right,Tumor=tumour_1"
    /// [default: by name or tissue: Kidney ↔ kidney_left, kidney_right; Tumor ↔ tumour_1].
    #[arg(long, value_name = "MAP", help_heading = "PBPK model (--model pbpk)")]
    pub map: Option<String>,
    /// Priors of the fit (the `voxdose pbpk fit --prior` format) [default: log-normal around
    /// the model's value, σ(ln) = 1].
    #[arg(long, value_name = "FILE", help_heading = "PBPK model (--model pbpk)")]
    pub prior: Option<PathBuf>,
    /// Compartment the peptide is injected into (its Hot and Cold species) [default: that of
    /// the patient model's doses, else Vein or Blood].
    #[arg(
        long,
        value_name = "COMPARTMENT",
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub inject_into: Option<String>,
    /// Samples of the fitted parameters behind the intervals (one simulation each).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 400,
        help_heading = "PBPK model (--model pbpk)"
    )]
    pub pbpk_samples: usize,
}

/// The model of `voxdose twin predict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TwinPredictModel {
    /// The measured kinetics of the synced cycles.
    #[value(alias = "kinetic")]
    Kinetics,
    /// A PBRPK model fitted to the synced cycles.
    Pbpk,
}

/// `voxdose twin plan`.
#[derive(Debug, Args)]
pub struct TwinPlanArgs {
    /// The twin folder.
    pub dir: PathBuf,
    /// A limit on cumulative BED or dose, e.g. kidney:bed=28 or red_marrow:dose=2 (repeat
    /// for several; default: the twin's limits).
    #[arg(long, value_name = "ORGAN:bed|dose=GY")]
    pub limit: Vec<String>,
    /// Cycles still to give at the planned activity.
    #[arg(long, default_value_t = 1)]
    pub cycles_left: usize,
    /// Probability that every limited organ stays within its limit.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `voxdose twin status`.
#[derive(Debug, Args)]
pub struct TwinStatusArgs {
    /// The twin folder.
    pub dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
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

/// `voxdose report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output folder of `voxdose run`, `fit`, `bed`, or a twin folder.
    pub dir: PathBuf,
    /// The HTML file to write [default: DIR/report.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also print it to PDF (beside the HTML) with a headless Chromium (chromium,
    /// chromium-headless-shell or google-chrome on PATH, or $VOXDOSE_CHROMIUM).
    #[arg(long)]
    pub pdf: bool,
}
