//! [`RunConfig`]: everything that defines a dose run, typed and (de)serialisable.
//!
//! The command line lowers its flags into one (`voxdose run …`), a saved one is read back by
//! `voxdose run --config run.json`, and every run writes the configuration it executed as
//! `run.json` into its output folder: the same file on the same device gives the same dose
//! bit for bit. Paths in a saved configuration are absolute, so it runs from any folder.
//!
//! [`RunConfig::validate`] checks every value once, before any work, with the option names
//! of the command line in its messages; [`TransportConfig::settings`] turns the transport
//! part into the validated [`TransportSettings`] (the nuclide loaded once).

use crate::phantoms::PhantomSpec;
use crate::physics::nuclide::Nuclide;
use crate::transport::{DeviceChoice, StopRule, TransportSettings};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A dose run: what to run, how to transport it, which dose to report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The voxdose version that wrote this configuration (informational; a different version
    /// runs it with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxdose_version: Option<String>,
    /// What to run: a built-in phantom, a patient or a study.
    pub input: Input,
    /// How to run the transport.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Which absorbed dose is reported.
    #[serde(default)]
    pub dose_to: DoseTo,
}

/// What a run simulates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Input {
    /// A built-in phantom (`--phantom`).
    Phantom(PhantomInput),
    /// A patient: CT + quantitative SPECT/PET (`--ct --spect`).
    Patient(PatientInput),
    /// A kinetics study: fit, then transport the TIA map (`--study`).
    Study(StudyInput),
    /// A label map of materials with a materials table instead of a CT
    /// (`--materials LABELS --materials-table TABLE`).
    Materials(MaterialsInput),
}

/// A material-map run (`voxdose run --materials LABELS.nii.gz --materials-table TABLE.json
/// --spect|--tia …`): the label map is the transport grid; each label's material and
/// density come from the table (`crate::run::materials`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialsInput {
    /// NIfTI label map (integer labels), the transport grid.
    pub labels: PathBuf,
    /// Materials table (JSON): label → material and density.
    pub table: PathBuf,
    /// Activity map (NIfTI, Bq/mL): the source, dose in Gy per decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spect: Option<PathBuf>,
    /// Time-integrated activity map (NIfTI, Bq·s per voxel): the source and the dose scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tia: Option<PathBuf>,
}

/// A built-in phantom run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhantomInput {
    /// The phantom and its parameters.
    pub phantom: PhantomSpec,
    /// Total time-integrated activity, Bq·s (`--tia-bq-s`): dose in Gy instead of Gy per
    /// decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tia_bq_s: Option<f64>,
}

/// A patient run (`voxdose run --ct --spect`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    /// CT series folder (DICOM) or NIfTI file of HU.
    pub ct: PathBuf,
    /// Quantitative SPECT/PET series folder (DICOM) or NIfTI activity map in Bq/mL.
    pub spect: PathBuf,
    /// RTSTRUCT file giving named regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtstruct: Option<PathBuf>,
    /// NIfTI label map (or a folder of masks) giving named regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Time-integrated activity map (NIfTI, Bq·s per voxel): the source and the dose scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tia: Option<PathBuf>,
    /// With a single scan: the rule that turns it into a TIA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tia_from_single_scan: Option<SingleScanRule>,
    /// Hours between administration and the scan (single-scan rules; else from the DICOM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_hours: Option<f64>,
    /// Calibration factor (Bq/mL per count) for a SPECT without quantitative units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_bq_ml_per_count: Option<f64>,
    /// Transport voxel size, mm (the CT grid coarsened); default the CT's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_mm: Option<f64>,
    /// Accept a field-of-view activity above the injected activity (`run::sanity`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub accept_activity_mismatch: bool,
    /// Accept a SPECT most of whose activity lies outside the CT.
    #[serde(default, skip_serializing_if = "is_false")]
    pub accept_small_overlap: bool,
    /// How the RT Dose is encoded and which patient, study and frame of reference it is
    /// linked to (`--rtdose-bits`, `--patient-id`, `--study-uid`, `--frame-of-reference-uid`).
    #[serde(default, skip_serializing_if = "RtDoseOutput::is_default")]
    pub rtdose: RtDoseOutput,
}

/// The RT Dose of a patient run: bits per value and the identifiers that link it to the
/// patient when the CT cannot (a NIfTI CT has none; given ones replace a DICOM CT's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtDoseOutput {
    /// Bits per stored value (16 or 32).
    #[serde(default)]
    pub bits: crate::io::rtdose::RtDoseBits,
    /// PatientID (0010,0020).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    /// StudyInstanceUID (0020,000D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study_uid: Option<String>,
    /// FrameOfReferenceUID (0020,0052).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_of_reference_uid: Option<String>,
}

impl RtDoseOutput {
    fn is_default(&self) -> bool {
        *self == RtDoseOutput::default()
    }

    fn validate(&self) -> Result<()> {
        if let Some(id) = &self.patient_id {
            check_patient_id(id)?;
        }
        for (option, uid) in [
            ("--study-uid", &self.study_uid),
            ("--frame-of-reference-uid", &self.frame_of_reference_uid),
        ] {
            if let Some(u) = uid {
                crate::io::rtdose::check_uid(u).map_err(|why| Error::invalid(option, why))?;
            }
        }
        Ok(())
    }
}

/// A PatientID is a DICOM LO: at most 64 characters, no backslash or control character.
fn check_patient_id(id: &str) -> Result<()> {
    if id.trim().is_empty()
        || id.chars().count() > 64
        || id.chars().any(|c| c == '\\' || c.is_control())
    {
        return Err(Error::invalid(
            "--patient-id",
            format!("{id:?}: a patient ID is 1 to 64 characters without backslash or control characters (DICOM LO)"),
        ));
    }
    Ok(())
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A study run (`voxdose run --study`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyInput {
    /// The study file (JSON, `docs/study-file.md`).
    pub study: PathBuf,
    /// A CT for the transport medium when the study names no `reference_ct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ct: Option<PathBuf>,
    /// Partial-volume correction replacing the study's `partial_volume` (`--pvc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_volume: Option<crate::kinetics::PartialVolumeOverride>,
}

/// Single-time-point rules that turn one scan's activity into a TIA (`--tia-from-single-scan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SingleScanRule {
    /// TIA = A(t)/λ_phys: physical decay only after the scan.
    PhysicalDecay,
    /// TIA = 2·t·A(t)/ln 2 (Hänscheid et al. 2018, J Nucl Med 59:75).
    Hanscheid,
}

impl SingleScanRule {
    /// The names `--tia-from-single-scan` accepts.
    pub const NAMES: [&'static str; 2] = ["physical-decay", "hanscheid"];
}

impl std::str::FromStr for SingleScanRule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "physical-decay" => Ok(SingleScanRule::PhysicalDecay),
            "hanscheid" => Ok(SingleScanRule::Hanscheid),
            other => Err(Error::invalid(
                "--tia-from-single-scan",
                format!("'{other}'; known rules: {}", Self::NAMES.join(", ")),
            )),
        }
    }
}

/// Which absorbed dose is reported (`--dose-to`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoseTo {
    /// Dose to the medium in each voxel (energy / voxel mass).
    #[default]
    Medium,
    /// Dose to water (medium dose × water/medium electron stopping-power ratio).
    Water,
}

impl DoseTo {
    /// The names `--dose-to` accepts.
    pub const NAMES: [&'static str; 2] = ["medium", "water"];
}

impl std::str::FromStr for DoseTo {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "medium" => Ok(DoseTo::Medium),
            "water" => Ok(DoseTo::Water),
            other => Err(Error::invalid(
                "--dose-to",
                format!("'{other}'; give medium or water"),
            )),
        }
    }
}

/// When the transport stops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stop {
    /// Exactly this many decays (`--decays`).
    Decays(f64),
    /// Until the mean relative σ of the voxels above 50 % of the maximum dose reaches
    /// `percent` (`--target-uncertainty`), or `max_decays` (`--max-decays`).
    TargetUncertainty {
        /// Target relative σ, %.
        percent: f64,
        /// Upper bound on decays.
        max_decays: f64,
    },
}

impl Default for Stop {
    fn default() -> Self {
        Stop::Decays(1e6)
    }
}

/// How the transport runs (`--nuclide`, `--decays`, `--seed`, `--device`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// Nuclide (see `voxdose nuclides`); `None`: the patient's DICOM, the study's, else Lu-177.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nuclide: Option<String>,
    /// When to stop.
    #[serde(default)]
    pub stop: Stop,
    /// Random seed; the same seed on the same device gives the same result.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// History batches for the per-voxel uncertainty (`--decays` runs).
    #[serde(default = "default_batches")]
    pub batches: u32,
    /// Electron kinetic-energy cutoff, keV; below it energy is deposited locally.
    #[serde(default = "default_cutoff")]
    pub electron_cutoff_kev: f64,
    /// Photon energy cutoff, keV; below it energy is deposited locally.
    #[serde(default = "default_cutoff")]
    pub photon_cutoff_kev: f64,
    /// Where the transport runs.
    #[serde(default)]
    pub device: DeviceChoice,
    /// CPU threads of the run's own pool; `None`: all cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// GPU runs: decays per work-queue block (benchmarks of new hardware); `None`: the
    /// device's own. The dose does not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decays_per_block: Option<u32>,
    /// How the dose is computed (`--method`): Monte Carlo, dose-voxel kernel or local
    /// deposition (`crate::run::dvk`).
    #[serde(default, skip_serializing_if = "is_mc")]
    pub method: crate::run::dvk::DoseMethod,
    /// dvk: scale each voxel's dose by kernel density / voxel density (`--density-scaling`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub density_scaling: bool,
    /// Memory the run may use, GB (`--mem`); the machine's and the job's limits apply too
    /// ([`crate::run::memory`]). The dose does not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_gb: Option<f64>,
}

fn is_mc(m: &crate::run::dvk::DoseMethod) -> bool {
    *m == crate::run::dvk::DoseMethod::Mc
}

fn default_seed() -> u64 {
    1
}

fn default_batches() -> u32 {
    20
}

fn default_cutoff() -> f64 {
    10.0
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            nuclide: None,
            stop: Stop::default(),
            seed: default_seed(),
            batches: default_batches(),
            electron_cutoff_kev: default_cutoff(),
            photon_cutoff_kev: default_cutoff(),
            device: DeviceChoice::default(),
            threads: None,
            decays_per_block: None,
            method: Default::default(),
            density_scaling: false,
            mem_gb: None,
        }
    }
}

/// Most threads a run may ask for: more is a typing slip, and rayon would try to start them.
pub const MAX_THREADS: usize = 1024;

impl RunConfig {
    /// A run of the built-in phantom `name` with default settings.
    pub fn phantom(name: &str) -> Self {
        RunConfig {
            voxdose_version: None,
            input: Input::Phantom(PhantomInput {
                phantom: PhantomSpec::named(name),
                tia_bq_s: None,
            }),
            transport: TransportConfig::default(),
            dose_to: DoseTo::default(),
        }
    }

    /// Checks every value (ranges, contradictions) before any work starts.
    pub fn validate(&self) -> Result<()> {
        self.transport.validate()?;
        match &self.input {
            Input::Phantom(p) => positive(
                "--tia-bq-s",
                p.tia_bq_s,
                "give the total number of decays (Bq·s), e.g. 7.4e9*3600*24*9.6",
            ),
            Input::Patient(p) => p.validate(),
            Input::Study(_) => Ok(()),
            Input::Materials(m) => m.validate(),
        }
    }

    /// Reads a saved configuration (`run.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|source| crate::io::InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::invalid(
                "--config",
                format!(
                    "{}: {e}; a run configuration is the run.json a run wrote (see README)",
                    path.display()
                ),
            )
        })
    }

    /// The configuration as it is saved (`run.json`): pretty JSON with this voxdose's version.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut saved = self.clone();
        saved.voxdose_version = Some(env!("CARGO_PKG_VERSION").to_string());
        serde_json::to_vec_pretty(&saved)
            .map_err(|e| Error::Internal(format!("run configuration not serialisable: {e}")))
    }

    /// A note when the configuration was written by another voxdose version.
    pub fn version_note(&self) -> Option<String> {
        let written = self.voxdose_version.as_deref()?;
        (written != env!("CARGO_PKG_VERSION")).then(|| {
            format!(
                "this configuration was written by voxdose {written}; running it with {} may give another result",
                env!("CARGO_PKG_VERSION")
            )
        })
    }

    /// The same configuration with every input path absolute (so a saved `run.json` runs
    /// from any folder). Paths that do not exist are left as given: reading them fails later
    /// with the path in the message.
    pub fn with_absolute_paths(mut self) -> Self {
        let abs = |p: &mut PathBuf| {
            if let Ok(a) = std::path::absolute(&*p) {
                *p = a;
            }
        };
        match &mut self.input {
            Input::Phantom(_) => {}
            Input::Patient(p) => {
                abs(&mut p.ct);
                abs(&mut p.spect);
                for q in [&mut p.rtstruct, &mut p.labels, &mut p.tia]
                    .into_iter()
                    .flatten()
                {
                    abs(q);
                }
            }
            Input::Study(s) => {
                abs(&mut s.study);
                if let Some(c) = &mut s.ct {
                    abs(c);
                }
            }
            Input::Materials(m) => {
                abs(&mut m.labels);
                abs(&mut m.table);
                for q in [&mut m.spect, &mut m.tia].into_iter().flatten() {
                    abs(q);
                }
            }
        }
        self
    }
}

impl MaterialsInput {
    fn validate(&self) -> Result<()> {
        match (&self.spect, &self.tia) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "--spect/--tia",
                "with --materials give one source: an activity map (--spect) or a TIA map (--tia)",
            )),
            (None, None) => Err(Error::invalid(
                "--materials",
                "missing source: give --tia (Bq·s per voxel, dose in Gy) or --spect (Bq/mL, dose per decay)",
            )),
            _ => Ok(()),
        }
    }
}

impl PatientInput {
    fn validate(&self) -> Result<()> {
        if self.rtstruct.is_some() && self.labels.is_some() {
            return Err(Error::invalid(
                "--rtstruct/--labels",
                "give one source of regions, not both",
            ));
        }
        if self.tia.is_some() && self.tia_from_single_scan.is_some() {
            return Err(Error::invalid(
                "--tia/--tia-from-single-scan",
                "give a TIA map or a single-scan rule, not both",
            ));
        }
        positive(
            "--calibration-bq-ml-per-count",
            self.calibration_bq_ml_per_count,
            "give a positive factor (Bq/mL per count)",
        )?;
        positive(
            "--voxel-mm",
            self.voxel_mm,
            "give a positive voxel size in mm",
        )?;
        self.rtdose.validate()
    }
}

/// Checks that an optional value is finite and positive.
fn positive(option: &str, value: Option<f64>, fix: &str) -> Result<()> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0) => {
            Err(Error::invalid(option, format!("{v}; {fix}")))
        }
        _ => Ok(()),
    }
}

/// A decay count from the command line: 1 to 1e13.
fn decay_count(option: &str, v: f64) -> Result<u64> {
    if !v.is_finite() || !(1.0..=1e13).contains(&v) {
        return Err(Error::invalid(
            option,
            format!("{v}; give a number of decays between 1 and 1e13 (e.g. 1e6)"),
        ));
    }
    Ok(v.round() as u64)
}

impl TransportConfig {
    /// The stop rule, checked.
    pub fn stop_rule(&self) -> Result<StopRule> {
        Ok(match self.stop {
            Stop::Decays(n) => StopRule::Decays(decay_count("--decays", n)?),
            Stop::TargetUncertainty {
                percent,
                max_decays,
            } => {
                if !(percent > 0.0 && percent < 100.0) {
                    return Err(Error::invalid(
                        "--target-uncertainty",
                        format!("{percent} %; give a percentage between 0 and 100, e.g. 2"),
                    ));
                }
                StopRule::TargetUncertainty {
                    relative: percent / 100.0,
                    threshold: 0.5,
                    max_decays: decay_count("--max-decays", max_decays)?,
                }
            }
        })
    }

    /// Checks every transport value.
    pub fn validate(&self) -> Result<()> {
        let stop = self.stop_rule()?;
        if self.batches < 2 || self.batches > 10_000 {
            return Err(Error::invalid(
                "--batches",
                format!(
                    "{}; the per-voxel uncertainty needs 2 to 10000 batches",
                    self.batches
                ),
            ));
        }
        crate::transport::driver::BatchPlan::new(stop, self.batches).check_batch_sizes()?;
        if let StopRule::Decays(n) = stop {
            if n < u64::from(self.batches) {
                return Err(Error::invalid(
                    "--decays",
                    format!(
                        "{n} decays for {} batches; give at least one decay per batch",
                        self.batches
                    ),
                ));
            }
        }
        for (opt, v) in [
            ("--electron-cutoff-kev", self.electron_cutoff_kev),
            ("--photon-cutoff-kev", self.photon_cutoff_kev),
        ] {
            if !(1.0..=1000.0).contains(&v) {
                return Err(Error::invalid(
                    opt,
                    format!("{v} keV; cutoffs must lie between 1 and 1000 keV (default 10)"),
                ));
            }
        }
        if let Some(t) = self.threads {
            if !(1..=MAX_THREADS).contains(&t) {
                return Err(Error::invalid(
                    "--threads",
                    format!(
                        "{t}; give 1 to {MAX_THREADS} threads, or leave it out to use every core"
                    ),
                ));
            }
        }
        let max_block = crate::transport::gpu_types::MAX_HISTORIES_PER_BLOCK;
        if let Some(n) = self
            .decays_per_block
            .filter(|n| !(1..=max_block).contains(n))
        {
            return Err(Error::invalid(
                "--decays-per-block",
                format!("{n}; give block sizes from 1 to {max_block} decays"),
            ));
        }
        Ok(())
    }

    /// The nuclide this run transports: `--nuclide`, else `default` (from the DICOM or the
    /// study), loaded once.
    pub fn nuclide(&self, default: &str) -> Result<Nuclide> {
        Nuclide::load(self.nuclide.as_deref().unwrap_or(default))
    }

    /// The validated transport settings for `nuclide`.
    pub fn settings(&self, nuclide: Nuclide) -> Result<TransportSettings> {
        self.validate()?;
        Ok(TransportSettings {
            nuclide,
            stop: self.stop_rule()?,
            seed: self.seed,
            batches: self.batches,
            electron_cutoff_kev: self.electron_cutoff_kev as f32,
            photon_cutoff_kev: self.photon_cutoff_kev as f32,
            emissions: Default::default(),
            decays_per_block: self.decays_per_block,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_configuration_reads_back_equal() {
        let mut c = RunConfig::phantom("nema-iec");
        c.transport.stop = Stop::TargetUncertainty {
            percent: 2.0,
            max_decays: 1e8,
        };
        c.transport.device = DeviceChoice::Cpu;
        c.dose_to = DoseTo::Water;
        let text = c.to_json().unwrap();
        let back: RunConfig = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            back.voxdose_version.as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            RunConfig {
                voxdose_version: None,
                ..back
            },
            c
        );
        let json = String::from_utf8(text).unwrap();
        assert!(json.contains("\"kind\": \"phantom\""), "{json}");
        assert!(json.contains("\"target_uncertainty\""), "{json}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = r#"{"input": {"kind": "phantom", "phantom": {"name": "vsv"}}, "transport": {"decays": 5}}"#;
        let e = serde_json::from_str::<RunConfig>(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `decays`"), "{e}");
    }

    #[test]
    fn threads_out_of_range_are_invalid_options() {
        for t in [0, MAX_THREADS + 1, 100_000] {
            let c = TransportConfig {
                threads: Some(t),
                ..Default::default()
            };
            let e = c.validate().unwrap_err();
            assert_eq!(e.exit_code(), 3, "{e}");
            assert!(e.to_string().contains("--threads"), "{e}");
        }
    }
}
