//! `--shard K/N`: the K-th of N parts of a run of fixed decays. The run's batches are dealt
//! round robin (batch `b` to shard `b mod N + 1`), each keeping its global index and first
//! history, so its random streams are those the single run gives it; N ≤ batches, and the
//! decays are fixed (a target-uncertainty run decides its batches as it goes and cannot be
//! split).

use super::ClusterError;
use crate::run::{RunConfig, Stop};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The shard file's name in a shard's `--out` (with `shard.bin` beside it).
pub const SHARD_JSON: &str = "shard.json";
/// The binary batch file of a shard.
pub const SHARD_BIN: &str = "shard.bin";

/// Which part of a run: the `k`-th (from 1) of `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// This part, 1 ≤ k ≤ n.
    pub k: u32,
    /// The number of parts.
    pub n: u32,
}

impl FromStr for ShardSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(
                "--shard",
                format!("'{s}': {why}; give K/N with 1 ≤ K ≤ N, e.g. --shard 2/4"),
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| bad("K is not a whole number"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(bad("K out of range"));
        }
        Ok(ShardSpec { k, n })
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl ShardSpec {
    /// True for the batches this shard runs.
    pub fn keeps(&self, batch: u32) -> bool {
        batch % self.n == self.k - 1
    }

    /// Refuses a configuration this shard cannot be a part of.
    pub fn check(&self, config: &RunConfig) -> Result<()> {
        let t = &config.transport;
        if !matches!(t.stop, Stop::Decays(_)) {
            return Err(ClusterError::mismatch(
                "--shard needs a fixed number of decays (--decays): a --target-uncertainty run \
                 chooses its batches as it goes and cannot be split",
            ));
        }
        if t.method != crate::run::dvk::DoseMethod::Mc {
            return Err(ClusterError::mismatch(
                "--shard splits the Monte Carlo transport; --method dvk|ldm runs in one piece",
            ));
        }
        if self.n > t.batches {
            return Err(ClusterError::mismatch(format!(
                "--shard {self}: {} shards but only {} batches; give --batches {} or more",
                self.n, t.batches, self.n
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_deal_every_batch_once() {
        let n = 4;
        for b in 0..23 {
            let owners = (1..=n).filter(|&k| ShardSpec { k, n }.keeps(b)).count();
            assert_eq!(owners, 1, "batch {b}");
        }
        assert_eq!(
            "2/4".parse::<ShardSpec>().unwrap(),
            ShardSpec { k: 2, n: 4 }
        );
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            assert_eq!(
                bad.parse::<ShardSpec>().unwrap_err().exit_code(),
                3,
                "{bad}"
            );
        }
    }
}
