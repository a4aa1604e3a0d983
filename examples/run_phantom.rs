//! A water-sphere run through the library, no command line: configure, build the problem,
//! execute it, read the dose.
//!
//!     cargo run --release --example run_phantom

use voxdose::run::{Engine, Problem, RunConfig, Stop};
use voxdose::transport::Silent;

fn main() -> voxdose::Result<()> {
    let mut config = RunConfig::phantom("water-sphere");
    config.transport.stop = Stop::Decays(1e5);
    let engine = Engine::new(&config.transport)?;
    let problem = Problem::build(&config, &mut Silent)?;
    let result = engine.execute(&problem, &mut Silent)?;
    let sphere = &result.transport.regions[0];
    println!(
        "{}: {} decays on {}; mean dose in the {} {:.4e} {} ± {:.2} %",
        problem.name,
        result.transport.decays,
        result.transport.device.name,
        sphere.name,
        sphere.mean_gy_per_decay,
        result.dose_unit(),
        100.0 * sphere.rel_sigma
    );
    Ok(())
}
