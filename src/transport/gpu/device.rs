//! Adapter selection and the device context: `--device auto|gpu|cpu`, limits, error scopes.
//!
//! Policy (../shared/docs/WGPU.md §2): the instance is Vulkan-only, so a missing driver gives a
//! clean [`DeviceError::NoAdapter`] instead of a silent fallback to another API. `auto` takes a
//! real GPU (any adapter whose type is not `DeviceType::Cpu`) and otherwise asks for the CPU
//! reference transport; `gpu` takes any Vulkan adapter, lavapipe included; `cpu` never opens
//! an instance. The device is opened with the adapter's own limits (binding size, storage
//! buffers per stage), because wgpu's defaults are lower than what the chunked grid needs.
//!
//! Validation errors in wgpu 30 panic unless caught: everything that can fail on user-sized
//! input runs inside [`GpuContext::scoped`], and anything still uncaptured is collected by a
//! handler and returned by [`GpuContext::check_uncaptured`] instead of panicking.

use super::DeviceError;
use crate::transport::gpu_types::{
    BLOCKS_PER_INVOCATION, HISTORIES_PER_BLOCK_GPU, HISTORIES_PER_BLOCK_SOFTWARE,
    MAX_HISTORIES_PER_BLOCK,
};
use crate::transport::DeviceChoice;
use crate::transport::DeviceInfo;
use std::sync::{Arc, Mutex};

/// An open wgpu device with what the transport needs to know about it.
pub struct GpuContext {
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What wgpu reports about the adapter.
    pub adapter_info: wgpu::AdapterInfo,
    /// The limits the device was opened with (the adapter's).
    pub limits: wgpu::Limits,
    binding_limit_bytes: u64,
    histories_per_block: u32,
    blocks_per_invocation: u32,
    compacts_on_device: bool,
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter_info", &self.adapter_info)
            .field("binding_limit_bytes", &self.binding_limit_bytes)
            .field("histories_per_block", &self.histories_per_block)
            .field("blocks_per_invocation", &self.blocks_per_invocation)
            .field("compacts_on_device", &self.compacts_on_device)
            .finish_non_exhaustive()
    }
}

/// Opens the device `choice` asks for; `Ok(None)` means "use the CPU reference transport"
/// (`cpu`, or `auto` on a machine without a real GPU).
pub fn select(choice: DeviceChoice) -> Result<Option<GpuContext>, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(None),
        DeviceChoice::Auto => {
            let adapters = vulkan_adapters();
            match best_adapter(adapters, false) {
                Some(adapter) => open(adapter).map(Some),
                None => Ok(None),
            }
        }
        DeviceChoice::Gpu => open_any().map(Some),
    }
}

/// Opens the best Vulkan adapter, lavapipe included (`--device gpu`, and the GPU tests).
pub fn open_any() -> Result<GpuContext, DeviceError> {
    let adapters = vulkan_adapters();
    match best_adapter(adapters, true) {
        Some(adapter) => open(adapter),
        None => Err(DeviceError::NoAdapter {
            detail: no_adapter_detail(),
        }),
    }
}

/// The process's one Vulkan instance. Created once: creating it is what makes the Vulkan
/// loader and Mesa's window-system layers print their complaints (e.g. "XDG_RUNTIME_DIR is
/// invalid or not set" on a headless node), so a second instance would print them twice.
fn instance() -> wgpu::Instance {
    static INSTANCE: std::sync::OnceLock<wgpu::Instance> = std::sync::OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = wgpu::Backends::VULKAN; // no silent fallback to GL
            without_wayland_probe(|| wgpu::Instance::new(desc))
        })
        .clone()
}

/// Runs `make` (the instance's creation, the adapters' enumeration) so that, on a headless
/// node, Mesa's window-system layer does not print libwayland's "XDG_RUNTIME_DIR is invalid or
/// not set" (twice: it probes the Wayland display when it sets up each adapter) for a display
/// voxdose never uses. When neither
/// `XDG_RUNTIME_DIR` nor a Wayland display is set, `WAYLAND_DISPLAY` names an absolute path that
/// does not exist for the duration of `make`, so the probe fails without a message; it is
/// removed again before any child process (chromium, elastix, sbatch) could inherit it.
fn without_wayland_probe<T>(make: impl FnOnce() -> T) -> T {
    let headless = ["XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"]
        .iter()
        .all(|k| std::env::var_os(k).is_none());
    if !headless {
        return make();
    }
    std::env::set_var("WAYLAND_DISPLAY", "/nonexistent/voxdose-headless-wayland");
    let made = make();
    std::env::remove_var("WAYLAND_DISPLAY");
    made
}

fn vulkan_adapters() -> Vec<wgpu::Adapter> {
    let instance = instance();
    without_wayland_probe(|| {
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
    })
}

/// What wgpu says when asked for any adapter (the reason none was found).
fn no_adapter_detail() -> String {
    let options = wgpu::RequestAdapterOptions::default();
    let instance = instance();
    match without_wayland_probe(|| pollster::block_on(instance.request_adapter(&options))) {
        Err(e) => format!("Vulkan: {e}"),
        Ok(a) => format!("Vulkan adapter {} could not be used", a.get_info().name),
    }
}

/// Preference order: discrete, integrated, virtual, other, then CPU (lavapipe).
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn best_adapter(adapters: Vec<wgpu::Adapter>, allow_cpu: bool) -> Option<wgpu::Adapter> {
    adapters
        .into_iter()
        .filter(|a| allow_cpu || a.get_info().device_type != wgpu::DeviceType::Cpu)
        .min_by_key(|a| rank(a.get_info().device_type))
}

fn open(adapter: wgpu::Adapter) -> Result<GpuContext, DeviceError> {
    let adapter_info = adapter.get_info();
    let limits = adapter.limits();
    let desc = wgpu::DeviceDescriptor {
        label: Some("voxdose"),
        required_features: wgpu::Features::empty(),
        required_limits: limits.clone(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
        DeviceError::Failed(format!(
            "cannot open adapter {} ({}): {e}",
            adapter_info.name, adapter_info.driver_info
        ))
    })?;
    let uncaptured = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&uncaptured);
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        if let Ok(mut list) = sink.lock() {
            list.push(e.to_string());
        }
    }));
    let binding_limit_bytes = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    let mut ctx = GpuContext {
        device,
        queue,
        adapter_info,
        limits,
        binding_limit_bytes,
        histories_per_block: HISTORIES_PER_BLOCK_GPU,
        blocks_per_invocation: BLOCKS_PER_INVOCATION,
        compacts_on_device: true,
        uncaptured,
    };
    if ctx.is_software() {
        ctx.histories_per_block = HISTORIES_PER_BLOCK_SOFTWARE;
        ctx.compacts_on_device = false;
    }
    Ok(ctx)
}

/// `n` decays per work-queue block, clamped to the sizes `decay_history` is run with
/// (1 ..= [`MAX_HISTORIES_PER_BLOCK`]).
pub fn valid_histories_per_block(n: u32) -> u32 {
    n.clamp(1, MAX_HISTORIES_PER_BLOCK)
}

impl GpuContext {
    /// The binding size per-voxel arrays (tally, densities) are split by, bytes: the device
    /// limit, or the smaller value set by [`GpuContext::with_binding_limit`].
    pub fn binding_limit_bytes(&self) -> u64 {
        self.binding_limit_bytes
    }

    /// The device's own largest storage binding, bytes (what every buffer is checked against).
    pub fn device_binding_limit_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Pretends the binding limit of the per-voxel arrays is `bytes` (at most the real one),
    /// so tests can force a small grid across several chunk bindings. Rounded down to a
    /// multiple of 256 (at least 256).
    pub fn with_binding_limit(mut self, bytes: u64) -> Self {
        self.binding_limit_bytes =
            (bytes / 256 * 256).clamp(256, self.device_binding_limit_bytes());
        self
    }

    /// Decays per block of `decay_history`'s work queue on this device:
    /// [`HISTORIES_PER_BLOCK_SOFTWARE`] on a software adapter, else
    /// [`HISTORIES_PER_BLOCK_GPU`], or what [`GpuContext::with_histories_per_block`] set.
    pub fn histories_per_block(&self) -> u32 {
        self.histories_per_block
    }

    /// Runs `decay_history` with blocks of `n` decays (clamped to 1 ..=
    /// [`MAX_HISTORIES_PER_BLOCK`]): the dose must not change
    /// (every history has its own random-number streams), which the tests check.
    pub fn with_histories_per_block(mut self, n: u32) -> Self {
        self.histories_per_block = valid_histories_per_block(n);
        self
    }

    /// Work-queue blocks one `decay_history` invocation takes at most:
    /// [`BLOCKS_PER_INVOCATION`], or what [`GpuContext::with_blocks_per_invocation`] set.
    pub fn blocks_per_invocation(&self) -> u32 {
        self.blocks_per_invocation
    }

    /// Lets an invocation take up to `n` blocks (1 ..= 1024). More than the default puts more
    /// decays through each invocation's loops, so tests use it to run past lavapipe's loop
    /// limit on purpose and check that the host runs such a batch again in smaller blocks.
    pub fn with_blocks_per_invocation(mut self, n: u32) -> Self {
        self.blocks_per_invocation = n.clamp(1, 1024);
        self
    }

    /// True when the voxels that scored in a batch of a tally of several chunks are listed
    /// on the device (`tally_compact`, a GPU), false when the host reads the tally back and
    /// lists them (a software adapter, which scans memory slower than the host; BENCHMARKS.md,
    /// 2026-12-02). Either way the dose is the same bit for bit.
    pub fn compacts_on_device(&self) -> bool {
        self.compacts_on_device
    }

    /// Lists the voxels that scored on the device (`true`) or on the host (`false`), whatever
    /// the adapter: tests run both ways on lavapipe.
    pub fn with_compaction_on_device(mut self, on_device: bool) -> Self {
        self.compacts_on_device = on_device;
        self
    }

    /// True on a software adapter (lavapipe): correct, but its speed is not GPU speed.
    pub fn is_software(&self) -> bool {
        self.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    /// The adapter as reported in run summaries and benchmarks; `parallelism` is the number
    /// of invocations per dispatch the caller uses.
    pub fn device_info(&self, parallelism: u64) -> DeviceInfo {
        let info = &self.adapter_info;
        DeviceInfo {
            kind: "gpu".into(),
            name: info.name.clone(),
            backend: info.backend.to_str().to_string(),
            driver: format!(
                "{} {} ({:?}{})",
                info.driver,
                info.driver_info,
                info.device_type,
                if self.is_software() {
                    ", software: not GPU speed"
                } else {
                    ""
                }
            ),
            parallelism,
            decays_per_block: Some(self.histories_per_block),
            rerun_batches: Some(0),
            // The run that compiles the kernel sets it.
            compile_s: None,
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes; an error caught there
    /// becomes [`DeviceError::Failed`] naming `what`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, DeviceError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let invalid = pollster::block_on(validation.pop());
        let out_of_memory = pollster::block_on(oom.pop());
        match (invalid, out_of_memory) {
            (None, None) => Ok(value),
            (Some(e), _) => Err(DeviceError::Failed(format!("{what}: {e}"))),
            (None, Some(e)) => Err(DeviceError::Failed(format!(
                "{what}: out of device memory ({e}); use a coarser grid or --device cpu"
            ))),
        }
    }

    /// Errors that escaped every scope since the last call (none in a correct program).
    pub fn check_uncaptured(&self) -> Result<(), DeviceError> {
        let mut list = self
            .uncaptured
            .lock()
            .map_err(|_| DeviceError::Failed("the wgpu error handler panicked".into()))?;
        if list.is_empty() {
            return Ok(());
        }
        let all = std::mem::take(&mut *list).join("; ");
        Err(DeviceError::Failed(format!("wgpu reported: {all}")))
    }

    /// Waits until submission `index` (and all before it) has finished, not later work.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<(), DeviceError> {
        self.poll_until(Some(index))
    }

    /// Waits until all submitted work has finished.
    pub fn wait(&self) -> Result<(), DeviceError> {
        self.poll_until(None)
    }

    fn poll_until(&self, index: Option<wgpu::SubmissionIndex>) -> Result<(), DeviceError> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: None,
            })
            .map_err(|e| DeviceError::Failed(format!("waiting for the device: {e}")))?;
        self.check_uncaptured()
    }
}
