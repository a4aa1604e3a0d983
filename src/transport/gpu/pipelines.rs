//! Every kernel's bindings, declared once, and the wgpu layouts and pipelines built from them.
//!
//! A kernel row ([`KernelDecl`]) names its source and, per bind group, the bindings in
//! `@binding` order with their kind. Group 1 (the voxel grid, `shaders/shared/grid.wgsl`),
//! group 2 (the tallies, `shaders/shared/tally.wgsl`) and group 3 (the physics tables,
//! `shaders/shared/tables.wgsl`) are shared rows; group 0 is the kernel's own. `tests/gpu_types.rs` checks each row against the
//! WGSL's resource declarations, so the table cannot drift from the shaders. Bind groups are
//! made from [`NamedBuffer`]s whose names must match the row, so a wrongly ordered buffer is
//! an error naming both, not a silent mix-up.

use super::buffers::{Bound, NamedBuffer};
use super::device::GpuContext;
use super::kernels::{self, KernelSource};
use super::DeviceError;
use crate::transport::gpu_types::{DENSITY_MAX_CHUNKS, TALLY_MAX_CHUNKS};

/// How a binding is used by the shader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    Storage,
    /// `var<storage, read_write>`.
    StorageRw,
    /// `texture_2d<f32>` read with `textureLoad` (unfilterable float texels).
    Texture,
    /// `texture_2d<u32>` read with `textureLoad`.
    TextureU32,
}

/// One binding: the WGSL variable name and its kind.
#[derive(Clone, Copy, Debug)]
pub struct BindingDecl {
    /// The WGSL variable name, also the buffer name.
    pub name: &'static str,
    /// How the shader uses it.
    pub kind: BindingKind,
}

/// One bind group: bindings in `@binding` order (binding i is `bindings[i]`).
#[derive(Clone, Copy, Debug)]
pub struct GroupDecl {
    /// Group name, for labels and errors.
    pub name: &'static str,
    /// The bindings.
    pub bindings: &'static [BindingDecl],
}

/// One kernel row: its source and its bind groups by index (`None`: unused).
#[derive(Clone, Copy, Debug)]
pub struct KernelDecl {
    /// The kernel source from `shaders/`.
    pub kernel: KernelSource,
    /// Groups 0, 1, 2, 3.
    pub groups: [Option<&'static GroupDecl>; 4],
}

const fn b(name: &'static str, kind: BindingKind) -> BindingDecl {
    BindingDecl { name, kind }
}

use BindingKind::{Storage, StorageRw, Texture, TextureU32, Uniform};

/// Group 1: the voxel grid (`shaders/shared/grid.wgsl`).
pub const GRID_GROUP: GroupDecl = GroupDecl {
    name: "grid",
    bindings: &[
        b("grid", Uniform),
        b("material_packed", Storage),
        b("density_chunk0", Storage),
        b("density_chunk1", Storage),
        b("density_chunk2", Storage),
        b("density_chunk3", Storage),
    ],
};

/// Group 2: fixed-point tallies and counters (`shaders/shared/tally.wgsl`).
pub const TALLY_GROUP: GroupDecl = GroupDecl {
    name: "tally",
    bindings: &[
        b("tally_params", Uniform),
        b("counters", StorageRw),
        b("tally_chunk0", StorageRw),
        b("tally_chunk1", StorageRw),
        b("tally_chunk2", StorageRw),
        b("tally_chunk3", StorageRw),
        b("tally_chunk4", StorageRw),
        b("tally_chunk5", StorageRw),
        b("tally_chunk6", StorageRw),
        b("tally_chunk7", StorageRw),
    ],
};

/// Group 3: physics, emission and source tables (`shaders/shared/tables.wgsl`).
pub const PHYSICS_GROUP: GroupDecl = GroupDecl {
    name: "physics",
    bindings: &[
        b("physics", Uniform),
        b("ftab", Storage),
        b("utab", Storage),
        b("src_table", TextureU32),
        b("ptab", Texture),
    ],
};

const _: () = assert!(GRID_GROUP.bindings.len() == 2 + DENSITY_MAX_CHUNKS as usize);
const _: () = assert!(TALLY_GROUP.bindings.len() == 2 + TALLY_MAX_CHUNKS as usize);

/// `check_rng`: PCG32 outputs per stream (tests/gpu_rng.rs).
pub const CHECK_RNG: KernelDecl = KernelDecl {
    kernel: kernels::CHECK_RNG,
    groups: [
        Some(&GroupDecl {
            name: "check_rng",
            bindings: &[
                b("rng_check", Uniform),
                b("rng_bits", StorageRw),
                b("rng_uniforms", StorageRw),
            ],
        }),
        None,
        None,
        None,
    ],
};

/// `check_tally`: deposits into the chunked tally and counters (tests/gpu_tally.rs).
pub const CHECK_TALLY: KernelDecl = KernelDecl {
    kernel: kernels::CHECK_TALLY,
    groups: [
        Some(&GroupDecl {
            name: "check_tally",
            bindings: &[b("tally_check", Uniform), b("deposits", Storage)],
        }),
        None,
        Some(&TALLY_GROUP),
        None,
    ],
};

/// `check_grid`: position → voxel, material, density (tests/gpu_grid.rs).
pub const CHECK_GRID: KernelDecl = KernelDecl {
    kernel: kernels::CHECK_GRID,
    groups: [
        Some(&GroupDecl {
            name: "check_grid",
            bindings: &[
                b("grid_check", Uniform),
                b("points_mm", Storage),
                b("lookups", StorageRw),
            ],
        }),
        Some(&GRID_GROUP),
        None,
        None,
    ],
};

/// `decay_history`: the transport, blocks of `HISTORIES_PER_BLOCK` decays from a work queue
/// (`transport::gpu::run`).
pub const DECAY_HISTORY: KernelDecl = KernelDecl {
    kernel: kernels::DECAY_HISTORY,
    groups: [
        None,
        Some(&GRID_GROUP),
        Some(&TALLY_GROUP),
        Some(&PHYSICS_GROUP),
    ],
};

/// `tally_compact`: the voxels of a batch tally that scored, as a list, for the host's fold
/// of tallies larger than one binding (`transport::gpu::tally::Compactor`).
pub const TALLY_COMPACT: KernelDecl = KernelDecl {
    kernel: kernels::TALLY_COMPACT,
    groups: [
        Some(&GroupDecl {
            name: "tally_compact",
            bindings: &[
                b("compact_params", Uniform),
                b("compact", StorageRw),
                b("compact_chunk", StorageRw),
            ],
        }),
        None,
        None,
        None,
    ],
};

/// Every kernel row (each kernel in `shaders/` appears once).
pub const ALL: &[KernelDecl] = &[
    CHECK_RNG,
    CHECK_TALLY,
    CHECK_GRID,
    DECAY_HISTORY,
    TALLY_COMPACT,
];

/// A compiled kernel with its bind group layouts.
#[derive(Debug)]
pub struct Pipeline {
    /// The row it was built from.
    pub decl: KernelDecl,
    /// The compute pipeline.
    pub pipeline: wgpu::ComputePipeline,
    layouts: Vec<Option<wgpu::BindGroupLayout>>,
}

fn layout_entry(binding: u32, kind: BindingKind) -> wgpu::BindGroupLayoutEntry {
    let buffer = |ty| wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    let ty = match kind {
        Uniform => buffer(wgpu::BufferBindingType::Uniform),
        Storage => buffer(wgpu::BufferBindingType::Storage { read_only: true }),
        StorageRw => buffer(wgpu::BufferBindingType::Storage { read_only: false }),
        Texture => wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: false },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        TextureU32 => wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Uint,
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty,
        count: None,
    }
}

/// Builds the layouts and the pipeline of one kernel row, inside error scopes, with the
/// shaders' `override` constants at their defaults.
pub fn create(ctx: &GpuContext, decl: KernelDecl) -> Result<Pipeline, DeviceError> {
    create_with(ctx, decl, &[])
}

/// The `override` constants of the transport kernels for one run: how many chunk bindings
/// the tally and the densities use (`TALLY_CHUNKS` in shaders/shared/tally.wgsl,
/// `DENSITY_CHUNKS` in shaders/shared/grid.wgsl), the decays per work-queue block and the
/// blocks per invocation. Mesa folds the chunk switch away when a grid needs one chunk each,
/// which most do (< 2^24 voxels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportConstants {
    /// Tally chunk bindings in use (1 ..= TALLY_MAX_CHUNKS).
    pub tally_chunks: u32,
    /// Density chunk bindings in use (1 ..= DENSITY_MAX_CHUNKS).
    pub density_chunks: u32,
    /// Decays per work-queue block (`HISTORIES_PER_BLOCK` in shaders/decay_history.wgsl).
    pub histories_per_block: u32,
    /// Blocks an invocation takes at most (`BLOCKS_PER_INVOCATION` in
    /// shaders/decay_history.wgsl).
    pub blocks_per_invocation: u32,
}

impl TransportConstants {
    /// As `(name, value)` pairs for [`create_with`].
    pub fn pairs(&self) -> [(&'static str, f64); 4] {
        [
            ("TALLY_CHUNKS", f64::from(self.tally_chunks)),
            ("DENSITY_CHUNKS", f64::from(self.density_chunks)),
            ("HISTORIES_PER_BLOCK", f64::from(self.histories_per_block)),
            (
                "BLOCKS_PER_INVOCATION",
                f64::from(self.blocks_per_invocation),
            ),
        ]
    }
}

/// [`create`] with values for the shaders' `override` constants (by name).
pub fn create_with(
    ctx: &GpuContext,
    decl: KernelDecl,
    constants: &[(&str, f64)],
) -> Result<Pipeline, DeviceError> {
    let name = decl.kernel.name;
    let what = format!("compiling kernel {name} ({})", decl.kernel.file);
    ctx.scoped(&what, || {
        let layouts: Vec<Option<wgpu::BindGroupLayout>> = decl
            .groups
            .iter()
            .map(|g| {
                g.map(|g| {
                    let entries: Vec<_> = (0u32..)
                        .zip(g.bindings)
                        .map(|(i, bd)| layout_entry(i, bd.kind))
                        .collect();
                    ctx.device
                        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                            label: Some(g.name),
                            entries: &entries,
                        })
                })
            })
            .collect();
        let refs: Vec<Option<&wgpu::BindGroupLayout>> =
            layouts.iter().map(|l| l.as_ref()).collect();
        let layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &refs,
                immediate_size: 0,
            });
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(decl.kernel.file),
                source: wgpu::ShaderSource::Wgsl(decl.kernel.source.into()),
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                cache: None,
            });
        Pipeline {
            decl,
            pipeline,
            layouts,
        }
    })
}

impl Pipeline {
    /// A bind group for `group` from buffers in binding order; each buffer's name must be
    /// its binding's name (chunk placeholders may add a suffix, e.g. `tally_chunk5 (unused)`).
    pub fn bind(
        &self,
        ctx: &GpuContext,
        group: usize,
        buffers: &[&NamedBuffer],
    ) -> Result<wgpu::BindGroup, DeviceError> {
        let resources: Vec<Bound> = buffers.iter().map(|b| Bound::Buffer(b)).collect();
        self.bind_resources(ctx, group, &resources)
    }

    /// [`Pipeline::bind`] for groups that hold textures too.
    pub fn bind_resources(
        &self,
        ctx: &GpuContext,
        group: usize,
        resources: &[Bound],
    ) -> Result<wgpu::BindGroup, DeviceError> {
        let kernel = self.decl.kernel.name;
        let (Some(decl), Some(Some(layout))) = (self.decl.groups[group], self.layouts.get(group))
        else {
            return Err(DeviceError::Failed(format!(
                "kernel {kernel} has no bind group {group}"
            )));
        };
        if decl.bindings.len() != resources.len() {
            return Err(DeviceError::Failed(format!(
                "kernel {kernel} group {} needs {} resources, got {}",
                decl.name,
                decl.bindings.len(),
                resources.len()
            )));
        }
        for (i, (bd, res)) in decl.bindings.iter().zip(resources).enumerate() {
            let kind_ok = matches!(
                (bd.kind, res),
                (Texture | TextureU32, Bound::Texture(_))
                    | (Uniform | Storage | StorageRw, Bound::Buffer(_))
            );
            if !res.name().starts_with(bd.name) || !kind_ok {
                return Err(DeviceError::Failed(format!(
                    "kernel {kernel} group {} binding {i} is '{}' ({:?}) but '{}' was given",
                    decl.name,
                    bd.name,
                    bd.kind,
                    res.name()
                )));
            }
        }
        let entries: Vec<wgpu::BindGroupEntry> = (0u32..)
            .zip(resources)
            .map(|(i, res)| wgpu::BindGroupEntry {
                binding: i,
                resource: match res {
                    Bound::Buffer(buf) => buf.buffer.as_entire_binding(),
                    Bound::Texture(tex) => wgpu::BindingResource::TextureView(&tex.view),
                },
            })
            .collect();
        ctx.scoped(&format!("binding group {} of {kernel}", decl.name), || {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(decl.name),
                layout,
                entries: &entries,
            })
        })
    }

    /// Workgroups needed for `invocations` along x, checked against the device limit.
    pub fn workgroups_for(&self, ctx: &GpuContext, invocations: u32) -> Result<u32, DeviceError> {
        let per = self.decl.kernel.invocations_per_workgroup();
        let groups = invocations.div_ceil(per);
        let limit = ctx.limits.max_compute_workgroups_per_dimension;
        if groups > limit {
            return Err(DeviceError::Failed(format!(
                "kernel {}: {invocations} invocations need {groups} workgroups, above the device's {limit} per dispatch",
                self.decl.kernel.name
            )));
        }
        Ok(groups)
    }

    /// Most invocations one dispatch of this kernel can run on `ctx`.
    pub fn max_invocations_per_dispatch(&self, ctx: &GpuContext) -> u32 {
        ctx.limits
            .max_compute_workgroups_per_dimension
            .saturating_mul(self.decl.kernel.invocations_per_workgroup())
    }

    /// Records one dispatch of `workgroups` with the given bind groups and submits it.
    pub fn dispatch(&self, ctx: &GpuContext, groups: &[Option<&wgpu::BindGroup>], workgroups: u32) {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.record(&mut encoder, groups, [workgroups, 1]);
        ctx.queue.submit([encoder.finish()]);
    }

    /// Records a dispatch of `workgroups` (x, y) with the given bind groups into `encoder`.
    pub fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        groups: &[Option<&wgpu::BindGroup>],
        workgroups: [u32; 2],
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(self.decl.kernel.name),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        for (i, g) in (0u32..).zip(groups) {
            if let Some(g) = g {
                pass.set_bind_group(i, *g, &[]);
            }
        }
        pass.dispatch_workgroups(workgroups[0], workgroups[1], 1);
    }
}
