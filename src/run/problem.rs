//! [`Problem`]: a run configuration made concrete: the voxel model (geometry, materials,
//! densities, regions), the source, the validated transport settings, the dose scale, and
//! what the outputs of its kind need (the CT's identity and provenance of a patient, the
//! kinetics fit of a study).

use super::config::{DoseTo, Input, PhantomInput, RunConfig};
use super::patient::PatientContext;
use super::study::StudyContext;
use super::Clock;
use crate::geometry::VoxelModel;
use crate::source::SourceSpec;
use crate::transport::{Observer, TransportSettings};
use crate::{Error, Result};
use std::path::Path;

/// A dose problem ready to execute.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Phantom name, "patient" or "study".
    pub name: String,
    /// One line: the inputs and their parameters.
    pub description: String,
    /// Geometry, materials, densities and named regions.
    pub model: VoxelModel,
    /// Where decays happen (relative weights).
    pub source: SourceSpec,
    /// Transport settings, validated, with the nuclide's data.
    pub settings: TransportSettings,
    /// Decays the source represents (Bq·s): the dose in Gy is dose per decay × this; `None`:
    /// the dose is reported in Gy per decay.
    pub tia_bq_s: Option<f64>,
    /// Which absorbed dose is reported.
    pub dose_to: DoseTo,
    /// What the outputs of this kind of run need.
    pub kind: ProblemKind,
}

/// The kind of a problem, with what its outputs need.
#[derive(Clone, Debug)]
pub enum ProblemKind {
    /// A built-in phantom.
    Phantom,
    /// A patient: RT Dose, organ tables, provenance.
    Patient(Box<PatientContext>),
    /// A study: the kinetics fit.
    Study(Box<StudyContext>),
}

impl Problem {
    /// Builds the problem of a phantom or patient configuration (a study writes its
    /// kinetics fit into a folder: use [`Problem::build_in`]).
    pub fn build(config: &RunConfig, observer: &mut dyn Observer) -> Result<Problem> {
        if let Input::Study(s) = &config.input {
            return Err(Error::invalid(
                "--study",
                format!(
                    "{}: a study problem writes its kinetics fit into a folder; build it with Problem::build_in",
                    s.study.display()
                ),
            ));
        }
        Self::build_in(config, Path::new("."), false, &mut Clock::start(), observer)
    }

    /// Builds the problem `config` describes, timing its stages on `clock`. A study fits its
    /// kinetics first and writes the fit's outputs into `out` (refusing to replace them
    /// unless `force`); the other kinds do not touch `out`.
    pub fn build_in(
        config: &RunConfig,
        out: &Path,
        force: bool,
        clock: &mut Clock,
        observer: &mut dyn Observer,
    ) -> Result<Problem> {
        let mut problem = match &config.input {
            Input::Phantom(p) => phantom(p, config, clock, observer),
            Input::Patient(p) => super::patient::build(p, &config.transport, clock, observer),
            Input::Study(s) => {
                super::study::build(s, &config.transport, out, force, clock, observer)
            }
            Input::Materials(m) => super::materials::build(m, &config.transport, clock, observer),
        }?;
        problem.dose_to = config.dose_to;
        let voxels = problem.model.grid.n_voxels() as u64;
        observer.note(&super::memory::check(voxels, 0, config.transport.mem_gb)?);
        Ok(problem)
    }
}

/// A built-in phantom; its sources are analytic shapes, in Gy per decay unless `tia_bq_s`.
fn phantom(
    input: &PhantomInput,
    config: &RunConfig,
    clock: &mut Clock,
    observer: &mut dyn Observer,
) -> Result<Problem> {
    let settings = config
        .transport
        .settings(config.transport.nuclide("Lu-177")?)?;
    if let Some(n) = input.phantom.grid {
        // Before the phantom is built: a huge grid must not reach the allocator.
        super::memory::check((n as u64).saturating_pow(3), 0, config.transport.mem_gb)?;
    }
    let phantom = crate::phantoms::build(&input.phantom)?;
    if let Some(t) = input.tia_bq_s.filter(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(Error::invalid(
            "--tia-bq-s",
            format!("{t}; give the total number of decays (Bq·s), e.g. 7.4e9*3600*24*9.6"),
        ));
    }
    observer.note(&format!("{} — {}", phantom.name, phantom.description));
    clock.lap("model", observer);
    Ok(Problem {
        name: phantom.name,
        description: phantom.description,
        model: phantom.model,
        source: phantom.source,
        settings,
        tia_bq_s: input.tia_bq_s,
        dose_to: DoseTo::Medium,
        kind: ProblemKind::Phantom,
    })
}
