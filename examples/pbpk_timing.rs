//! Where the time of one PBRPK simulation goes: compile (initial values, tape) and solve,
//! repeated, minimum reported. Run: `cargo run --release --example pbpk_timing -- MODEL.sbml
//! "Vein.Hot=10,Vein.Cold=100" [repeats] [rtol]`.

use std::time::Instant;
use voxdose::pbpk::model::Model;
use voxdose::pbpk::simulate::{self, Scenario};
use voxdose::pbpk::solve::SolveOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = Model::load(std::path::Path::new(&args[1]))?;
    let doses = simulate::pair_doses(&[args[2].clone()], &[])?;
    let repeats: usize = args.get(3).map_or(Ok(10), |s| s.parse())?;
    let rtol: f64 = args.get(4).map_or(Ok(1e-8), |s| s.parse())?;
    let half_life_s = voxdose::physics::nuclide::Nuclide::load("Lu-177")?.half_life_s;
    let scenario = Scenario {
        boluses: doses,
        grid_min: simulate::parse_minutes("0:20160:10")?,
        params: Vec::new(),
        half_life_s,
        solve: SolveOptions {
            rtol,
            ..SolveOptions::default()
        },
    };
    let (mut t_compile, mut t_total) = (f64::INFINITY, f64::INFINITY);
    let mut steps = 0;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let c = model.compile(&Default::default())?;
        t_compile = t_compile.min(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let r = simulate::simulate(&model, &scenario)?;
        t_total = t_total.min(t0.elapsed().as_secs_f64());
        steps = r.steps;
        std::hint::black_box((c, r));
    }
    let c = model.compile(&Default::default())?;
    println!(
        "states {}, rhs tape {} instructions, organ tape {}; compile {:.2} ms, simulate (compile + solve + tail) {:.2} ms, {steps} steps",
        c.y0.len(),
        c.rhs.len(),
        c.organ_hot.len(),
        t_compile * 1e3,
        t_total * 1e3
    );
    Ok(())
}
