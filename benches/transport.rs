//! Transport benchmarks, one criterion group per stage on the same phantoms, throughput in
//! decays (or particles). `voxdose bench` gives the end-to-end figure with the device name.

#![allow(
    missing_docs,
    reason = "criterion_group! generates undocumented functions"
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voxdose::physics::decay::{DecayTables, EmissionFilter};
use voxdose::physics::nuclide::Nuclide;
use voxdose::physics::rng::Pcg32;
use voxdose::transport::{simulate, Device, Silent, StopRule, TransportSettings};

fn settings(decays: u64) -> TransportSettings {
    TransportSettings {
        nuclide: Nuclide::load("Lu-177").expect("Lu-177 data"),
        stop: StopRule::Decays(decays),
        seed: 1,
        batches: 4,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: EmissionFilter::All,
        decays_per_block: None,
    }
}

fn phantom(name: &str) -> voxdose::phantoms::Phantom {
    voxdose::phantoms::build(&voxdose::phantoms::PhantomSpec::named(name))
        .expect("built-in phantom")
}

/// Stage 1: decay sampling alone (β energy, line counts and picks).
fn decay_sampling(c: &mut Criterion) {
    let lu = Nuclide::load("Lu-177").expect("Lu-177 data");
    let t = DecayTables::new(&lu, 10.0, 10.0, EmissionFilter::All);
    let n = 100_000u64;
    let mut g = c.benchmark_group("decay_sampling");
    g.throughput(Throughput::Elements(n));
    g.bench_function("lu177", |b| {
        b.iter(|| {
            let mut e = 0.0f32;
            for h in 0..n {
                let mut r = Pcg32::new(1, h);
                for _ in 0..t.beta_count(r.uniform()) {
                    e += t.sample_beta_kev(r.uniform());
                }
                for _ in 0..t.line_count(r.uniform()) {
                    e += t.line_units[t.line_alias.sample(r.uniform(), r.uniform())] as f32;
                }
            }
            e
        })
    });
    g.finish();
}

/// Stage 2: whole histories (transport + tally) on the CPU reference, per phantom.
fn cpu_transport(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_transport");
    g.sample_size(10);
    for name in ["water-sphere", "nema-iec"] {
        let p = phantom(name);
        let decays = 100_000u64;
        g.throughput(Throughput::Elements(decays));
        g.bench_with_input(BenchmarkId::from_parameter(name), &p, |b, p| {
            b.iter(|| {
                simulate(
                    &p.model,
                    &p.source,
                    &settings(decays),
                    &Device::Cpu,
                    &mut Silent,
                )
                .expect("run")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decay_sampling, cpu_transport);
criterion_main!(benches);
