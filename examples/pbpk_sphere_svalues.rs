//! A default organ S-value table for `voxdose trial --s-values`, computed by voxdose's own
//! transport: each organ is a water sphere of the organ's volume (the built-in
//! `water-sphere` phantom), and S[organ][organ] is the mean dose per decay in the sphere.
//! Self-dose only (cross-organ S = 0), an approximation (OLINDA's sphere model is the same
//! idea); a twin supplies the patient's own S-matrix instead.
//!
//! Run: `cargo run --release --example pbpk_sphere_svalues -- [--decays N] [--nuclide Lu-177]
//! Kidney=311 SG=21 Liver=1800 > s_values.json` (volumes in mL).
//!
//! It calls the library's current phantom and transport API (`phantoms::build`,
//! `transport::simulate`), kept out of `src/pbpk/` on purpose: those signatures are being
//! changed by the run-layer refactor, and only this generator has to follow.

use voxdose::phantoms::PhantomSpec;
use voxdose::physics::decay::EmissionFilter;
use voxdose::physics::nuclide::Nuclide;
use voxdose::transport::{simulate, Device, Silent, StopRule, TransportSettings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut decays: u64 = 1_000_000;
    let mut nuclide = "Lu-177".to_string();
    let mut organs: Vec<(String, f64)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--decays" => decays = args.next().ok_or("--decays N")?.parse::<f64>()? as u64,
            "--nuclide" => nuclide = args.next().ok_or("--nuclide NAME")?,
            _ => {
                let (name, ml) = a.split_once('=').ok_or("organs as NAME=VOLUME_ML")?;
                organs.push((name.to_string(), ml.parse()?));
            }
        }
    }
    if organs.is_empty() {
        return Err("give organs as NAME=VOLUME_ML, e.g. Kidney=311".into());
    }
    let mut targets = serde_json::Map::new();
    for (name, ml) in &organs {
        let radius_mm = (3.0 * ml * 1000.0 / (4.0 * std::f64::consts::PI)).cbrt();
        // the phantom is a cube of 64 voxels: leave 30 % of the radius around the sphere
        let voxel_mm = (2.6 * radius_mm / 64.0).max(1.0);
        let phantom = voxdose::phantoms::build(&PhantomSpec {
            name: "water-sphere".into(),
            radius_mm: Some(radius_mm),
            voxel_mm: Some(voxel_mm),
            grid: None,
            material: None,
            layers: None,
            source_layer: None,
        })?;
        let settings = TransportSettings {
            nuclide: Nuclide::load(&nuclide)?,
            stop: StopRule::Decays(decays),
            seed: 1,
            batches: 20,
            electron_cutoff_kev: 10.0,
            photon_cutoff_kev: 10.0,
            emissions: EmissionFilter::All,
            decays_per_block: None,
        };
        let r = simulate(
            &phantom.model,
            &phantom.source,
            &settings,
            &Device::Cpu,
            &mut Silent,
        )?;
        let sphere = r
            .regions
            .iter()
            .find(|g| g.name == "sphere")
            .ok_or("no sphere region")?;
        eprintln!(
            "{name}: {ml} mL, r = {radius_mm:.1} mm, {:.4} kg, S = {:.4e} Gy/decay ± {:.2} %",
            sphere.mass_kg,
            sphere.mean_gy_per_decay,
            sphere.rel_sigma * 100.0
        );
        targets.insert(
            name.clone(),
            serde_json::json!({ name.clone(): sphere.mean_gy_per_decay }),
        );
    }
    let doc = serde_json::json!({
        "unit": "Gy/decay",
        "source": format!(
            "voxdose examples/pbpk_sphere_svalues.rs: {nuclide}, {decays} decays per organ, each organ a water sphere of its volume (water-sphere phantom, CPU transport), self-dose only"
        ),
        "targets": targets,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}
