//! The physics, emission and source tables packed for the device (bind group 3,
//! `shaders/shared/tables.wgsl`).
//!
//! Every float table of [`Prepared`] goes into one `ftab` array and every integer table into
//! one `utab`, each at an offset recorded in [`PhysicsParams`]; the source alias table keeps
//! its own three buffers because a voxel source can be as large as the grid. Values are
//! copied unchanged (same f32 bits as the CPU reference reads), plus the x grid's points as
//! the CPU computes them, so `x_grid.value(j) as f32` needs no f64 in WGSL.

use super::buffers::{self, Bound, NamedBuffer, NamedTexture};
use super::device::GpuContext;
use super::DeviceError;
use crate::physics::tables::N_X;
use crate::transport::driver::Prepared;
use crate::transport::gpu_types::PhysicsParams;

/// Host copy of the packed tables.
#[derive(Clone, Debug, Default)]
pub struct PackedTables {
    /// Scalars and offsets (seed, history range and counts are set per dispatch).
    pub params: PhysicsParams,
    /// Float tables, concatenated.
    pub ftab: Vec<f32>,
    /// Integer tables, concatenated.
    pub utab: Vec<u32>,
    /// The interpolated tables as (value, next − value) pairs, concatenated (`ptab`).
    pub ptab: Vec<[f32; 2]>,
}

fn push_f(ftab: &mut Vec<f32>, data: &[f32]) -> u32 {
    let off = ftab.len() as u32;
    ftab.extend_from_slice(data);
    off
}

fn push_u(utab: &mut Vec<u32>, data: &[u32]) -> u32 {
    let off = utab.len() as u32;
    utab.extend_from_slice(data);
    off
}

/// Appends `data` to `ptab` as (value, next − value) pairs (the last pair's step is 0, never
/// read: lookups stop one point before each table's end); returns its offset in pairs.
fn push_pairs(ptab: &mut Vec<[f32; 2]>, data: &[f32]) -> u32 {
    let off = ptab.len() as u32;
    ptab.extend(data.iter().enumerate().map(|(i, &a)| {
        let next = data.get(i + 1).map_or(0.0, |&b| b - a);
        [a, next]
    }));
    off
}

/// Packs the run's tables; `params` carries everything but the per-dispatch fields.
pub fn pack(prep: &Prepared) -> PackedTables {
    let t = &prep.tables;
    let d = &prep.decay;
    let s = &prep.source;
    let (mut f, mut u, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
    let shapes: Vec<f32> = s
        .shapes
        .iter()
        .flat_map(|sh| std::iter::once(sh.kind as f32).chain(sh.p))
        .collect();
    let x_values: Vec<f32> = (0..N_X).map(|j| t.x_grid.value(j) as f32).collect();
    let p = PhysicsParams {
        electron_cutoff_units: prep.params.electron_cutoff_units,
        photon_cutoff_units: prep.params.photon_cutoff_units,
        n_materials: t.n_materials() as u32,
        energy_ln_min: t.energy.ln_min,
        energy_inv_step: t.energy.inv_step,
        energy_n: t.energy.n,
        x_ln_min: t.x_grid.ln_min,
        x_inv_step: t.x_grid.inv_step,
        x_n: t.x_grid.n,
        tau_ln_min: t.tau_grid.ln_min,
        tau_inv_step: t.tau_grid.inv_step,
        tau_n: t.tau_grid.n,
        beta_count_floor: d.beta_count_floor,
        beta_count_frac: d.beta_count_frac,
        line_mean_count: d.line_mean_count,
        local_units: d.local_units,
        n_beta: d.beta_inv_cdf.len() as u32,
        n_lines: d.line_alias.len() as u32,
        n_source: s.alias.len() as u32,
        n_shapes: s.shapes.len() as u32,
        off_s_incoh: push_f(&mut f, &t.s_incoh),
        off_ff_cum: push_f(&mut f, &t.ff_cum),
        off_majorant: push_f(&mut f, &prep.majorant),
        off_beta: push_f(&mut f, &d.beta_inv_cdf),
        off_line_prob: push_f(&mut f, &d.line_alias.prob),
        off_shapes: push_f(&mut f, &shapes),
        off_x_values: push_f(&mut f, &x_values),
        off_brems_shape: push_f(&mut f, &t.brems_shape),
        brems_t_ln_min: t.brems_t_grid.ln_min,
        brems_t_inv_step: t.brems_t_grid.inv_step,
        off_line_alias: push_u(&mut u, &d.line_alias.alias),
        off_line_units: push_u(&mut u, &d.line_units),
        off_line_particle: push_u(&mut u, &d.line_particle),
        pair_mu_photo: push_pairs(&mut pairs, &t.mu_photo),
        pair_mu_incoh: push_pairs(&mut pairs, &t.mu_incoh),
        pair_mu_coh: push_pairs(&mut pairs, &t.mu_coh),
        pair_mu_total: push_pairs(&mut pairs, &t.mu_total),
        pair_range: push_pairs(&mut pairs, &t.range),
        pair_lambda1: push_pairs(&mut pairs, &t.lambda1),
        pair_inv_range_e: push_pairs(&mut pairs, &t.inv_range_e),
        pair_screening: push_pairs(&mut pairs, &t.screening),
        pair_brems_xs: push_pairs(&mut pairs, &t.brems_xs),
        pair_material: {
            let off = pairs.len() as u32;
            for (g, &cut) in t.range_grid.iter().zip(&prep.range_cutoff) {
                pairs.push([g.ln_min, g.inv_step]);
                pairs.push([g.n as f32, cut]);
            }
            off
        },
        ..Default::default()
    };
    PackedTables {
        params: p,
        ftab: f,
        utab: u,
        ptab: pairs,
    }
}

/// The source alias table as one texel per column: (keep probability as f32 bits, the column's
/// target, its alias's target, 0), the target being the voxel index for a voxel source and the
/// shape index for shapes — so one fetch gives the sampled voxel (`source_alias_sample` in
/// shaders/shared/source.wgsl; CPU twin `AliasTable::sample` then `voxel_index`).
pub fn source_texels(s: &crate::source::SourceTables) -> Vec<[u32; 4]> {
    let target = |k: usize| {
        if s.shapes.is_empty() {
            s.voxel_index[k]
        } else {
            k as u32
        }
    };
    (0..s.alias.len())
        .map(|i| {
            [
                s.alias.prob[i].to_bits(),
                target(i),
                target(s.alias.alias[i] as usize),
                0,
            ]
        })
        .collect()
}

/// The physics buffers of one run (bind group 3).
#[derive(Debug)]
pub struct DevicePhysics {
    /// The uniform, rewritten before each dispatch.
    pub uniform: NamedBuffer,
    ftab: NamedBuffer,
    utab: NamedBuffer,
    src_table: NamedTexture,
    ptab: NamedTexture,
}

impl DevicePhysics {
    /// Uploads the packed tables and the source alias table.
    pub fn upload(
        ctx: &GpuContext,
        prep: &Prepared,
        packed: &PackedTables,
    ) -> Result<Self, DeviceError> {
        let s = &prep.source;
        Ok(DevicePhysics {
            uniform: buffers::uniform(ctx, "physics", &packed.params)?,
            ftab: buffers::storage_init(ctx, "ftab", bytemuck::cast_slice(&packed.ftab))?,
            utab: buffers::storage_init(ctx, "utab", bytemuck::cast_slice(&packed.utab))?,
            src_table: buffers::source_texture(ctx, "src_table", &source_texels(s))?,
            ptab: buffers::pair_texture(ctx, "ptab", &packed.ptab)?,
        })
    }

    /// The resources of bind group 3, in binding order.
    pub fn resources(&self) -> Vec<Bound<'_>> {
        vec![
            Bound::Buffer(&self.uniform),
            Bound::Buffer(&self.ftab),
            Bound::Buffer(&self.utab),
            Bound::Texture(&self.src_table),
            Bound::Texture(&self.ptab),
        ]
    }

    /// Bytes on the device (for the memory estimate).
    pub fn device_bytes(&self) -> u64 {
        self.resources().iter().map(|b| b.bytes()).sum()
    }
}
