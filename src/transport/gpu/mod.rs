//! The wgpu path: adapter selection, pipelines, and the GPU run of the transport kernels.
//!
//! TODO(gpu): being implemented.

/// The compute device is unavailable or too small.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No adapter was found.
    #[error("no GPU adapter found ({detail}); install a Vulkan driver (e.g. `apt-get install mesa-vulkan-drivers` for the CPU driver lavapipe) or run with --device cpu")]
    NoAdapter {
        /// What wgpu said.
        detail: String,
    },
    /// The problem does not fit the device.
    #[error("{what} needs {needed_bytes} bytes but the device allows {limit_bytes}; use a coarser grid, crop the volume, or run with --device cpu")]
    TooLarge {
        /// What does not fit.
        what: String,
        /// Bytes needed.
        needed_bytes: u64,
        /// The device limit.
        limit_bytes: u64,
    },
    /// The device failed during the run.
    #[error("GPU failure: {0}")]
    Failed(String),
}
