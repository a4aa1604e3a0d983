//! The problem hash a shard or checkpoint carries: sha256 of the run configuration (without
//! what does not change the result: the version string, the thread count, the device choice,
//! which is recorded and checked on its own) with every input file or folder it names
//! replaced by the sha256 of its contents, and, for a study, the study file's own inputs
//! likewise. Two shards with the same hash ran the same problem on the same inputs.

use crate::io::hash::{sha256_hex, sha256_path};
use crate::run::{Input, RunConfig};
use crate::twin::inputs::read_study_json;
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// The hash of `config`'s problem (its input files read now).
pub fn problem_hash(config: &RunConfig) -> Result<String> {
    let mut v = serde_json::to_value(config)
        .map_err(|e| Error::Internal(format!("run configuration to JSON: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("voxdose_version");
    }
    if let Some(t) = v.get_mut("transport").and_then(Value::as_object_mut) {
        t.remove("threads");
        t.remove("device");
        t.remove("mem_gb");
    }
    hash_files(&mut v)?;
    let mut text = v.to_string();
    if let Input::Study(s) = &config.input {
        let mut study = read_study_json(&s.study)?;
        hash_files(&mut study)?;
        text.push_str(&study.to_string());
    }
    Ok(sha256_hex(text.as_bytes()))
}

/// Replaces every string of `v` that names an existing file or folder by its content hash.
fn hash_files(v: &mut Value) -> Result<()> {
    match v {
        Value::String(s) if looks_like_path(s) && Path::new(s.as_str()).exists() => {
            *s = format!("sha256:{}", sha256_path(Path::new(s.as_str()))?);
        }
        Value::Array(a) => a.iter_mut().try_for_each(hash_files)?,
        Value::Object(o) => o.values_mut().try_for_each(hash_files)?,
        _ => {}
    }
    Ok(())
}

/// Paths in a configuration are absolute ([`RunConfig::with_absolute_paths`]) or relative
/// with a separator or extension; bare words ("water", "gtm") are names, not files.
fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_inputs_not_threads_or_device() {
        let base = RunConfig::phantom("water-sphere");
        let mut threads = base.clone();
        threads.transport.threads = Some(3);
        threads.transport.device = crate::transport::DeviceChoice::Cpu;
        assert_eq!(
            problem_hash(&base).unwrap(),
            problem_hash(&threads).unwrap()
        );
        let mut seed = base.clone();
        seed.transport.seed = 2;
        assert_ne!(problem_hash(&base).unwrap(), problem_hash(&seed).unwrap());
    }
}
