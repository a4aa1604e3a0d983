//! Where batches run: the device a run chose ([`DeviceChoice`] → [`Device`]) and the
//! [`Backend`] trait that the one batch loop (`driver::run_batches`) drives, implemented by
//! the CPU reference (`cpu::run::CpuBackend`) and the wgpu path (`gpu::run::GpuBackend`).
//!
//! A backend launches a batch of decays (history ids `first .. first + n`, so a seed gives the
//! same streams on every backend), and later collects it: waits for it, checks it, and folds
//! its tally into the run's [`Fold`]. A backend that [`overlaps`](Backend::overlaps) may have
//! the next batch running while the previous one is collected.

use super::cpu::HistoryCounters;
use super::gpu::device::GpuContext;
use super::gpu::DeviceError;
use super::{DeviceInfo, Observer};
use crate::tally::{BatchStatistics, BatchSums, RegionVoxels};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Where the transport runs (`--device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU if present, else the CPU reference transport.
    #[default]
    Auto,
    /// A wgpu adapter (a real GPU, or lavapipe when that is the only Vulkan device).
    Gpu,
    /// The CPU reference transport (Rust, the run's threads).
    Cpu,
}

impl DeviceChoice {
    /// The names `--device` accepts, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["auto", "gpu", "cpu"];

    /// The name `--device` takes for this choice.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Gpu => "gpu",
            DeviceChoice::Cpu => "cpu",
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "gpu" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            _ => Err(crate::Error::UnknownName {
                what: "device",
                name: s.to_string(),
                known: Self::NAMES.join(", "),
            }),
        }
    }
}

/// An opened device: the CPU reference, or a wgpu device.
#[derive(Debug)]
pub enum Device {
    /// The CPU reference transport, on the threads of the rayon pool it is called in.
    Cpu,
    /// A wgpu device (a GPU, or lavapipe).
    Gpu(Box<GpuContext>),
}

impl Device {
    /// Opens the device `choice` asks for: `cpu` the CPU reference; `gpu` any Vulkan adapter,
    /// lavapipe included, or [`DeviceError::NoAdapter`]; `auto` a real GPU when there is one,
    /// else the CPU reference.
    pub fn open(choice: DeviceChoice) -> Result<Device, DeviceError> {
        Ok(match super::gpu::device::select(choice)? {
            Some(ctx) => Device::Gpu(Box::new(ctx)),
            None => Device::Cpu,
        })
    }

    /// "cpu" or "gpu".
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }
}

/// The statistics a batch folds into: the per-voxel sums, the regional sums and the time spent
/// folding.
pub struct Fold<'a> {
    /// Per-voxel batch statistics.
    pub stats: &'a mut BatchStatistics,
    /// The model's regions.
    pub regions: &'a RegionVoxels,
    /// Their batch sums.
    pub region_sums: &'a mut [BatchSums],
    /// Seconds spent reading back and folding, added to by each collect.
    pub seconds: &'a mut f64,
}

/// What a part of the pilot gives back (see [`Backend::pilot_part`]).
#[derive(Debug, Default)]
pub struct PilotPart {
    /// The part's deposits as (voxel, units) in voxel order, when asked for and the backend
    /// lists them; `None` otherwise.
    pub deposits: Option<Vec<(u32, u64)>>,
    /// Seconds of the part spent listing them (a pass over the grid), not transport.
    pub listing_s: f64,
}

/// A device that runs batches of decay histories for one problem (its tables already set
/// up). See the module doc.
pub trait Backend {
    /// A batch in flight.
    type Batch;

    /// Starts a batch of `n` decays, histories `first .. first + n`. It may return before the
    /// batch has run.
    fn launch(&mut self, first: u64, n: u32) -> Result<Self::Batch>;

    /// Runs histories `first .. first + n`, the next part of the pilot of the batch that
    /// [`Backend::launch_rest`] then launches, and waits for them (the driver times each part:
    /// see `transport::pilot`). The parts score into that batch's tally, so the batch folds
    /// the same integers, bit for bit, as when launched whole. With `list`, the part's
    /// deposits come back as (voxel, units) in voxel order, for the pilot's σ (the CPU takes
    /// them out of its tally and gives them back; a device reads its tally back).
    fn pilot_part(&mut self, first: u64, n: u32, list: bool) -> Result<PilotPart>;

    /// Launches the rest of the batch of `n` decays from history `first` whose first `done`
    /// decays [`Backend::pilot_part`] ran: histories `first + done .. first + n`. The batch is
    /// then collected as one batch of `n` decays.
    fn launch_rest(&mut self, first: u64, n: u32, done: u32) -> Result<Self::Batch>;

    /// Decays in `batch`.
    fn decays(batch: &Self::Batch) -> u32;

    /// True when the next batch may be launched before this one is collected.
    fn overlaps(&self) -> bool;

    /// Waits for `batch`, checks that it came back whole and folds its tally into `fold`;
    /// returns its event counters. A backend that can rerun a batch cut short does so here.
    fn collect(
        &mut self,
        batch: Self::Batch,
        fold: &mut Fold<'_>,
        observer: &mut dyn Observer,
    ) -> Result<HistoryCounters>;

    /// Seconds the loop spent that are not transport (e.g. recompiling a kernel for a rerun),
    /// taken off the run's wall time.
    fn excluded_s(&self) -> f64 {
        0.0
    }

    /// The device as the run's summary reports it, after a run whose first batch had
    /// `first_batch` decays.
    fn device_info(&self, first_batch: u32) -> DeviceInfo;
}
