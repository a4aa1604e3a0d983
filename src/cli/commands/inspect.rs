//! `voxdose inspect PATH`: prints what voxdose understands of a DICOM series (CT, NM, PT),
//! an RTSTRUCT, or a NIfTI file — geometry (LPS, mm), units, nuclide, times — without
//! running anything. Errors are the same as a run would meet, with the same exit codes.

use crate::cli::args::InspectArgs;
use crate::geometry::resample::{bounding_box_mm, box_text};
use crate::io::activity::{read_activity, ActivityOptions};
use crate::io::ct::is_nifti;
use crate::Result;

/// Runs `voxdose inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    print!("{}", describe(&args.path)?);
    Ok(())
}

/// The report `inspect` prints.
pub fn describe(path: &std::path::Path) -> Result<String> {
    let mut out = String::new();
    let grid_lines = |out: &mut String, g: &crate::geometry::Grid| {
        out.push_str(&format!("  dims (i, j, k): {:?}\n  spacing_mm: {:?}\n  origin_mm (LPS, centre of voxel 0): {:?}\n", g.dims, g.spacing_mm, g.origin_mm));
        out.push_str(&format!(
            "  direction (i, j, k axes in LPS): {:?}\n  extent (LPS, mm): {}\n",
            g.direction,
            box_text(bounding_box_mm(g))
        ));
    };
    if is_nifti(path) {
        let img = crate::io::nifti::read_image(path)?;
        out.push_str(&format!(
            "{}: NIfTI-1, datatype {}, affine from {}\n",
            path.display(),
            img.datatype_code,
            img.affine_source
        ));
        grid_lines(&mut out, &img.volume.grid);
        let (min, max) = min_max(&img.volume.data);
        out.push_str(&format!(
            "  values: {min} to {max}; description '{}'\n",
            img.description
        ));
        if !img.label_names.is_empty() {
            out.push_str(&format!(
                "  label table: {} names (e.g. {:?})\n",
                img.label_names.len(),
                img.label_names.iter().take(5).collect::<Vec<_>>()
            ));
        }
        return Ok(out);
    }
    if path.is_file() {
        let obj = crate::io::dicom::open(path)?;
        if crate::io::dicom::opt_str(&obj, dicom_dictionary_std::tags::MODALITY).as_deref()
            == Some("RTSTRUCT")
        {
            let ss = crate::io::rtstruct::read_rtstruct(path)?;
            out.push_str(&format!(
                "{}: RT Structure Set, {} ROI(s)\n",
                path.display(),
                ss.structures.len()
            ));
            for s in &ss.structures {
                out.push_str(&format!(
                    "  ROI {} '{}': {} closed contour(s), frame of reference {}\n",
                    s.number,
                    s.name,
                    s.contours.len(),
                    s.frame_of_reference_uid
                ));
            }
            return Ok(out);
        }
    }
    let series = crate::io::series::read_series(path)?;
    let id = series.identity();
    out.push_str(&format!(
        "{}: {} series, {} slice(s), SOP class {}, transfer syntax {}\n",
        path.display(),
        id.modality,
        id.slices,
        id.sop_class_uid,
        id.transfer_syntax
    ));
    out.push_str(&format!(
        "  study {} / series {} / frame of reference {}\n",
        id.study_instance_uid, id.series_instance_uid, id.frame_of_reference_uid
    ));
    grid_lines(&mut out, &series.grid);
    match id.modality.as_str() {
        "NM" | "PT" => match read_activity(path, &ActivityOptions::default()) {
            Ok(a) => {
                let p = &a.provenance;
                let json = serde_json::to_string_pretty(p).unwrap_or_default();
                out.push_str(&format!(
                    "  activity (Bq/mL): {}\n  provenance: {json}\n",
                    p.value_source
                ));
            }
            Err(e) => out.push_str(&format!("  activity: NOT usable as is: {e}\n")),
        },
        _ => {
            let ct = crate::io::ct::read_ct(path)?;
            let (min, max) = min_max(&ct.hu.data);
            out.push_str(&format!("  HU: {min} to {max}\n"));
        }
    }
    for w in &series.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    Ok(out)
}

fn min_max(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}
