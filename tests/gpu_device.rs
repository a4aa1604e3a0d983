//! Device selection (`transport::gpu::device`): `--device auto|gpu|cpu`, a clean
//! `DeviceError::NoAdapter` when no Vulkan driver exists, and shader errors as errors.

mod gpu_common;

use std::process::Command;
use voxdose::transport::gpu::device::{open_any, select};
use voxdose::transport::gpu::kernels::KernelSource;
use voxdose::transport::gpu::pipelines::{self, KernelDecl};
use voxdose::transport::gpu::DeviceError;
use voxdose::transport::DeviceChoice;

#[test]
fn cpu_choice_opens_no_device() {
    assert!(select(DeviceChoice::Cpu).unwrap().is_none());
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_choice_opens_a_vulkan_adapter_and_reports_it() {
    let ctx = gpu_common::gpu();
    let info = ctx.device_info(64);
    assert_eq!(
        (info.kind.as_str(), info.backend.as_str()),
        ("gpu", "vulkan")
    );
    assert!(!info.name.is_empty() && !info.driver.is_empty(), "{info:?}");
    assert_eq!(info.driver.contains("software"), ctx.is_software());
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn auto_never_picks_a_software_adapter() {
    // On a machine with only lavapipe, auto means the CPU reference (None).
    if let Some(ctx) = select(DeviceChoice::Auto).unwrap() {
        assert!(!ctx.is_software(), "auto chose {:?}", ctx.adapter_info);
    }
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn invalid_wgsl_is_a_device_error_naming_the_file_not_a_panic() {
    let ctx = gpu_common::gpu();
    let mut decl: KernelDecl = pipelines::CHECK_RNG;
    decl.kernel = KernelSource {
        source: "@compute @workgroup_size(64) fn check_rng() { let x = undefined_name; }",
        ..decl.kernel
    };
    match pipelines::create(&ctx, decl) {
        Err(DeviceError::Failed(msg)) => assert!(msg.contains("shaders/check_rng.wgsl"), "{msg}"),
        other => panic!("expected DeviceError::Failed, got {other:?}"),
    }
}

/// Run by `missing_driver_gives_no_adapter_error_not_a_panic` in a child process whose
/// Vulkan loader sees no driver.
#[test]
#[ignore = "child of missing_driver_gives_no_adapter_error_not_a_panic (needs its environment)"]
fn child_without_vulkan_driver() {
    let err = open_any().unwrap_err();
    assert!(matches!(err, DeviceError::NoAdapter { .. }), "{err}");
    assert!(err.to_string().contains("mesa-vulkan-drivers"), "{err}");
    assert!(select(DeviceChoice::Auto).unwrap().is_none());
    assert!(matches!(
        select(DeviceChoice::Gpu),
        Err(DeviceError::NoAdapter { .. })
    ));
}

#[test]
fn missing_driver_gives_no_adapter_error_not_a_panic() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_without_vulkan_driver",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("VK_DRIVER_FILES", "/nonexistent/voxdose_no_driver.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/voxdose_no_driver.json")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child failed:\n{text}"
    );
}

/// On a headless node (no `XDG_RUNTIME_DIR`, no Wayland display) a `--device gpu` run prints
/// none of libwayland's "XDG_RUNTIME_DIR is invalid or not set" lines, which Mesa's
/// window-system layer used to print twice for a display voxdose never uses.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn headless_gpu_run_prints_no_wayland_complaint() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_voxdose"))
        .args([
            "run",
            "--phantom",
            "water-sphere",
            "--decays",
            "2000",
            "--device",
            "gpu",
        ])
        .arg("--out")
        .arg(out_dir.path().join("run"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}
