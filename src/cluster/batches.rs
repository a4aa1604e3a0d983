//! A set of batches done, on disk: `NAME.json` (a [`BatchSet`]: which problem, which
//! batches, the device) beside a gzip-compressed binary file of the batches themselves
//! ([`DoneBatch`]: index, first history, decays, counters and every scored voxel as exact
//! fixed-point integers). Shards and checkpoints are both stored this way.
//!
//! Binary layout (little endian, inside gzip): `VXDBATCH`, format u32 (1), batch count u32;
//! per batch: index u32, first history u64, decays u64, the seven counters (emitted,
//! escaped u64; electron path f64; photon interactions, electron steps, truncated tracks,
//! radiated u64), scored count u64, then (voxel u32, units u64) per scored voxel.

use super::shard::ShardSpec;
use super::ClusterError;
use crate::io::atomic::write_atomic;
use crate::io::hash::sha256_hex;
use crate::run::RunConfig;
use crate::tally::RecordedBatch;
use crate::transport::cpu::HistoryCounters;
use crate::transport::driver::DoneBatch;
use crate::transport::DeviceInfo;
use crate::{Error, Result};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"VXDBATCH";
const FORMAT: u32 = 1;

/// The description of a set of batches (`shard.json`, `checkpoint.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchSet {
    /// "voxdose-shard" or "voxdose-checkpoint".
    pub format: String,
    /// The voxdose version that ran the batches (merges and resumes need the same).
    pub voxdose_version: String,
    /// The problem's hash ([`super::hash::problem_hash`]): configuration and input contents.
    pub problem_sha256: String,
    /// The configuration of the whole run (without the shard).
    pub config: RunConfig,
    /// The part of the run these batches are, if a shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSpec>,
    /// The device the batches ran on.
    pub device: DeviceInfo,
    /// The batch indices held, in order.
    pub batches: Vec<u32>,
    /// Decays in these batches.
    pub decays: u64,
    /// Transport seconds these batches took.
    pub wall_s: f64,
    /// A checkpoint's interval (s), kept so a resumed run checkpoints as the first did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every_s: Option<f64>,
    /// The binary batch file beside this one.
    pub batches_file: String,
    /// sha256 of that file.
    pub batches_sha256: String,
}

impl BatchSet {
    /// Reads `path` (a `shard.json` or `checkpoint.json`) and checks its format is `format`.
    pub fn read(path: &Path, format: &str) -> Result<BatchSet> {
        let text = std::fs::read(path).map_err(|e| {
            ClusterError::mismatch(format!(
                "cannot read {}: {e}; is this a voxdose {format} folder?",
                path.display()
            ))
        })?;
        let set: BatchSet = serde_json::from_slice(&text).map_err(|e| {
            ClusterError::mismatch(format!(
                "{} is not a voxdose {format} file: {e}",
                path.display()
            ))
        })?;
        if set.format != format {
            return Err(ClusterError::mismatch(format!(
                "{} is a {}, not a {format}",
                path.display(),
                set.format
            )));
        }
        Ok(set)
    }

    /// Writes `batches` beside `json` (in `batches_file`), then the description, each
    /// atomically: a reader finds the old pair or the new one.
    pub fn write(&mut self, json: &Path, batches: &[DoneBatch]) -> Result<()> {
        let dir = json.parent().unwrap_or(Path::new("."));
        let bytes = encode(batches)?;
        self.batches_sha256 = sha256_hex(&bytes);
        self.batches = batches.iter().map(|d| d.index).collect();
        self.decays = batches.iter().map(|d| d.batch.decays).sum();
        write_atomic(&dir.join(&self.batches_file), &bytes)?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("batch set to JSON: {e}")))?;
        write_atomic(json, text.as_bytes())
    }

    /// The batches this set names, read from the binary file beside `json` and checked
    /// against its hash and its list of indices.
    pub fn load_batches(&self, json: &Path) -> Result<Vec<DoneBatch>> {
        let path = json
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.batches_file);
        let bytes = std::fs::read(&path).map_err(|e| {
            ClusterError::mismatch(format!("cannot read the batches {}: {e}", path.display()))
        })?;
        if sha256_hex(&bytes) != self.batches_sha256 {
            return Err(ClusterError::mismatch(format!(
                "{} is damaged or not the one {} names (sha256 differs)",
                path.display(),
                json.display()
            )));
        }
        let batches = decode(&bytes)
            .map_err(|e| ClusterError::mismatch(format!("{} is damaged: {e}", path.display())))?;
        let indices: Vec<u32> = batches.iter().map(|d| d.index).collect();
        if indices != self.batches {
            return Err(ClusterError::mismatch(format!(
                "{} holds other batches than {} names",
                path.display(),
                json.display()
            )));
        }
        Ok(batches)
    }
}

/// The batches, encoded and compressed.
fn encode(batches: &[DoneBatch]) -> Result<Vec<u8>> {
    let mut z = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let io = |e: std::io::Error| Error::Internal(format!("compressing batches: {e}"));
    z.write_all(MAGIC).map_err(io)?;
    let mut b = Vec::new();
    b.extend(FORMAT.to_le_bytes());
    b.extend((batches.len() as u32).to_le_bytes());
    for d in batches {
        put_batch(&mut b, d);
        z.write_all(&b).map_err(io)?;
        b.clear();
    }
    z.write_all(&b).map_err(io)?;
    z.finish().map_err(io)
}

fn put_batch(b: &mut Vec<u8>, d: &DoneBatch) {
    let c = &d.counters;
    b.extend(d.index.to_le_bytes());
    b.extend(d.first_history.to_le_bytes());
    b.extend(d.batch.decays.to_le_bytes());
    for u in [c.emitted_units, c.escaped_units] {
        b.extend(u.to_le_bytes());
    }
    b.extend(c.electron_path_mm.to_le_bytes());
    for u in [
        c.photon_interactions,
        c.electron_steps,
        c.truncated_tracks,
        c.radiated_units,
    ] {
        b.extend(u.to_le_bytes());
    }
    b.extend((d.batch.scored.len() as u64).to_le_bytes());
    for &(v, units) in &d.batch.scored {
        b.extend(v.to_le_bytes());
        b.extend(units.to_le_bytes());
    }
}

/// The batches of an encoded file.
fn decode(bytes: &[u8]) -> std::result::Result<Vec<DoneBatch>, String> {
    let mut raw = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .map_err(|e| format!("not a gzip stream ({e})"))?;
    let mut r = Reader { b: &raw, at: 0 };
    if r.take(8)? != MAGIC {
        return Err("not a voxdose batch file".into());
    }
    let format = r.u32()?;
    if format != FORMAT {
        return Err(format!(
            "batch file format {format}, this voxdose reads {FORMAT}"
        ));
    }
    let n = r.u32()?;
    let batches = (0..n)
        .map(|_| r.batch())
        .collect::<std::result::Result<_, _>>()?;
    if r.at != raw.len() {
        return Err("bytes after the last batch".into());
    }
    Ok(batches)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or("cut short")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn batch(&mut self) -> std::result::Result<DoneBatch, String> {
        let (index, first_history, decays) = (self.u32()?, self.u64()?, self.u64()?);
        let counters = HistoryCounters {
            emitted_units: self.u64()?,
            escaped_units: self.u64()?,
            electron_path_mm: f64::from_bits(self.u64()?),
            photon_interactions: self.u64()?,
            electron_steps: self.u64()?,
            truncated_tracks: self.u64()?,
            radiated_units: self.u64()?,
        };
        let n = self.u64()?;
        if n > (self.b.len() / 12) as u64 {
            return Err("a scored-voxel count larger than the file".into());
        }
        let scored = (0..n)
            .map(|_| Ok((self.u32()?, self.u64()?)))
            .collect::<std::result::Result<_, String>>()?;
        Ok(DoneBatch {
            index,
            first_history,
            batch: RecordedBatch { decays, scored },
            counters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(index: u32) -> DoneBatch {
        DoneBatch {
            index,
            first_history: 1000 * u64::from(index),
            batch: RecordedBatch {
                decays: 1000,
                scored: vec![(3, 17), (9, u64::MAX - 1)],
            },
            counters: HistoryCounters {
                emitted_units: 5,
                electron_path_mm: 0.1 + 0.2,
                ..Default::default()
            },
        }
    }

    #[test]
    fn batches_round_trip_exactly() {
        let done = vec![batch(0), batch(3)];
        assert_eq!(decode(&encode(&done).unwrap()).unwrap(), done);
    }

    #[test]
    fn damaged_batches_are_refused() {
        let bytes = encode(&[batch(1)]).unwrap();
        assert!(decode(&bytes[..bytes.len() - 9]).is_err(), "truncated gzip");
        let mut raw = Vec::new();
        GzDecoder::new(&bytes[..]).read_to_end(&mut raw).unwrap();
        raw.truncate(raw.len() - 4);
        let mut z = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&raw).unwrap();
        let e = decode(&z.finish().unwrap()).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
    }
}
