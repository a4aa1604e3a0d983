//! Memory a run needs, said before it starts, and refused when it is more than the machine
//! (or `--mem`) gives: a `--grid 2000` phantom or a mistyped voxel size must end with the
//! estimate and the way out, not with the allocator aborting the process.
//!
//! The estimate counts what grows with the voxels (per voxel: material 1 B, density 4 B,
//! region lists ≤ 4 B, the source's alias table 16 B, the energy tally 8 B, the batch sums
//! and sums of squares 16 B, the dose and σ maps 12 B, the output conversions 16 B: 77 B)
//! and, for shards and checkpoints, the recorded batches (12 B per scored voxel and batch, at
//! most every voxel in every batch), plus 256 MiB for tables, code and buffers. The limit is
//! the smallest of the available memory (`MemAvailable` in /proc/meminfo), the control
//! group's limit (cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`: what Slurm's `--mem`
//! sets) and `--mem`. GPU runs check device memory on their own (`transport::gpu`).

use crate::{Error, Result};

/// Bytes per voxel of a run (see the module doc).
pub const BYTES_PER_VOXEL: u64 = 77;
/// Fixed part: physics tables, code, buffers.
pub const FIXED_BYTES: u64 = 256 << 20;
/// Bytes per recorded (voxel, units) pair of a shard's or checkpoint's batches.
pub const RECORDED_PAIR_BYTES: u64 = 12;

/// The estimated memory of a run of `voxels` voxels recording `recorded_batches` batches.
pub fn estimate_bytes(voxels: u64, recorded_batches: u32) -> u64 {
    let per_voxel = BYTES_PER_VOXEL + RECORDED_PAIR_BYTES * u64::from(recorded_batches);
    FIXED_BYTES.saturating_add(voxels.saturating_mul(per_voxel))
}

/// The memory a run may use: available memory, the control group's limit, and `mem_gb`
/// (the smallest known), with what set it.
pub fn limit_bytes(mem_gb: Option<f64>) -> Option<(u64, &'static str)> {
    let mut best: Option<(u64, &'static str)> = None;
    let mut take = |bytes: Option<u64>, what: &'static str| {
        if let Some(b) = bytes {
            if best.is_none_or(|(x, _)| b < x) {
                best = Some((b, what));
            }
        }
    };
    take(mem_available(), "available memory");
    take(cgroup_limit(), "the job's memory limit (cgroup)");
    take(mem_gb.map(|g| (g * GIB) as u64), "--mem");
    best
}

/// Refuses a run of `voxels` voxels (recording `recorded_batches`) that needs more than the
/// limit; returns the line that states the estimate.
pub fn check(voxels: u64, recorded_batches: u32, mem_gb: Option<f64>) -> Result<String> {
    let need = estimate_bytes(voxels, recorded_batches);
    let Some((limit, what)) = limit_bytes(mem_gb) else {
        return Ok(format!("memory: estimated {} (no limit known)", gib(need)));
    };
    if need > limit {
        return Err(Error::MemoryTooLarge {
            need: gib(need),
            limit: gib(limit),
            what: what.into(),
            voxels,
        });
    }
    Ok(format!(
        "memory: estimated {} of {} ({what})",
        gib(need),
        gib(limit)
    ))
}

const GIB: f64 = (1u64 << 30) as f64;

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / GIB)
}

fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cgroup_limit() -> Option<u64> {
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
    let v1 = || std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok();
    let text = v2.or_else(v1)?;
    // "max" (v2) or a huge number (v1) mean no limit.
    text.trim().parse::<u64>().ok().filter(|&b| b < (1 << 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_of_2000_cubed_is_refused_with_its_estimate() {
        let voxels = 2000u64.pow(3);
        let e = check(voxels, 0, Some(16.0)).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.exit_code(), 71, "{text}");
        assert!(
            text.contains("573.") && text.contains("16.00 GiB"),
            "{text}"
        );
        let ok = check(64u64.pow(3), 20, Some(16.0)).unwrap();
        assert!(ok.starts_with("memory: estimated 0.3"), "{ok}");
    }

    #[test]
    fn recording_batches_counts_twelve_bytes_per_voxel_and_batch() {
        assert_eq!(estimate_bytes(1000, 4) - estimate_bytes(1000, 0), 1000 * 48);
    }
}
