//! Long fuzzing runs of voxdose's file readers (the harness: `tests/fuzz/harness.rs`).
//!
//! ```sh
//! cargo run --example fuzz -- dicom 600 [SEED]     # dicom | nifti | rtstruct | study, seconds
//! cargo run --example fuzz -- replay FILE…         # run saved inputs once, timed
//! ```
//!
//! Inputs that panic (or take over 5 s) are saved in `target/fuzz/crashes/`, the inputs kept
//! for their new error messages in `target/fuzz/corpus/TARGET/`; the figures are printed.
//! Copy a crashing input to `tests/data/fuzz/crashes/` once fixed: `tests/fuzz_smoke.rs`
//! replays every file there.

#[path = "../tests/fuzz/harness.rs"]
mod harness;

use std::path::Path;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("replay") {
        // `fuzz replay FILE…`: run each saved input once, with its time.
        for f in &args[1..] {
            let path = Path::new(f);
            let Some(target) = harness::target_of(path) else {
                continue;
            };
            let t0 = std::time::Instant::now();
            let r = harness::execute(target, path);
            println!("{:.3} s {f}: {r:?}", t0.elapsed().as_secs_f64());
        }
        return;
    }
    let usage = "usage: fuzz dicom|nifti|rtstruct|study SECONDS [SEED]";
    let Some(target) = args.first().and_then(|a| harness::Target::parse(a)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz");
    let work = base.join(format!("work-{}-{}", target.name(), std::process::id()));
    let corpus = base.join("corpus").join(target.name());
    let r = harness::run(
        target,
        Duration::from_secs_f64(seconds),
        seed,
        &work,
        &base.join("crashes"),
        Some(&corpus),
    );
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "fuzz {} seed {seed}: {seconds} s, {} executions ({:.0}/s), {} accepted, {} distinct errors, pool {}, slowest {:.3} s, {} crashes, {} slow",
        target.name(),
        r.execs,
        r.execs as f64 / seconds,
        r.accepted,
        r.distinct_errors,
        r.pool,
        r.max_exec_s,
        r.crashes.len(),
        r.slow.len()
    );
    for c in &r.crashes {
        println!("  crash: {}", c.display());
    }
    for (s, t) in &r.slow {
        println!("  slow ({t:.1} s): {}", s.display());
    }
    if !r.crashes.is_empty() {
        std::process::exit(1);
    }
}
