//! The report's charts as inline SVG, drawn with plotters' SVG backend: cumulative DVH and
//! BED-VH, each region's time–activity curve (measured points with their σ, the selected
//! model), and the twin's activity per cycle and cumulative BED against the limits.
//!
//! The SVG root's namespace attribute is removed before inlining: HTML does not need it,
//! and the page then names no URL at all.

use super::data::Curve;
use super::maps::PALETTE;
use crate::kinetics::fit::TiaMethod;
use crate::kinetics::RegionResult;
use crate::radiobiology::LimitQuantity;
use crate::twin::status::Status;
use crate::twin::PlanResult;
use crate::Result;
use plotters::prelude::*;

const FONT: &str = "sans-serif";

fn colour(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    RGBColor(c[0], c[1], c[2])
}

fn err(what: &str, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Internal(format!("SVG plot ({what}): {e}"))
}

/// Strips the namespace URL plotters writes (inline SVG in HTML needs none).
fn inline(svg: String) -> String {
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "")
}

/// Cumulative volume histograms (volume % against dose); `index_of` gives a region's colour.
pub fn volume_histogram(
    curves: &[Curve],
    x_label: &str,
    index_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<String> {
    crate::kinetics::output::register_font();
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1e-30)
        * 1.02;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("DVH", e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..101.0)
            .map_err(|e| err("DVH", e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("volume (%)")
            .x_label_formatter(&|x| short(*x))
            .draw()
            .map_err(|e| err("DVH", e))?;
        for (i, c) in curves.iter().enumerate() {
            let col = colour(index_of(&c.name).unwrap_or(i));
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().map(|&(d, f)| (d, 100.0 * f)),
                    col.stroke_width(2),
                ))
                .map_err(|e| err("DVH", e))?
                .label(c.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13))
            .draw()
            .map_err(|e| err("DVH", e))?;
        root.present().map_err(|e| err("DVH", e))?;
    }
    Ok(inline(svg))
}

/// One region's TAC of one cycle: points with ±σ bars (`rel_sigma` of each activity, as the
/// fit weighted them), the selected model (or the trapezoid polyline), in MBq against hours.
pub fn tac(r: &RegionResult, rel_sigma: Option<f64>, colour_index: usize) -> Result<String> {
    crate::kinetics::output::register_font();
    let t_max = r.time_h.iter().copied().fold(1.0, f64::max) * 1.15;
    let sigma = rel_sigma.map_or_else(
        || vec![0.0; r.activity_bq.len()],
        |s| crate::kinetics::pipeline::point_sigma(&r.activity_bq, s),
    );
    let a_max = r
        .activity_bq
        .iter()
        .zip(&sigma)
        .map(|(&a, &s)| a + s)
        .fold(0.0, f64::max)
        .max(1e-30)
        * 1.15
        / 1e6;
    let col = colour(colour_index);
    let mut svg = String::new();
    let mut bars = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (380, 250)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("TAC", e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{}, cycle {}", r.name, r.cycle), (FONT, 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..t_max, 0.0..a_max)
            .map_err(|e| err("TAC", e))?;
        chart
            .configure_mesh()
            .x_desc("time after administration (h)")
            .y_desc("activity (MBq)")
            .label_style((FONT, 11))
            .draw()
            .map_err(|e| err("TAC", e))?;
        chart
            .draw_series(LineSeries::new(tac_curve(r, t_max), col.stroke_width(2)))
            .map_err(|e| err("TAC", e))?;
        if rel_sigma.is_some() {
            for ((&t, &a), &s) in r.time_h.iter().zip(&r.activity_bq).zip(&sigma) {
                let (x, lo) = chart.backend_coord(&(t, ((a - s) / 1e6).max(0.0)));
                let (_, hi) = chart.backend_coord(&(t, (a + s) / 1e6));
                bars.push(ErrorBarPx { x, lo, hi, t, a, s });
            }
        }
        chart
            .draw_series(
                r.time_h
                    .iter()
                    .zip(&r.activity_bq)
                    .map(|(&t, &a)| Circle::new((t, a / 1e6), 4, BLACK.filled())),
            )
            .map_err(|e| err("TAC", e))?;
        root.present().map_err(|e| err("TAC", e))?;
    }
    Ok(inline(with_error_bars(svg, &bars)))
}

/// One ±σ bar of a measured point, in the SVG's pixels, with the point it belongs to.
struct ErrorBarPx {
    x: i32,
    lo: i32,
    hi: i32,
    t: f64,
    a: f64,
    s: f64,
}

/// Adds the error bars as one `<g class="error-bars">` of `<path class="error-bar">`
/// (a vertical line with two 8-px caps each; the point's value ± σ as its tooltip) at the
/// end of the SVG, so the page (and a test) can tell them from the rest of the chart.
fn with_error_bars(mut svg: String, bars: &[ErrorBarPx]) -> String {
    use super::render::fmt_num;
    use std::fmt::Write;
    if bars.is_empty() {
        return svg;
    }
    let mut g = String::from(
        "<g class=\"error-bars\" fill=\"none\" stroke=\"#000000\" stroke-width=\"1\">",
    );
    for b in bars {
        let _ = write!(
            g,
            "<path class=\"error-bar\" d=\"M{x} {lo}V{hi}M{l} {lo}h8M{l} {hi}h8\"><title>{t} h: {a} ± {s} MBq</title></path>",
            x = b.x,
            lo = b.lo,
            hi = b.hi,
            l = b.x - 4,
            t = fmt_num(b.t),
            a = fmt_num(b.a / 1e6),
            s = fmt_num(b.s / 1e6),
        );
    }
    g.push_str("</g>\n");
    match svg.rfind("</svg>") {
        Some(end) => svg.insert_str(end, &g),
        None => svg.push_str(&g),
    }
    svg
}

/// The fitted model on 0…t_max, or the measured polyline from (0, 0) for a trapezoid TIA.
fn tac_curve(r: &RegionResult, t_max: f64) -> Vec<(f64, f64)> {
    let selected = r
        .fit
        .as_ref()
        .filter(|f| f.method == TiaMethod::Fit)
        .and_then(|f| f.selected_fit());
    match selected {
        Some(m) => (0..=160)
            .map(|i| {
                let t = t_max * f64::from(i) / 160.0;
                (t, m.model.eval(&m.params, t, None) / 1e6)
            })
            .collect(),
        None => std::iter::once((0.0, 0.0))
            .chain(
                r.time_h
                    .iter()
                    .zip(&r.activity_bq)
                    .map(|(&t, &a)| (t, a / 1e6)),
            )
            .collect(),
    }
}

/// Activity given per cycle (GBq), and the planned next cycle in grey.
pub fn twin_activity(status: &Status, plan: Option<&PlanResult>) -> Result<String> {
    crate::kinetics::output::register_font();
    let mut bars: Vec<(usize, f64, bool)> = status
        .cycles
        .iter()
        .map(|c| (c.cycle, c.activity_bq / 1e9, false))
        .collect();
    if let Some(p) = plan {
        bars.push((p.cycle, p.activity_gbq, true));
    }
    let n = bars.iter().map(|b| b.0).max().unwrap_or(1);
    let top = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.2;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (380, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("twin activity", e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(48)
            .build_cartesian_2d(0.5..n as f64 + 0.5, 0.0..top)
            .map_err(|e| err("twin activity", e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&|x| format!("{}", x.round()))
            .x_desc("cycle")
            .y_desc("activity (GBq)")
            .draw()
            .map_err(|e| err("twin activity", e))?;
        chart
            .draw_series(bars.iter().map(|&(c, a, planned)| {
                let style = if planned {
                    RGBColor(160, 160, 160).filled()
                } else {
                    RGBColor(0, 110, 180).filled()
                };
                Rectangle::new([(c as f64 - 0.3, 0.0), (c as f64 + 0.3, a)], style)
            }))
            .map_err(|e| err("twin activity", e))?;
        root.present().map_err(|e| err("twin activity", e))?;
    }
    Ok(inline(svg))
}

/// Cumulative BED of each region after each synced cycle, the plan's predicted cumulative
/// BED (median and 95 % interval) at the next cycle, and each BED limit as a dashed line.
pub fn twin_cumulative_bed(
    status: &Status,
    plan: Option<&PlanResult>,
    limits: &[crate::twin::OrganLimit],
) -> Result<String> {
    crate::kinetics::output::register_font();
    let names: Vec<String> = status
        .cycles
        .first()
        .map(|c| c.regions.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let series: Vec<Vec<(f64, f64)>> = names
        .iter()
        .map(|n| {
            status
                .cycles
                .iter()
                .filter_map(|c| {
                    let r = c.regions.iter().find(|r| &r.name == n)?;
                    Some((c.cycle as f64, r.cumulative_bed_gy?))
                })
                .collect()
        })
        .collect();
    let planned: Vec<(String, f64, f64, f64)> = plan
        .map(|p| {
            p.organs
                .iter()
                .filter_map(|o| {
                    Some((
                        o.name.clone(),
                        o.cumulative_bed_gy?,
                        o.cumulative_bed_gy_p2_5?,
                        o.cumulative_bed_gy_p97_5?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let bed_limits: Vec<&crate::twin::OrganLimit> = limits
        .iter()
        .filter(|l| l.quantity == LimitQuantity::Bed)
        .collect();
    let n = plan.map(|p| p.cycle).unwrap_or(status.cycles.len()).max(1);
    let top = series
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(planned.iter().map(|p| p.3))
        .chain(bed_limits.iter().map(|l| l.value_gy))
        .fold(1.0, f64::max)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("twin BED", e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.5..n as f64 + 0.5, 0.0..top)
            .map_err(|e| err("twin BED", e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(12))
            .x_label_formatter(&|x| format!("{}", x.round()))
            .x_desc("after cycle")
            .y_desc("cumulative BED (Gy)")
            .draw()
            .map_err(|e| err("twin BED", e))?;
        for (i, (name, pts)) in names.iter().zip(&series).enumerate() {
            let col = colour(i);
            chart
                .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .map_err(|e| err("twin BED", e))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                .map_err(|e| err("twin BED", e))?;
        }
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(planned.iter().enumerate().map(|(i, (name, med, lo, hi))| {
                let col = names.iter().position(|n| n == name).map_or(grey, colour);
                let x = n as f64 + 0.06 * (i as f64 - planned.len() as f64 / 2.0);
                ErrorBar::new_vertical(x, *lo, *med, *hi, col.stroke_width(2), 8)
            }))
            .map_err(|e| err("twin BED", e))?;
        for l in &bed_limits {
            let v = l.value_gy;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.5, v), (n as f64 + 0.5, v)],
                    8,
                    5,
                    RED.stroke_width(2),
                ))
                .map_err(|e| err("twin BED", e))?
                .label(format!("limit {} BED {} Gy", l.organ, short(v)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 12))
            .draw()
            .map_err(|e| err("twin BED", e))?;
        root.present().map_err(|e| err("twin BED", e))?;
    }
    Ok(inline(svg))
}

/// Axis numbers: 3 significant digits, plain or scientific.
fn short(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&x.abs()) {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.1e}")
    }
}

/// The validation cases: each case's ratio voxdose / reference (a dot, coloured by verdict:
/// green within, orange known disagreement, red outside) with its tolerance band 1 ± tol (a
/// bar), case by case along x. `cases`: (ratio, tolerance, verdict 0 within / 1 known / 2
/// outside).
pub fn validation_ratios(cases: &[(f64, f64, u8)]) -> Result<String> {
    crate::kinetics::output::register_font();
    let spread = cases
        .iter()
        .map(|&(q, t, _)| (q - 1.0).abs().max(t))
        .fold(0.02, f64::max)
        * 1.15;
    let n = cases.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err("validation", e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0..n as i32 + 1, (1.0 - spread)..(1.0 + spread))
            .map_err(|e| err("validation", e))?;
        chart
            .configure_mesh()
            .x_desc("case (in the table's order)")
            .y_desc("voxdose / reference")
            .x_labels(n.min(40) + 2)
            .disable_x_mesh()
            .draw()
            .map_err(|e| err("validation", e))?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new([(0, 1.0), (n as i32 + 1, 1.0)], grey))
            .map_err(|e| err("validation", e))?;
        let verdict = [
            RGBColor(23, 107, 31),
            RGBColor(154, 58, 0),
            RGBColor(176, 0, 32),
        ];
        for (i, &(q, t, v)) in cases.iter().enumerate() {
            let x = i as i32 + 1;
            let col = verdict[usize::from(v.min(2))];
            chart
                .draw_series([PathElement::new(
                    vec![(x, 1.0 - t), (x, 1.0 + t)],
                    col.mix(0.35).stroke_width(5),
                )])
                .map_err(|e| err("validation", e))?;
            chart
                .draw_series([Circle::new((x, q), 3, col.filled())])
                .map_err(|e| err("validation", e))?;
        }
        root.present().map_err(|e| err("validation", e))?;
    }
    Ok(inline(svg))
}
