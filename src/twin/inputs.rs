//! A cycle's inputs: the one-cycle study file the twin fits it from (every path absolute),
//! and what the cycle's results depend on, hashed (sha256).
//!
//! The hash of a cycle is over its study settings with every file replaced by the sha256 of
//! its content (a DICOM folder: of its files, in name order), so moving the files does not
//! count as a change, and editing one does. Time points are hashed one by one, so a sync
//! can tell a new time point of the last cycle (an extension) from a changed one.

use crate::io::hash::{sha256_hex, sha256_path};
use crate::io::InputError;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `cycles/N/inputs.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleInputs {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Every input file (absolute) and its sha256.
    pub files: Vec<HashedFile>,
    /// sha256 of the study settings that apply to this cycle (everything but its time points).
    pub settings_sha256: String,
    /// sha256 of each time point (its time, image and CT).
    pub time_points_sha256: Vec<String>,
    /// sha256 over all of the above: equal inputs, equal hash.
    pub combined: String,
}

/// A file and the sha256 of its content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HashedFile {
    /// The path (absolute).
    pub path: PathBuf,
    /// sha256, hex.
    pub sha256: String,
}

/// How a cycle's inputs compare with what was synced.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The same inputs.
    Same,
    /// The same settings and time points, plus new time points after them.
    NewTimePoints(usize),
    /// Something synced differs (said in words).
    Changed(String),
}

/// The study file as JSON, with every relative path resolved against its folder.
pub fn read_study_json(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut v: Value = serde_json::from_slice(&text).map_err(|e| InputError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not JSON ({e}); see docs/study-file.md"),
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    for_each_path(&mut v, &mut |p: &mut Value| {
        if let Some(s) = p.as_str() {
            let q = Path::new(s);
            if q.is_relative() {
                *p = Value::String(base.join(q).to_string_lossy().into_owned());
            }
        }
    });
    Ok(v)
}

/// The study JSON `study` (paths absolute) with only cycle `n` (1-based).
pub fn one_cycle(study: &Value, n: usize) -> Result<Value> {
    let cycle = study["cycles"]
        .get(n - 1)
        .cloned()
        .ok_or_else(|| Error::Internal(format!("the study has no cycle {n}")))?;
    let mut one = study.clone();
    one["cycles"] = Value::Array(vec![cycle]);
    Ok(one)
}

/// Number of cycles the study JSON lists.
pub fn cycle_count(study: &Value) -> usize {
    study["cycles"].as_array().map_or(0, Vec::len)
}

/// Hashes the inputs of the one-cycle study `one` (see the module doc).
pub fn hash_cycle(one: &Value, n: usize) -> Result<CycleInputs> {
    let mut files = Vec::new();
    let mut hashed = one.clone();
    let mut failure = None;
    for_each_path(&mut hashed, &mut |p: &mut Value| {
        let Some(s) = p.as_str().map(str::to_string) else {
            return;
        };
        match sha256_path(Path::new(&s)) {
            Ok(h) => {
                files.push(HashedFile {
                    path: PathBuf::from(&s),
                    sha256: h.clone(),
                });
                *p = Value::String(format!("sha256:{h}"));
            }
            Err(e) => failure = failure.take().or(Some(e)),
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let mut settings = hashed.clone();
    let tps = settings["cycles"][0]["time_points"].take();
    let time_points_sha256: Vec<String> = tps
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| sha256_hex(canonical(t).as_bytes()))
                .collect()
        })
        .unwrap_or_default();
    let settings_sha256 = sha256_hex(canonical(&settings).as_bytes());
    let combined =
        sha256_hex(format!("{settings_sha256}{}", time_points_sha256.join("")).as_bytes());
    Ok(CycleInputs {
        cycle: n,
        files,
        settings_sha256,
        time_points_sha256,
        combined,
    })
}

/// How `now` differs from the synced `was`.
pub fn compare(was: &CycleInputs, now: &CycleInputs) -> Change {
    if was.combined == now.combined {
        return Change::Same;
    }
    if was.settings_sha256 != now.settings_sha256 {
        return Change::Changed(
            "its settings or files (activity, nuclide, labels, reference CT, study options) differ"
                .into(),
        );
    }
    let n = was.time_points_sha256.len();
    if now.time_points_sha256.len() > n && now.time_points_sha256[..n] == was.time_points_sha256[..]
    {
        return Change::NewTimePoints(now.time_points_sha256.len() - n);
    }
    let first = was
        .time_points_sha256
        .iter()
        .zip(&now.time_points_sha256)
        .position(|(a, b)| a != b)
        .map_or(n.min(now.time_points_sha256.len()), |i| i);
    Change::Changed(format!(
        "time point {} differs or is gone ({} synced, {} now)",
        first + 1,
        n,
        now.time_points_sha256.len()
    ))
}

/// The paths a study file holds: `reference_ct`, `labels`, `partial_volume.rc_curve`, and per
/// time point `image` and `ct`.
fn for_each_path(study: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    for key in ["reference_ct", "labels"] {
        if let Some(p) = study.get_mut(key) {
            f(p);
        }
    }
    if let Some(p) = study
        .get_mut("partial_volume")
        .and_then(|pv| pv.get_mut("rc_curve"))
    {
        f(p);
    }
    let Some(cycles) = study.get_mut("cycles").and_then(Value::as_array_mut) else {
        return;
    };
    for c in cycles {
        let Some(tps) = c.get_mut("time_points").and_then(Value::as_array_mut) else {
            continue;
        };
        for tp in tps {
            for key in ["image", "ct"] {
                if let Some(p) = tp.get_mut(key) {
                    f(p);
                }
            }
        }
    }
}

/// JSON with sorted keys (serde_json's maps are ordered by key without `preserve_order`).
fn canonical(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(dir: &Path, images: &[&str]) -> Value {
        for (i, name) in images.iter().enumerate() {
            std::fs::write(dir.join(name), format!("image {i}")).unwrap();
        }
        let tps: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(i, n)| serde_json::json!({"image": n, "hours": 24 * (i + 1)}))
            .collect();
        let text = serde_json::json!({"nuclide": "Lu-177", "units": "Bq/mL",
            "cycles": [{"injected_activity_bq": 7.4e9, "time_points": tps}]});
        std::fs::write(dir.join("s.json"), text.to_string()).unwrap();
        read_study_json(&dir.join("s.json")).unwrap()
    }

    #[test]
    fn same_inputs_new_time_points_and_changes_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let one = |v: &Value| hash_cycle(&one_cycle(v, 1).unwrap(), 1).unwrap();
        let a = one(&study(dir.path(), &["a.nii", "b.nii"]));
        assert_eq!(compare(&a, &a), Change::Same);
        // Moving the whole study elsewhere changes no hash.
        let moved = tempfile::tempdir().unwrap();
        let b = one(&study(moved.path(), &["a.nii", "b.nii"]));
        assert_eq!(compare(&a, &b), Change::Same);
        let c = one(&study(dir.path(), &["a.nii", "b.nii", "c.nii"]));
        assert_eq!(compare(&a, &c), Change::NewTimePoints(1));
        std::fs::write(dir.path().join("b.nii"), "edited").unwrap();
        let d = one(&read_study_json(&dir.path().join("s.json")).unwrap());
        assert!(matches!(compare(&a, &d), Change::Changed(w) if w.contains("time point 2")));
    }
}
