//! The crate error and its exit-code classes.
//!
//! Library modules that meet user input have their own error enum (`io::InputError`,
//! `kinetics::KineticsError`, `transport::gpu::DeviceError`, …), wrapped here. The binary prints
//! the chain and exits with [`Error::exit_code`]; the table is repeated in README.md.
//!
//! | code | class |
//! |---|---|
//! | 0 | success |
//! | 1 | internal error (a bug: please report it) |
//! | 2 | command-line usage (unknown flag, missing argument; clap) |
//! | 3 | invalid option value (negative decays, uncertainty out of range, …) |
//! | 4 | unknown name (nuclide, phantom, material, device) |
//! | 5 | output exists (voxdose never overwrites; use `--force` or another `--out`) |
//! | 6 | output not writable (permissions, missing parent, disk full) |
//! | 7 | compute device unavailable or too small for the problem |
//! | 8 | input file unreadable or malformed (DICOM, NIfTI, study file) |
//! | 9 | input data inconsistent (units, grids, times, non-finite values) |
//! | 10 | kinetics fit impossible (too few points, no convergence) |
//! | 11 | input file truncated (`io::InputError::Truncated`) |
//! | 12 | a required DICOM tag is missing or empty (geometry, PixelData, weight, dose) |
//! | 13 | pixel data cannot be decoded (e.g. a damaged JPEG stream) |
//! | 14 | transfer syntax not supported by this build (JPEG-LS without `--features jpeg-ls`) |
//! | 15 | emission image not quantitative (counts, no Bq/mL; use `--calibration-bq-ml-per-count`, in a study `calibration_bq_ml_per_count`) |
//! | 16 | activity in units voxdose cannot convert to Bq/mL |
//! | 17 | NaN or infinite voxel values |
//! | 18 | duplicate slice positions |
//! | 19 | uneven slice spacing (a missing slice) |
//! | 20 | several series, or incompatible slice geometry, in one input |
//! | 21 | CT and SPECT (or other inputs) do not overlap |
//! | 22 | RTSTRUCT in another frame of reference |
//! | 23 | wrong kind of series for the option (PET given to `--ct`, Secondary Capture, …) |
//! | 24 | folder without DICOM images |
//! | 25 | contradictory or missing times (scan before injection) |
//! | 26 | unusable region definition (label map that is not integer labels, no voxels) |
//! | 27 | negative activity |
//! | 28 | a required header key is missing or empty (Interfile) |
//! | 29 | a raw data file's size does not match its header (Interfile) |
//! | 30 | external input data not found (e.g. the `patient15` phantom's GATE files) |
//! | 31 | a dose map not in Gy (Gy per decay, RELATIVE) where BED needs absolute dose |
//! | 32 | a dose-rate model that is not a dose rate (negative, zero total, bad rates) |
//! | 33 | tissue parameters out of range (α/β ≤ 0, repair half-time ≤ 0) |
//! | 34 | a `voxdose fit` folder that cannot give the kinetics (no `regions.json`, no model, neither regions nor voxel kinetics) |
//! | 35 | GTM partial-volume correction refused: transfer matrix too poorly conditioned |
//! | 36 | partial-volume correction without a PSF FWHM (none given, none measured, no default) |
//! | 37 | recovery measurement impossible (spheres not found, too few, concentration ≤ background) |
//! | 38 | recovery curve file (`rc.json`) unusable |
//! | 39 | materials table or material label map unusable (`--materials-table`, `--layers`) |
//! | 40 | dose-voxel kernel cache unusable (`--method dvk`: unreadable or foreign kernel file) |
//! | 41 | shards or a checkpoint that do not make one run (other problem, missing or repeated shard, damaged batch file, unsplittable run) |
//! | 42 | stopped by SIGTERM/SIGINT after writing a checkpoint (continue with `voxdose run --resume DIR`) |
//! | 43 | `voxdose validate`: a case outside its tolerance (the results are written first) |
//! | 44 | `voxdose validate`: a case gave no finite value to compare (a bug or a broken device) |
//! | 45–46 | reserved for `voxdose validate` |
//! | 47 | twin folder locked by another voxdose |
//! | 48 | not a twin folder (no readable `twin.json`) |
//! | 49 | a synced cycle's inputs changed (use `--resync-cycle N`), or cycles missing |
//! | 50 | the twin cannot predict or plan (no synced cycle, no limits, no tissue) |
//! | 51 | SBML element outside the subset voxdose reads (`pbpk::PbpkError::Unsupported`) |
//! | 52 | SBML model inconsistent: undefined symbol, missing species, unit mismatch, cyclic rules |
//! | 53 | a model formula is not finite (division by zero at t = 0, …) |
//! | 54 | the PBRPK ODE solver failed |
//! | 55 | the PBRPK patient fit failed |
//! | 56 | a PBRPK JSON input (population, prior, S-values, patient model) is invalid |
//! | 57 | `voxdose report`: not a voxdose output folder (no summary.json, regions.json, bed_summary.json or twin.json) |
//! | 58 | `voxdose report`: a file of the folder is unreadable or not what voxdose writes |
//! | 59 | `voxdose report --pdf`: no headless Chromium found |
//! | 60 | `voxdose report --pdf`: the browser gave no PDF |
//! | 61 | output folder locked by another voxdose writing it (`--out`) |
//! | 62 | an input fails a sanity check: activity in the field of view above the injected activity (`--accept-activity-mismatch`), most of the activity outside the CT (`--accept-small-overlap`) |
//! | 63 | `voxdose twin predict --model pbpk`: the PBRPK model's organs do not match the twin's regions (use `--map`) |
//! | 70 | Slurm refused the job, or `sbatch` is not installed (`voxdose slurm --submit`) |
//! | 71 | the run needs more memory than the machine, the job's limit or `--mem` gives |
//! | 130 | cancelled by the caller (Ctrl-C in the Python package; [`Error::Cancelled`]) |

use std::path::PathBuf;

/// Result with the crate [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in voxdose, by class.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An option value that is out of its valid range.
    #[error("invalid value for {option}: {reason}")]
    InvalidOption {
        /// The option as the user typed it, e.g. `--decays`.
        option: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A name that voxdose does not know.
    #[error("unknown {what} '{name}'; known: {known}{}", list_hint(what))]
    UnknownName {
        /// What kind of name (nuclide, phantom, …).
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that are known, comma separated.
        known: String,
    },
    /// An output that already exists and would be overwritten.
    #[error("output {path} already exists; voxdose never overwrites results: choose another --out or pass --force")]
    OutputExists {
        /// The existing path.
        path: PathBuf,
    },
    /// Another voxdose is writing the same output folder.
    #[error("{path} is being written by another voxdose (process {pid}, since {since}); wait for it to finish, or choose another --out (if no such process runs, remove {lock})")]
    OutputLocked {
        /// The output folder.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The process holding the lock.
        pid: u32,
        /// When it took the lock (UTC).
        since: String,
    },
    /// An input that fails a sanity check (`run::sanity`); a flag accepts it.
    #[error("{detail}; if the input is right after all, rerun with {flag}")]
    SanityCheck {
        /// Which check (activity, overlap).
        check: &'static str,
        /// What was found.
        detail: String,
        /// The flag that accepts it.
        flag: &'static str,
    },
    /// An output that cannot be written.
    #[error("cannot write {path}: {source}; {hint}", hint = write_hint(path, source))]
    OutputNotWritable {
        /// The path that failed.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or understanding an input file failed.
    #[error(transparent)]
    Input(#[from] crate::io::InputError),
    /// The compute device is unavailable or too small.
    #[error(transparent)]
    Device(#[from] crate::transport::gpu::DeviceError),
    /// The kinetics model could not be built or fitted.
    #[error(transparent)]
    Kinetics(#[from] crate::kinetics::KineticsError),
    /// BED could not be computed from the inputs given.
    #[error(transparent)]
    Radiobiology(#[from] crate::radiobiology::RadiobiologyError),
    /// Partial-volume correction or a recovery measurement could not be done.
    #[error(transparent)]
    PartialVolume(#[from] crate::kinetics::PvcError),
    /// The twin folder could not be used as asked.
    #[error(transparent)]
    Twin(#[from] crate::twin::TwinError),
    /// A PBRPK model could not be read, checked, simulated or fitted.
    #[error(transparent)]
    Pbpk(#[from] crate::pbpk::PbpkError),
    /// A materials table or material label map could not be used.
    #[error(transparent)]
    Materials(#[from] crate::run::materials::MaterialsError),
    /// A cached dose-voxel kernel could not be used.
    #[error(transparent)]
    Kernel(#[from] crate::run::dvk::KernelError),
    /// A shard, merge, checkpoint or Slurm job could not be done.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// The caller asked the run to stop ([`crate::transport::Observer::cancelled`]; Ctrl-C in
    /// the Python package). Nothing is written.
    #[error(
        "cancelled: the run was stopped at the caller's request (Ctrl-C); nothing was written"
    )]
    Cancelled,
    /// The run stopped after its time estimate, as asked (`voxdose run --estimate-only`;
    /// [`crate::transport::Observer::stop_after_estimate`]). Nothing is written; exit 0.
    #[error("stopped after the time estimate (--estimate-only); nothing was written")]
    StoppedAfterEstimate,
    /// A report could not be made or printed.
    #[error(transparent)]
    Report(#[from] crate::report::html::ReportError),
    /// `voxdose validate` found a case outside its tolerance, or could not compare one.
    #[error(transparent)]
    Validation(#[from] crate::validate::ValidationError),
    /// A run that needs more memory than it may use.
    #[error("this run needs about {need} ({voxels} voxels) and {what} allows {limit}: use a coarser grid (--voxel-mm, --grid), a smaller region of the scan, or a machine or job with more memory (--mem)")]
    MemoryTooLarge {
        /// Estimated need.
        need: String,
        /// The limit.
        limit: String,
        /// What set the limit.
        what: String,
        /// Voxels of the run.
        voxels: u64,
    },
    /// A bug: an invariant voxdose relies on does not hold.
    #[error("internal error: {0}; please report this with the command line you ran")]
    Internal(String),
}

/// What to do about an output that cannot be written, by the kind of failure: a full disk
/// says how much room is left on it and that the outputs already there were kept.
fn write_hint(path: &std::path::Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            let free = free_bytes(path)
                .map(|b| format!(" ({:.1} MB free there now)", b as f64 / 1e6))
                .unwrap_or_default();
            format!("the disk or quota is full{free}: free space or choose --out on another disk; the outputs already in the folder were kept as they were")
        }
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "you may not write there: choose an --out you own, on a writable disk".into()
        }
        _ => "check the folder exists and is writable".into(),
    }
}

/// Bytes available to this user on the file system holding `path` (or its nearest existing
/// ancestor).
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Where the user finds the list of known names, by kind of name.
fn list_hint(what: &str) -> &'static str {
    match what {
        "nuclide" => {
            " (`voxdose nuclides` lists them with their decay data; names are written like Lu-177)"
        }
        "phantom" | "material" => " (`voxdose phantoms` lists the phantoms and materials)",
        _ => "",
    }
}

impl Error {
    /// The process exit code for this error's class (see the module table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Internal(_) => 1,
            Error::InvalidOption { .. } => 3,
            Error::UnknownName { .. } => 4,
            Error::OutputExists { .. } => 5,
            Error::OutputNotWritable { .. } => 6,
            Error::OutputLocked { .. } => 61,
            Error::SanityCheck { .. } => 62,
            Error::Device(_) => 7,
            Error::Input(e) => e.exit_code(),
            Error::Kinetics(e) => e.exit_code(),
            Error::Radiobiology(e) => e.exit_code(),
            Error::PartialVolume(e) => e.exit_code(),
            Error::Twin(e) => e.exit_code(),
            Error::Pbpk(e) => e.exit_code(),
            Error::Materials(e) => e.exit_code(),
            Error::Kernel(e) => e.exit_code(),
            Error::Cluster(e) => e.exit_code(),
            Error::MemoryTooLarge { .. } => 71,
            Error::Cancelled => 130,
            Error::StoppedAfterEstimate => 0,
            Error::Report(e) => e.exit_code(),
            Error::Validation(e) => e.exit_code(),
        }
    }

    /// Shorthand for [`Error::InvalidOption`].
    pub fn invalid(option: &str, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named_with_the_room_left_and_what_was_kept() {
        let dir = std::env::temp_dir();
        let e = Error::OutputNotWritable {
            path: dir.join("out/dose.nii.gz"),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        let text = e.to_string();
        assert!(text.contains("disk or quota is full"), "{text}");
        assert!(text.contains("MB free there now"), "{text}");
        assert!(text.contains("were kept"), "{text}");
        assert_eq!(e.exit_code(), 6);
        let denied = Error::OutputNotWritable {
            path: dir.join("x"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(denied.to_string().contains("you may not write there"));
    }
}
