//! Profiling scratch.
use std::time::Instant;
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let t = Instant::now();
    let f = voxdose::report::html::data::Folder::read(&dir).unwrap();
    println!("folder read {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let _ = voxdose::io::nifti::read_volume_f32_fast(&dir.join("dose.nii.gz")).unwrap();
    println!("one nifti {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let _ = voxdose::io::nifti::read_volume_f32_fast(&dir.join("ct.nii.gz")).unwrap();
    println!("ct nifti {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let _ = voxdose::io::nifti::read_volume_f32_fast(&dir.join("regions.nii.gz")).unwrap();
    println!("regions nifti {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let _ = std::fs::read(dir.join("dose.nii.gz")).unwrap();
    println!("one file read {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let m = voxdose::report::html::maps::load(&f.results).unwrap().unwrap();
    println!("maps load {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let _ = voxdose::report::html::maps::slice_points(&m);
    println!("slice points {:.2}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let s = voxdose::report::html::maps::region_slices(&m).unwrap();
    println!("slices {:.2} {}", t.elapsed().as_secs_f64(), s.len());
}
