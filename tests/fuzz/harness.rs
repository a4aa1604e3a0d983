//! A seeded mutation fuzzer for voxdose's readers of untrusted files, on the stable
//! toolchain: the DICOM series reader (`read_ct`, `read_activity`), the NIfTI reader, the
//! RTSTRUCT reader (and rasterising its contours) and the study-file parser.
//!
//! Each execution takes an input from the pool (the real files of `tests/data`, then every
//! input that gave an error message not seen before), applies 1–8 byte-level mutations
//! (bit flips, "interesting" integers over 1/2/4 bytes, chunk deletion, duplication,
//! truncation, random insertions; for the study file also token swaps of numbers and
//! strings), writes it to a file and calls the reader under `catch_unwind`. A panic is a
//! crash: the input is saved under the crash folder. An execution slower than
//! [`SLOW_S`] is recorded as a hang candidate. The run is fully determined by the seed
//! (apart from the time budget).
//!
//! Shared by `tests/fuzz_smoke.rs` (a short run per target in CI, and the replay of every
//! saved crash) and `examples/fuzz.rs` (long runs: `cargo run --example fuzz -- dicom 600`).

#![allow(
    dead_code,
    reason = "the smoke test and the example use different parts"
)]

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An execution slower than this (s) is recorded as a possible hang.
pub const SLOW_S: f64 = 5.0;

/// What is fuzzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// DICOM image files through `read_ct` and `read_activity`.
    Dicom,
    /// NIfTI-1/2 files (plain and gzipped) through `read_volume_f32` and `read_ct`.
    Nifti,
    /// RTSTRUCT files through `read_rtstruct` and `regions_on` a small grid.
    Rtstruct,
    /// Study files through `Study::from_json`.
    Study,
}

impl Target {
    /// All targets, in order.
    pub const ALL: [Target; 4] = [
        Target::Dicom,
        Target::Nifti,
        Target::Rtstruct,
        Target::Study,
    ];

    /// The target called `name`.
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Its name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Target::Dicom => "dicom",
            Target::Nifti => "nifti",
            Target::Rtstruct => "rtstruct",
            Target::Study => "study",
        }
    }

    /// The extension the input file is written with.
    fn extension(self) -> &'static str {
        match self {
            Target::Dicom | Target::Rtstruct => "dcm",
            Target::Nifti => "nii",
            Target::Study => "json",
        }
    }

    /// The seed inputs: real files of `tests/data` (NIfTI decompressed, so that mutations
    /// reach the header rather than the gzip stream).
    pub fn seeds(self) -> Vec<Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let files: &[&str] = match self {
            Target::Dicom => &[
                "dicom/compressed_wg04/CT1_UNC.dcm",
                "dicom/compressed_wg04/NM1_UNC.dcm",
                "dicom/compressed_wg04/NM1_RLE.dcm",
                "dicom/compressed_wg04/CT1_J2KR.dcm",
                "dicom/ct3_dcmqi/IMG0001.dcm",
                "dicom/oblique_rtutils/0.dcm",
                "dicom/multiframe/emri_small.dcm",
                "dicom/multiframe/emri_small_big_endian.dcm",
            ],
            Target::Nifti => &[
                "nifti/nibabel/standard.nii.gz",
                "nifti/nibabel/reoriented_anat_moved.nii",
                "nifti/totalseg/example_seg.nii.gz",
            ],
            Target::Rtstruct => &[
                "dicom/rt_pydicom/rtstruct.dcm",
                "dicom/sts002_ct_pet_rtstruct/RS_PET.dcm",
            ],
            Target::Study => &[
                "fuzz/study/minimal.json",
                "fuzz/study/full.json",
                "fuzz/study/rc_curve.json",
            ],
        };
        files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
                if f.ends_with(".gz") {
                    gunzip(&bytes)
                } else {
                    bytes
                }
            })
            .collect()
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("seed gunzips");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// SplitMix64: small, seeded, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

const STUDY_TOKENS: [&str; 14] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-320",
    "NaN",
    "null",
    "\"\"",
    "[]",
    "{}",
    "true",
    "4294967297",
    "\"../../etc\"",
    "\"Lu-177\"",
];

/// Applies 1–8 random mutations to `input`.
pub fn mutate(input: &[u8], rng: &mut Rng, target: Target) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let n = d.len();
        match rng.below(if target == Target::Study { 9 } else { 8 }) {
            0 if n > 0 => {
                let i = rng.below(n);
                d[i] ^= 1 << rng.below(8);
            }
            1 if n > 0 => {
                let i = rng.below(n);
                d[i] = rng.next() as u8;
            }
            2 if n >= 4 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1usize, 2, 4][rng.below(3)];
                let i = rng.below(n - width + 1);
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                d[i..i + width].copy_from_slice(&bytes[..width]);
            }
            3 if n > 1 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(256));
                d.drain(i..i + len);
            }
            4 if n > 1 => {
                let i = rng.below(n);
                let len = 1 + rng.below((n - i).min(256));
                let chunk = d[i..i + len].to_vec();
                let at = rng.below(n);
                d.splice(at..at, chunk);
            }
            5 if n > 0 => d.truncate(rng.below(n)),
            6 => {
                let at = rng.below(n + 1);
                let add: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                d.splice(at..at, add);
            }
            7 if n >= 8 => {
                // Copy a chunk over another place (moves tags and lengths around).
                let len = 1 + rng.below(64.min(n / 2));
                let from = rng.below(n - len);
                let to = rng.below(n - len);
                let chunk = d[from..from + len].to_vec();
                d[to..to + len].copy_from_slice(&chunk);
            }
            8 => study_token(&mut d, rng),
            _ => {}
        }
    }
    d
}

/// Replaces a JSON number or string value with an odd token.
fn study_token(d: &mut Vec<u8>, rng: &mut Rng) {
    let starts: Vec<usize> = (1..d.len())
        .filter(|&i| {
            (d[i - 1] == b' ' || d[i - 1] == b':' || d[i - 1] == b'[')
                && (d[i].is_ascii_digit() || d[i] == b'"' || d[i] == b'-')
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let s = starts[rng.below(starts.len())];
    let mut e = s + 1;
    if d[s] == b'"' {
        while e < d.len() && d[e] != b'"' {
            e += 1;
        }
        e = (e + 1).min(d.len());
    } else {
        while e < d.len() && (d[e].is_ascii_alphanumeric() || b".-+".contains(&d[e])) {
            e += 1;
        }
    }
    let token = STUDY_TOKENS[rng.below(STUDY_TOKENS.len())];
    d.splice(s..e, token.bytes());
}

/// Runs the readers of `target` on the file `path` (the error, if any, in words).
pub fn execute(target: Target, path: &Path) -> Result<(), String> {
    match target {
        Target::Dicom => {
            let ct = voxdose::io::ct::read_ct(path).map(|_| ());
            let opts = voxdose::io::activity::ActivityOptions {
                calibration_bq_ml_per_count: Some(1.0),
            };
            let act = voxdose::io::activity::read_activity(path, &opts).map(|_| ());
            // A CT is refused as activity and the other way round: accepted by either.
            match (ct, act) {
                (Err(e), Err(_)) => Err(e.to_string()),
                _ => Ok(()),
            }
        }
        Target::Nifti => {
            voxdose::io::nifti::read_volume_f32(path).map_err(|e| e.to_string())?;
            voxdose::io::ct::read_ct(path)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Target::Rtstruct => {
            let set = voxdose::io::rtstruct::read_rtstruct(path).map_err(|e| e.to_string())?;
            let grid = voxdose::geometry::Grid::centred([24, 24, 16], 8.0);
            set.regions_on(&grid, "")
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Target::Study => {
            let text = String::from_utf8_lossy(&std::fs::read(path).map_err(|e| e.to_string())?)
                .into_owned();
            voxdose::kinetics::study::Study::from_json(path, &text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

/// Figures of a fuzzing run.
#[derive(Debug, Default)]
pub struct Report {
    /// Executions.
    pub execs: u64,
    /// Inputs the readers accepted.
    pub accepted: u64,
    /// Distinct error messages (numbers stripped) seen: a crude coverage measure.
    pub distinct_errors: usize,
    /// Inputs that panicked, as saved.
    pub crashes: Vec<PathBuf>,
    /// Inputs slower than [`SLOW_S`], as saved, with their seconds.
    pub slow: Vec<(PathBuf, f64)>,
    /// The slowest execution (s).
    pub max_exec_s: f64,
    /// The pool's size at the end (seeds + inputs kept).
    pub pool: usize,
}

/// The shape of an error message: digits and paths dropped, first 60 characters.
fn error_class(msg: &str) -> String {
    msg.split_whitespace()
        .filter(|w| !w.contains('/'))
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(60)
        .collect()
}

/// Fuzzes `target` for `budget`, from `seed`, writing inputs under `work` and crashing or
/// slow inputs under `crashes`. With `corpus`, the inputs kept are saved there at the end.
pub fn run(
    target: Target,
    budget: Duration,
    seed: u64,
    work: &Path,
    crashes: &Path,
    corpus: Option<&Path>,
) -> Report {
    std::fs::create_dir_all(work).expect("work folder");
    let mut pool = target.seeds();
    let n_seeds = pool.len();
    let mut seen: HashSet<String> = HashSet::new();
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let input = work.join(format!("input.{}", target.extension()));
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    while start.elapsed() < budget {
        let parent = &pool[rng.below(pool.len())];
        let mut bytes = mutate(parent, &mut rng, target);
        let mut path = input.clone();
        if target == Target::Nifti && rng.below(8) == 0 {
            bytes = gzip(&bytes);
            path = work.join("input.nii.gz");
        }
        std::fs::write(&path, &bytes).expect("write input");
        let t0 = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| execute(target, &path)));
        let dt = t0.elapsed().as_secs_f64();
        report.execs += 1;
        report.max_exec_s = report.max_exec_s.max(dt);
        let name = format!("{}-{:016x}.{}", target.name(), hash(&bytes), ext_of(&path));
        match outcome {
            Err(_) => report.crashes.push(save(crashes, &name, &bytes)),
            Ok(Ok(())) => report.accepted += 1,
            Ok(Err(msg)) => {
                if seen.insert(error_class(&msg)) && pool.len() < 256 {
                    pool.push(bytes.clone());
                }
            }
        }
        if dt > SLOW_S {
            report
                .slow
                .push((save(crashes, &format!("slow-{name}"), &bytes), dt));
        }
    }
    std::panic::set_hook(previous_hook);
    report.distinct_errors = seen.len();
    report.pool = pool.len();
    if let Some(dir) = corpus {
        std::fs::create_dir_all(dir).expect("corpus folder");
        for bytes in &pool[n_seeds..] {
            let name = format!(
                "{}-{:016x}.{}",
                target.name(),
                hash(bytes),
                target.extension()
            );
            std::fs::write(dir.join(name), bytes).expect("write corpus");
        }
    }
    report
}

fn ext_of(path: &Path) -> &'static str {
    if path.to_string_lossy().ends_with(".nii.gz") {
        "nii.gz"
    } else {
        match path.extension().and_then(|e| e.to_str()) {
            Some("dcm") => "dcm",
            Some("nii") => "nii",
            _ => "json",
        }
    }
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("crash folder");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write crash");
    p
}

/// FNV-1a, to name saved inputs by content.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The target of a saved input, from its file name (`dicom-….dcm`, `slow-nifti-….nii`).
pub fn target_of(path: &Path) -> Option<Target> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_prefix("slow-").unwrap_or(name);
    Target::parse(name.split('-').next()?)
}
