//! Shared helpers of the GPU tests (`tests/gpu_*.rs`).
//!
//! GPU tests carry `#[cfg_attr(voxdose_skip_gpu_tests, ignore = "…")]`: the build script sets
//! that cfg when no Vulkan driver manifest is installed (and never when
//! `VOXDOSE_REQUIRE_GPU=1`, as in CI), so they show as *ignored*, never as a silent pass. A
//! driver that is installed but gives no adapter fails the test with the reason.

#![allow(dead_code, reason = "each test file uses a different subset")]

use voxdose::transport::gpu::device::{self, GpuContext};

/// Opens any Vulkan adapter (lavapipe included) or fails the test saying why.
pub fn gpu() -> GpuContext {
    device::open_any().unwrap_or_else(|e| {
        panic!(
            "this GPU test needs a Vulkan adapter: {e}. A driver manifest was found at build \
             time, so the install looks broken (try `vulkaninfo --summary`)"
        )
    })
}
