//! Writing a study fit: TIA maps (NIfTI, Bq·s per voxel), region tables (JSON, CSV) and
//! TAC plots (PNG).
//!
//! Units in the files: times in h, activities in Bq (region totals), TIA in Bq·s, TIAC in
//! h, half-lives in h, rates in 1/h. Every file is written atomically.
//!
//! Plots are drawn with plotters' bitmap backend; text uses DejaVu Sans embedded from the
//! `dejavu` crate (registered once with plotters' `ab_glyph` font loader), so no system
//! fonts are needed.

use super::fit::TiaMethod;
use super::pipeline::{RegionResult, StudyFit};
use super::study::Study;
use crate::Result;
use std::path::Path;

/// Writes every output of `fit` of `study` into `out`.
pub fn write_outputs(fit: &StudyFit, study: &Study, out: &Path) -> Result<()> {
    use crate::io::nifti::write_volume_f32;
    write_volume_f32(
        &out.join("tia.nii.gz"),
        &fit.tia,
        "voxdose TIA Bq*s per voxel",
    )?;
    write_volume_f32(
        &out.join("tia_sigma.nii.gz"),
        &fit.tia_sigma,
        "voxdose TIA 1-sigma Bq*s per voxel",
    )?;
    if fit.cycle_tia.len() > 1 {
        for (i, v) in fit.cycle_tia.iter().enumerate() {
            let name = format!("tia_cycle{}.nii.gz", i + 1);
            write_volume_f32(&out.join(name), v, "voxdose TIA Bq*s per voxel, one cycle")?;
        }
    }
    let json = serde_json::json!({
        "units": {"time": "h", "activity": "Bq", "tia": "Bq*s", "tiac": "h", "half_life": "h", "rates": "1/h"},
        "uncertainty_note": "tia_sigma_bq_s combines fit covariance, calibration, recovery_rel_sigma and the partial-volume correction's own sigma in quadrature (EANM 2018); cycle totals add cycle sigmas in quadrature",
        "partial_volume_note": "with a partial-volume correction, activity_bq and tia_bq_s are corrected; each region's partial_volume holds the uncorrected values, the factors and the correction sigma, and each cycle's partial_volume the settings, PSF and GTM matrix",
        "study": absolute(&study.path),
        "labels": study.labels.as_deref().map(absolute),
        "reference_ct": study.reference_ct.as_deref().map(absolute),
        "uncertainty": study.uncertainty,
        "uncertainty_inputs_note": "uncertainty holds the study's inputs: each measured activity A has sigma = activity_rel_sigma x max(A, 1e-3 x the TAC's peak), the weights of the fit; calibration_rel_sigma and recovery_rel_sigma are common to all points of a region and add to its TIA only",
        "cycles": fit.cycles,
    });
    let text = serde_json::to_vec_pretty(&json)
        .map_err(|e| crate::Error::Internal(format!("region table not serialisable: {e}")))?;
    crate::io::atomic::write_atomic(&out.join("regions.json"), &text)?;
    crate::io::atomic::write_atomic(
        &out.join("regions.csv"),
        regions_csv(&fit.regions)?.as_bytes(),
    )?;
    for r in &fit.regions {
        let name = format!("tac_c{}_{}.png", r.cycle, file_safe(&r.name));
        plot_tac(r, &out.join(name))?;
    }
    Ok(())
}

/// A path as written into `regions.json`: absolute (against the working directory), so a
/// report made elsewhere still finds the study, its labels and its CT.
fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The region table as CSV: one row per region and cycle.
pub fn regions_csv(regions: &[RegionResult]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "cycle",
        "label",
        "region",
        "n_voxels",
        "volume_ml",
        "model",
        "parameters",
        "aic",
        "aicc",
        "r_squared",
        "effective_half_life_h",
        "tia_bq_s",
        "tia_sigma_fit_bq_s",
        "tia_sigma_bq_s",
        "tiac_h",
        "tail_fraction",
        "pvc_method",
        "tia_uncorrected_bq_s",
        "tia_sigma_uncorrected_bq_s",
        "pvc_tia_factor",
        "pvc_rel_sigma",
        "recovery_coefficient",
        "pvc_map_factor",
    ];
    let err = |e: csv::Error| crate::Error::Internal(format!("CSV writer: {e}"));
    w.write_record(header).map_err(err)?;
    for r in regions {
        let sel = r.fit.as_ref().and_then(|f| f.selected_fit());
        let params = sel.map_or(String::new(), |m| {
            m.model
                .param_names()
                .iter()
                .zip(m.params.iter().zip(&m.param_sigma))
                .map(|(n, (p, s))| format!("{n}={p:.6e}±{s:.3e}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.4}"));
        let tail = r.fit.as_ref().map(|f| f.tail_fraction);
        let pv = r.partial_volume.as_ref();
        let pv_num = |f: fn(&crate::kinetics::partial_volume::RegionPvc) -> f64,
                      fmt: fn(f64) -> String| {
            pv.map_or(String::new(), |p| fmt(f(p)))
        };
        let sci = |v: f64| format!("{v:.6e}");
        let fix = |v: f64| format!("{v:.5}");
        w.write_record([
            r.cycle.to_string(),
            r.label.to_string(),
            r.name.clone(),
            r.n_voxels.to_string(),
            format!("{:.4}", r.volume_ml),
            r.model.clone(),
            params,
            opt(sel.map(|m| m.aic)),
            opt(sel.and_then(|m| m.aicc)),
            opt(sel.map(|m| m.r_squared)),
            format!("{:.4}", r.effective_half_life_h),
            format!("{:.6e}", r.tia_bq_s),
            format!("{:.6e}", r.tia_sigma_fit_bq_s),
            format!("{:.6e}", r.tia_sigma_bq_s),
            format!("{:.6}", r.tiac_h),
            opt(tail),
            pv.map_or("none".to_string(), |p| p.method.name().to_string()),
            pv_num(|p| p.tia_uncorrected_bq_s, sci),
            pv_num(|p| p.tia_sigma_uncorrected_bq_s, sci),
            pv_num(|p| p.tia_factor, fix),
            pv_num(|p| p.correction_rel_sigma, fix),
            pv_num(|p| p.recovery_coefficient, fix),
            pv_num(|p| p.map_factor, fix),
        ])
        .map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::Error::Internal(format!("CSV writer: {e}")))?;
    String::from_utf8(bytes).map_err(|e| crate::Error::Internal(format!("CSV not UTF-8: {e}")))
}

pub(crate) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid TrueType font shipped inside the `dejavu` crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draws one region's TAC: measured points, the selected fit (or trapezoid polyline) and the
/// TIA in the caption, as a PNG.
pub fn plot_tac(r: &RegionResult, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    register_font();
    let (w, h) = (800u32, 500u32);
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    let draw_err = |e: String| crate::Error::Internal(format!("plot of {}: {e}", r.name));
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
        let t_max = r.time_h.iter().copied().fold(1.0, f64::max) * 1.15;
        let raw = r
            .partial_volume
            .as_ref()
            .map(|p| p.activity_uncorrected_bq.as_slice());
        let a_max = r
            .activity_bq
            .iter()
            .chain(raw.unwrap_or(&[]))
            .copied()
            .fold(0.0, f64::max)
            .max(1e-30)
            * 1.2
            / 1e6;
        let title = match &r.partial_volume {
            None => format!(
                "cycle {} {}: {}  TIA {:.4e} ± {:.2e} Bq·s",
                r.cycle, r.name, r.model, r.tia_bq_s, r.tia_sigma_bq_s
            ),
            Some(p) => format!(
                "cycle {} {}: {}  TIA {:.3e} ± {:.1e} Bq·s ({} ×{:.3}; open: uncorrected)",
                r.cycle,
                r.name,
                r.model,
                r.tia_bq_s,
                r.tia_sigma_bq_s,
                p.method.name(),
                p.tia_factor
            ),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_max, 0.0..a_max)
            .map_err(|e| draw_err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time after administration (h)")
            .y_desc("activity (MBq)")
            .draw()
            .map_err(|e| draw_err(e.to_string()))?;
        let curve: Vec<(f64, f64)> = match r.fit.as_ref() {
            Some(f) if f.method == TiaMethod::Fit => {
                let m = f
                    .selected_fit()
                    .expect("method Fit always has a selected model");
                (0..=200)
                    .map(|i| {
                        let t = t_max * i as f64 / 200.0;
                        (t, m.model.eval(&m.params, t, None) / 1e6)
                    })
                    .collect()
            }
            _ => std::iter::once((0.0, 0.0))
                .chain(
                    r.time_h
                        .iter()
                        .zip(&r.activity_bq)
                        .map(|(&t, &a)| (t, a / 1e6)),
                )
                .collect(),
        };
        chart
            .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))
            .map_err(|e| draw_err(e.to_string()))?;
        chart
            .draw_series(
                r.time_h
                    .iter()
                    .zip(&r.activity_bq)
                    .map(|(&t, &a)| Circle::new((t, a / 1e6), 5, RED.filled())),
            )
            .map_err(|e| draw_err(e.to_string()))?;
        if let Some(raw) = raw {
            chart
                .draw_series(
                    r.time_h
                        .iter()
                        .zip(raw)
                        .map(|(&t, &a)| Circle::new((t, a / 1e6), 5, BLACK.stroke_width(1))),
                )
                .map_err(|e| draw_err(e.to_string()))?;
        }
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| crate::Error::Internal("plot buffer has the wrong size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| draw_err(e.to_string()))?;
    crate::io::atomic::write_atomic(path, &png)
}
