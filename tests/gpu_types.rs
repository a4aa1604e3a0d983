//! The host twins agree with the WGSL: every `#[repr(C)]` struct in
//! `transport::gpu_types` has the size and member offsets naga computes for its WGSL twin,
//! the shared constants are equal, and every kernel row in `transport::gpu::pipelines`
//! declares exactly the resources its shader declares (name, group, binding, kind).
//! No device needed: the shaders are parsed with naga.

use std::mem::{offset_of, size_of};
use voxdose::transport::gpu::kernels::{self, KernelSource};
use voxdose::transport::gpu::pipelines::{
    self, BindingKind, GRID_GROUP, PHYSICS_GROUP, TALLY_GROUP,
};
use voxdose::transport::gpu_types::*;

fn parse(kernel: &KernelSource) -> naga::Module {
    naga::front::wgsl::parse_str(kernel.source)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.file, e.emit_to_string(kernel.source)))
}

/// (span, [(member, offset)]) of the WGSL struct `name`.
fn wgsl_struct(module: &naga::Module, name: &str) -> (u32, Vec<(String, u32)>) {
    module
        .types
        .iter()
        .find_map(|(_, ty)| match (&ty.name, &ty.inner) {
            (Some(n), naga::TypeInner::Struct { members, span }) if n == name => Some((
                *span,
                members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                    .collect(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no WGSL struct {name}"))
}

macro_rules! assert_twin {
    ($module:expr, $wgsl:literal, $ty:ty, [$($field:ident),* $(,)?]) => {{
        let (span, members) = wgsl_struct(&$module, $wgsl);
        assert_eq!(size_of::<$ty>() as u32, span, "size of {}", $wgsl);
        let host: Vec<(String, u32)> =
            vec![$((stringify!($field).to_string(), offset_of!($ty, $field) as u32)),*];
        assert_eq!(host, members, "members and offsets of {}", $wgsl);
    }};
}

/// Value of the WGSL constant `name` as f64 (u32, i32 or f32 literals).
fn wgsl_const(module: &naga::Module, name: &str) -> f64 {
    let c = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no WGSL const {name}"))
        .1;
    literal(module, c.init, &format!("const {name}"))
}

/// The global expression `init` as f64, when it is a u32, i32 or f32 literal (`what` names it
/// in the panic otherwise).
fn literal(module: &naga::Module, init: naga::Handle<naga::Expression>, what: &str) -> f64 {
    match module.global_expressions[init] {
        naga::Expression::Literal(naga::Literal::U32(v)) => f64::from(v),
        naga::Expression::Literal(naga::Literal::I32(v)) => f64::from(v),
        naga::Expression::Literal(naga::Literal::F32(v)) => f64::from(v),
        ref other => panic!("{what} is {other:?}"),
    }
}

/// Default value of the WGSL `override` constant `name` as f64 (a literal).
fn wgsl_override_default(module: &naga::Module, name: &str) -> f64 {
    let o = module
        .overrides
        .iter()
        .find(|(_, o)| o.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no WGSL override {name}"))
        .1;
    let init = o
        .init
        .unwrap_or_else(|| panic!("override {name} has no default"));
    literal(module, init, &format!("override {name}"))
}

#[test]
fn shared_structs_match_their_rust_twins() {
    let m = parse(&kernels::CHECK_TALLY);
    assert_twin!(
        m,
        "TallyParams",
        TallyParams,
        [n_voxels, chunk_shift, n_chunks, _pad0]
    );
    assert_twin!(
        m,
        "GridParams",
        GridParams,
        [
            nx,
            ny,
            nz,
            n_voxels,
            spacing_x_mm,
            spacing_y_mm,
            spacing_z_mm,
            density_chunk_shift,
        ]
    );
}

#[test]
fn physics_params_match_their_rust_twin() {
    let m = parse(&kernels::DECAY_HISTORY);
    assert_twin!(
        m,
        "PhysicsParams",
        PhysicsParams,
        [
            seed_lo,
            seed_hi,
            first_history_lo,
            first_history_hi,
            n_histories,
            electron_cutoff_units,
            photon_cutoff_units,
            n_materials,
            energy_ln_min,
            energy_inv_step,
            energy_n,
            x_ln_min,
            x_inv_step,
            x_n,
            tau_ln_min,
            tau_inv_step,
            tau_n,
            beta_count_floor,
            beta_count_frac,
            line_mean_count,
            local_units,
            n_beta,
            n_lines,
            n_source,
            n_shapes,
            off_s_incoh,
            off_ff_cum,
            off_majorant,
            off_beta,
            off_line_prob,
            off_shapes,
            off_x_values,
            off_line_alias,
            off_line_units,
            off_line_particle,
            pair_mu_photo,
            pair_mu_incoh,
            pair_mu_coh,
            pair_mu_total,
            pair_range,
            pair_lambda1,
            pair_inv_range_e,
            pair_screening,
            pair_material,
            pair_brems_xs,
            off_brems_shape,
            brems_t_ln_min,
            brems_t_inv_step
        ]
    );
}

#[test]
fn wgsl_physics_constants_equal_the_cpu_reference_constants() {
    use voxdose::physics::{decay, electron, tables};
    use voxdose::transport::cpu::{electron_track, photon_track};
    let m = parse(&kernels::DECAY_HISTORY);
    let cases: [(&str, f64); 23] = [
        ("N_ENERGY", tables::N_ENERGY as f64),
        ("N_RANGE", tables::N_RANGE as f64),
        ("N_X", tables::N_X as f64),
        ("X_MIN", f64::from(tables::X_MIN)),
        ("TAU_MIN", f64::from(tables::TAU_MIN)),
        ("TAU_MAX", f64::from(tables::TAU_MAX)),
        ("HC_KEV_ANGSTROM", f64::from(tables::HC_KEV_ANGSTROM)),
        ("ELECTRON_MASS_KEV", f64::from(tables::ELECTRON_MASS_KEV)),
        (
            "MAX_STEP_RANGE_FRACTION",
            f64::from(electron::MAX_STEP_RANGE_FRACTION),
        ),
        ("MAX_LINES_PER_DECAY", f64::from(decay::MAX_LINES_PER_DECAY)),
        ("MAX_BETAS_PER_DECAY", f64::from(decay::MAX_BETAS_PER_DECAY)),
        (
            "PARTICLE_STREAMS_LOG2",
            (voxdose::transport::cpu::decay_history::PARTICLE_STREAMS_PER_HISTORY as f64).log2(),
        ),
        ("PARTICLE_ELECTRON", f64::from(decay::ELECTRON)),
        ("PARTICLE_PHOTON", f64::from(decay::PHOTON)),
        (
            "MAX_ELECTRON_STEPS",
            f64::from(electron_track::MAX_ELECTRON_STEPS),
        ),
        ("MIN_DENSITY", f64::from(electron_track::MIN_DENSITY)),
        (
            "MAX_PHOTON_FLIGHTS",
            f64::from(photon_track::MAX_PHOTON_FLIGHTS),
        ),
        (
            "MAX_SCATTER_TRIALS",
            f64::from(photon_track::MAX_SCATTER_TRIALS),
        ),
        ("SHAPE_BOX", f64::from(voxdose::source::SHAPE_BOX)),
        (
            "BREMS_K_MIN_KEV",
            f64::from(voxdose::physics::brems::BREMS_K_MIN_KEV),
        ),
        ("N_BREMS_T", voxdose::physics::brems::N_BREMS_T as f64),
        ("N_BREMS_K", voxdose::physics::brems::N_BREMS_K as f64),
        (
            "MAX_BREMS_TRIALS",
            f64::from(voxdose::physics::brems::MAX_BREMS_TRIALS),
        ),
    ];
    for (name, value) in cases {
        assert_eq!(wgsl_const(&m, name), value, "{name}");
    }
    assert_eq!(
        wgsl_const(&m, "SHAPE_SPHERE"),
        f64::from(voxdose::source::SHAPE_SPHERE)
    );
    assert_eq!(
        wgsl_override_default(&m, "HISTORIES_PER_BLOCK"),
        f64::from(voxdose::transport::gpu_types::HISTORIES_PER_BLOCK_GPU)
    );
    assert_eq!(
        wgsl_override_default(&m, "BLOCKS_PER_INVOCATION"),
        f64::from(voxdose::transport::gpu_types::BLOCKS_PER_INVOCATION)
    );
    assert_eq!(
        wgsl_const(&m, "QUEUE_SLOTS"),
        f64::from(voxdose::transport::gpu_types::EMISSION_QUEUE_SLOTS)
    );
    assert_eq!(
        wgsl_const(&m, "QUEUE_WORD"),
        f64::from(voxdose::transport::gpu_types::QUEUE_WORD)
    );
    assert_eq!(
        wgsl_const(&m, "COUNTER_ELECTRON_PATH"),
        f64::from(Counter::ElectronPath as u32)
    );
    assert_eq!(
        wgsl_const(&m, "COUNTER_TRUNCATED_TRACKS"),
        f64::from(Counter::TruncatedTracks as u32)
    );
    assert_eq!(
        wgsl_const(&m, "COUNTER_ELECTRON_STEPS"),
        f64::from(Counter::ElectronSteps as u32)
    );
    assert_eq!(
        wgsl_const(&m, "COUNTER_PHOTON_INTERACTIONS"),
        f64::from(Counter::PhotonInteractions as u32)
    );
    assert_eq!(
        wgsl_const(&m, "COUNTER_RADIATED"),
        f64::from(Counter::Radiated as u32)
    );
}

#[test]
fn check_kernel_structs_match_their_rust_twins() {
    let rng = parse(&kernels::CHECK_RNG);
    assert_twin!(
        rng,
        "RngCheckParams",
        RngCheckParams,
        [
            seed_lo,
            seed_hi,
            first_stream_lo,
            first_stream_hi,
            n_streams,
            n_outputs,
            _pad0,
            _pad1
        ]
    );
    let tally = parse(&kernels::CHECK_TALLY);
    assert_twin!(
        tally,
        "TallyCheckParams",
        TallyCheckParams,
        [n_deposits, _pad0, _pad1, _pad2]
    );
    assert_twin!(tally, "Deposit", Deposit, [voxel, energy_kev]);
    let compact = parse(&kernels::TALLY_COMPACT);
    assert_twin!(
        compact,
        "CompactParams",
        CompactParams,
        [capacity, stride, first_voxel, n_voxels]
    );
    assert_eq!(
        wgsl_const(&compact, "COMPACT_HEADER_WORDS"),
        f64::from(COMPACT_HEADER_WORDS)
    );
    assert_eq!(
        wgsl_const(&compact, "COMPACT_ENTRY_WORDS"),
        f64::from(COMPACT_ENTRY_WORDS)
    );
    let grid = parse(&kernels::CHECK_GRID);
    assert_twin!(
        grid,
        "GridCheckParams",
        GridCheckParams,
        [n_points, _pad0, _pad1, _pad2]
    );
    assert_twin!(
        grid,
        "GridLookup",
        GridLookup,
        [voxel, material, density_g_cm3, _pad0]
    );
}

#[test]
fn shared_constants_match_their_rust_twins() {
    let m = parse(&kernels::CHECK_TALLY);
    assert_eq!(wgsl_const(&m, "UNITS_PER_KEV"), f64::from(UNITS_PER_KEV));
    assert_eq!(
        wgsl_const(&m, "TALLY_MAX_CHUNKS"),
        f64::from(TALLY_MAX_CHUNKS)
    );
    assert_eq!(
        wgsl_const(&m, "DENSITY_MAX_CHUNKS"),
        f64::from(DENSITY_MAX_CHUNKS)
    );
    assert_eq!(wgsl_const(&m, "N_COUNTERS"), f64::from(N_COUNTERS));
    assert_eq!(
        2f64.powf(wgsl_const(&m, "PAIR_TEXTURE_WIDTH_LOG2")),
        f64::from(voxdose::transport::gpu::buffers::PAIR_TEXTURE_WIDTH)
    );
    assert_eq!(
        2f64.powf(wgsl_const(&m, "SOURCE_TEXTURE_WIDTH_LOG2")),
        f64::from(voxdose::transport::gpu::buffers::SOURCE_TEXTURE_WIDTH)
    );
    for (name, c) in [
        ("COUNTER_EMITTED", Counter::Emitted),
        ("COUNTER_DEPOSITED", Counter::Deposited),
        ("COUNTER_ESCAPED", Counter::Escaped),
        ("COUNTER_HISTORIES", Counter::Histories),
    ] {
        assert_eq!(wgsl_const(&m, name), f64::from(c as u32), "{name}");
    }
}

fn texture_kind(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Option<BindingKind> {
    match module.types[ty].inner {
        naga::TypeInner::Image {
            class: naga::ImageClass::Sampled { kind, .. },
            ..
        } => match kind {
            naga::ScalarKind::Float => Some(BindingKind::Texture),
            naga::ScalarKind::Uint => Some(BindingKind::TextureU32),
            _ => None,
        },
        _ => None,
    }
}

fn kind_of(space: naga::AddressSpace) -> Option<BindingKind> {
    match space {
        naga::AddressSpace::Uniform => Some(BindingKind::Uniform),
        naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE) => {
            Some(BindingKind::StorageRw)
        }
        naga::AddressSpace::Storage { .. } => Some(BindingKind::Storage),
        naga::AddressSpace::Handle => None, // textures: see `texture_kind`
        _ => None,
    }
}

#[test]
fn every_kernel_row_declares_exactly_the_resources_of_its_shader() {
    let files: Vec<&str> = kernels::ALL.iter().map(|k| k.name).collect();
    let mut rows: Vec<&str> = pipelines::ALL.iter().map(|d| d.kernel.name).collect();
    rows.sort();
    assert_eq!(rows, files, "each kernel in shaders/ has exactly one row");
    for decl in pipelines::ALL {
        let module = parse(&decl.kernel);
        // Group 0 is the kernel's own row; groups 1–3 are the shared rows, declared in
        // every module (shared files are prepended) whether or not the kernel binds them.
        let expected = [
            decl.groups[0],
            Some(&GRID_GROUP),
            Some(&TALLY_GROUP),
            Some(&PHYSICS_GROUP),
        ];
        for (g, row) in decl.groups.iter().enumerate().skip(1) {
            if let Some(row) = row {
                assert_eq!(
                    row.name,
                    expected[g].unwrap().name,
                    "{} group {g}",
                    decl.kernel.name
                );
            }
        }
        let mut declared = Vec::new();
        for (_, var) in module.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            let kind = kind_of(var.space)
                .or_else(|| texture_kind(&module, var.ty))
                .expect("buffer or texture binding");
            declared.push((
                rb.group,
                rb.binding,
                var.name.clone().unwrap_or_default(),
                kind,
            ));
        }
        declared.sort_by_key(|d| (d.0, d.1));
        let mut table = Vec::new();
        for (g, row) in expected.iter().enumerate() {
            for (i, bd) in row.iter().flat_map(|r| r.bindings.iter()).enumerate() {
                table.push((g as u32, i as u32, bd.name.to_string(), bd.kind));
            }
        }
        assert_eq!(declared, table, "bindings of kernel {}", decl.kernel.name);
    }
}
