//! Writes the synthetic two-cycle patient of the twin's tests and README into a folder:
//! scans, label map, `study_cycle1.json` (cycle 1 only), `study.json` (both cycles) and
//! `limits.json`.
//!
//!     cargo run --release --example twin_patient -- demo

fn main() -> voxdose::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "demo".into()));
    std::fs::create_dir_all(&dir).map_err(|source| voxdose::Error::OutputNotWritable {
        path: dir.clone(),
        source,
    })?;
    let (a1, a2) = (7.4e9, 6.0e9);
    let one =
        voxdose::phantoms::twin_patient::write_patient(&dir, "study_cycle1.json", &[a1], false)?;
    let both =
        voxdose::phantoms::twin_patient::write_patient(&dir, "study.json", &[a1, a2], false)?;
    let limits = r#"{"limits": [{"organ": "kidney", "quantity": "bed", "value_gy": 28},
                {"organ": "red_marrow", "quantity": "dose", "value_gy": 8}]}"#;
    std::fs::write(dir.join("limits.json"), limits).map_err(|source| {
        voxdose::Error::OutputNotWritable {
            path: dir.join("limits.json"),
            source,
        }
    })?;
    println!(
        "wrote {} and {} (and limits.json)",
        one.display(),
        both.display()
    );
    Ok(())
}
