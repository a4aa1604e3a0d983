//! The page: one HTML string with inline styles, images and SVG, sections present when
//! their data exists (header, twin, organ table, BED table, slices, DVH, kinetics, QA).

use super::data::{Curve, Folder, Results, TwinData};
use super::maps::{self, Maps, COLOUR_STOPS, ISO_LEVELS, PALETTE};
use super::plots;
use crate::Result;
use serde_json::Value;
use std::fmt::Write;

/// The rendered page and the titles of its sections.
pub struct Page {
    /// The HTML.
    pub html: String,
    /// Section titles, in order.
    pub sections: Vec<String>,
}

const STYLE: &str = "
body{font:13px/1.4 'DejaVu Sans',Arial,sans-serif;margin:24px auto;color:#111;max-width:1120px;padding:0 16px}
h1{font-size:21px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #335;margin:26px 0 8px;padding-bottom:2px}
h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;margin:6px 0 10px}td,th{border:1px solid #bbb;padding:2px 6px;vertical-align:top}
th{background:#eef0f6;text-align:left;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.organs,table.bed{font-size:11px}table.organs td,table.organs th,table.bed td,table.bed th{padding:2px 4px}
table.kv th{width:230px}.small{font-size:11px;color:#444}.mono{font-family:'DejaVu Sans Mono',monospace;font-size:11px;word-break:break-all}
.figs{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}figure{margin:0}figcaption{font-size:11px;color:#444}
img,svg{max-width:100%;height:auto}.warn{color:#9a3a00}.ok{color:#176b1f}.bad{color:#b00020;font-weight:600}
.swatch{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border:1px solid #555}
@media print{body{margin:0;max-width:none;padding:0}section{break-inside:auto}h2,h3{break-after:avoid}figure,tr{break-inside:avoid}}
@page{size:A4;margin:12mm}
";

/// Renders the page of `folder`.
pub fn page(folder: &Folder) -> Result<Page> {
    let r = &folder.results;
    // The files' hashes beside the maps' decoding: both stream hundreds of MB.
    let (maps, hashes) = rayon::join(|| maps::load(r), || super::data::hash_files(&r.dir));
    let maps = maps?;
    let mut sections: Vec<(String, String)> =
        vec![("Summary".into(), header(folder, maps.as_ref()))];
    if let Some(t) = &folder.twin {
        sections.push(("Digital twin".into(), twin(t)?));
    }
    let names: Vec<String> = maps.as_ref().map(|m| m.names.clone()).unwrap_or_default();
    if let Some(s) = organ_table(r, &names) {
        sections.push(("Organs and lesions".into(), s));
    }
    if let Some(s) = bed_table(r) {
        sections.push(("BED, EQD2 and limits".into(), s));
    }
    if let Some(s) = validation_table(r)? {
        sections.push(("Validation against published references".into(), s));
    }
    if let Some(m) = &maps {
        sections.push((
            format!("{} on the {}", capital(m.quantity), underlay_name(m)),
            slices(m)?,
        ));
    }
    if let Some(s) = histograms(r, maps.as_ref(), &names)? {
        sections.push(("Dose–volume histograms".into(), s));
    }
    if !r.kinetics.is_empty() {
        sections.push(("Kinetics".into(), kinetics(r, &names)?));
    }
    if let Some(s) = qa(r) {
        sections.push(("Quality assurance".into(), s));
    }
    sections.push(("Files".into(), files(folder, &hashes)));
    let title = title(folder);
    let mut html = String::with_capacity(1 << 20);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    for (i, (t, body)) in sections.iter().enumerate() {
        let id = format!("s{i}");
        let _ = write!(
            html,
            "<section id=\"{id}\"><h2>{}</h2>\n{body}</section>\n",
            esc(t)
        );
    }
    html.push_str("</body></html>\n");
    Ok(Page {
        html,
        sections: sections.into_iter().map(|s| s.0).collect(),
    })
}

fn title(folder: &Folder) -> String {
    let who = match (&folder.twin, &folder.results.summary) {
        (Some(t), _) => format!("patient {}", t.manifest.patient.id),
        (None, Some(s)) => s
            .get("phantom")
            .and_then(Value::as_str)
            .unwrap_or("run")
            .to_string(),
        _ => folder
            .dir
            .file_name()
            .map_or("folder".into(), |n| n.to_string_lossy().to_string()),
    };
    format!("voxdose report: {who} ({})", folder.kind.name())
}

fn underlay_name(m: &Maps) -> &'static str {
    match m.underlay.as_ref().map(|u| u.1) {
        Some(maps::UnderlayKind::Hu) => "CT",
        Some(maps::UnderlayKind::Density) => "phantom's density",
        None => "grid (no CT)",
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as the tables show it: 4 significant digits, plain between 0.01 and 10⁵,
/// else scientific with 3 decimals; "—" when not finite.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if (0.01..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// A JSON number as the tables show it: integers whole, others by [`fmt_num`].
pub fn fmt_json_num(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        n.to_string()
    } else {
        fmt_num(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// A table cell holding a JSON number: its value as written in `data-value`, rounded text.
fn num_cell(key: &str, v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => {
            format!(
                "<td class=\"num\" data-key=\"{}\" data-value=\"{n}\">{}</td>",
                esc(key),
                fmt_json_num(n)
            )
        }
        Some(Value::String(s)) => format!("<td data-key=\"{}\">{}</td>", esc(key), esc(s)),
        Some(Value::Bool(b)) => format!(
            "<td data-key=\"{}\">{}</td>",
            esc(key),
            if *b { "yes" } else { "no" }
        ),
        _ => "<td>—</td>".into(),
    }
}

fn kv_table(rows: &[(String, String)]) -> String {
    let mut s = String::from("<table class=\"kv\">");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    }
    s.push_str("</table>\n");
    s
}

fn jstr<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v?.get(key)?.as_str()
}

fn jnum(v: Option<&Value>, key: &str) -> Option<f64> {
    v?.get(key)?.as_f64()
}

fn header(folder: &Folder, maps: Option<&Maps>) -> String {
    let r = &folder.results;
    let s = r.summary.as_ref();
    let mut rows: Vec<(String, String)> = vec![
        (
            "folder".into(),
            format!(
                "<span class=\"mono\">{}</span>",
                esc(&folder.dir.display().to_string())
            ),
        ),
        (
            "report".into(),
            format!(
                "{} ({} UTC), voxdose {}",
                folder.kind.name(),
                esc(&crate::twin::folder::now_utc()),
                env!("CARGO_PKG_VERSION")
            ),
        ),
    ];
    if let Some(t) = &folder.twin {
        rows.push(("patient".into(), esc(&t.manifest.patient.id)));
        rows.push(("nuclide".into(), esc(&t.manifest.nuclide)));
        rows.push(("twin created".into(), esc(&t.manifest.created)));
        rows.push((
            "study".into(),
            format!(
                "<span class=\"mono\">{}</span>",
                esc(&t.manifest.study.display().to_string())
            ),
        ));
    }
    for (label, key) in [
        ("phantom / patient", "phantom"),
        ("description", "description"),
        ("nuclide", "nuclide"),
        ("dose unit", "dose_unit"),
        ("dose quantity", "dose_quantity"),
        ("method", "method"),
        ("written by voxdose", "voxdose_version"),
    ] {
        if let Some(v) = jstr(s, key).filter(|_| !rows.iter().any(|r| r.0 == label)) {
            rows.push((label.into(), esc(v)));
        }
    }
    if let Some(t) = jnum(s, "tia_bq_s") {
        rows.push((
            "decays represented (TIA)".into(),
            format!("{} Bq·s", fmt_num(t)),
        ));
    }
    if let Some(c) = r.run_config.as_ref() {
        rows.push((
            "input".into(),
            format!(
                "<span class=\"mono\">{}</span>",
                esc(&serde_json::to_string(&c.input).unwrap_or_default())
            ),
        ));
    }
    if let Some(p) = r.patient.as_ref() {
        let fields = [
            ("patient ID", "/ct/patient_id"),
            ("patient name", "/ct/patient_name"),
            ("CT study date", "/ct/study_date"),
            ("CT series", "/ct/series_description"),
            ("emission modality", "/activity/modality"),
            ("radiopharmaceutical", "/activity/radiopharmaceutical"),
            ("injected activity (Bq)", "/activity/injected_activity_bq"),
            ("injection time", "/activity/injection_time"),
            ("acquisition time", "/activity/acquisition_time"),
            (
                "scan after injection (h)",
                "/activity/scan_hours_after_injection",
            ),
            ("nuclide from", "/nuclide_source"),
            ("regions from", "/regions_source"),
        ];
        for (label, pointer) in fields {
            match p.pointer(pointer) {
                Some(Value::String(v)) if !v.is_empty() => rows.push((label.into(), esc(v))),
                Some(v @ Value::Number(_)) => rows.push((label.into(), num_text(v))),
                _ => {}
            }
        }
    }
    let mut out = kv_table(&rows);
    let mut warnings = r.warnings.clone();
    warnings.extend(maps.map(|m| m.notes.clone()).unwrap_or_default());
    if !warnings.is_empty() {
        out.push_str("<h3>Warnings and notes</h3><ul>");
        for w in &warnings {
            let _ = write!(out, "<li class=\"warn\">{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    out
}

fn files(folder: &Folder, hashes: &[(String, String)]) -> String {
    let mut out = String::from("<p>The files this report was made from, and the inputs of every twin cycle, by sha256.</p><table class=\"small\">");
    for (name, hex) in hashes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{hex}</td></tr>",
            esc(name)
        );
    }
    if let Some(t) = &folder.twin {
        for (cycle, files) in &t.inputs {
            for (path, hex) in files {
                let _ = write!(
                    out,
                    "<tr><td>cycle {cycle} input {}</td><td class=\"mono\">{hex}</td></tr>",
                    esc(path)
                );
            }
        }
    }
    out.push_str("</table>\n");
    out
}

/// The cases of `validation.json`: voxdose next to the reference, the ratio against its
/// tolerance, the verdict, and why that tolerance and where the reference comes from. Each
/// number carries its JSON value (`data-value`), as in the organ table.
fn validation_table(r: &Results) -> Result<Option<String>> {
    let Some(cases) = r.validation.as_ref() else {
        return Ok(None);
    };
    // 0 within its tolerance, 1 a documented known disagreement, 2 outside; style and word.
    let verdict = |c: &Value| match (c.get("pass"), c.get("known_disagreement")) {
        (Some(Value::Bool(true)), _) => 0u8,
        (_, Some(Value::String(_))) => 1,
        _ => 2,
    };
    const CLASS: [&str; 3] = ["ok", "warn", "bad"];
    const WORD: [&str; 3] = ["within", "known", "OUTSIDE"];
    let count = |v: u8| cases.iter().filter(|c| verdict(c) == v).count();
    let failed = count(2);
    let mut out = format!(
        "<p>{} cases: <span class=\"ok\">{} within tolerance</span>, <span class=\"warn\">{} outside it as documented known disagreements</span>, <span class=\"{}\">{failed} outside it</span>. A case passes when |ratio − 1| ≤ tolerance (a multiple of the Monte Carlo σ plus the systematic allowance its basis states).</p>\n",
        cases.len(),
        count(0),
        count(1),
        if failed > 0 { "bad" } else { "ok" }
    );
    out.push_str("<table class=\"organs\" data-file=\"validation.json\"><tr><th>case</th><th>nuclide</th><th>quantity</th><th>voxdose</th><th>σ</th><th>reference</th><th>ratio</th><th>tolerance</th><th>|ratio − 1| / tolerance</th><th></th><th>method</th></tr>\n");
    for c in cases {
        let (class, word) = (
            CLASS[usize::from(verdict(c))],
            WORD[usize::from(verdict(c))],
        );
        let used = match (jnum(Some(c), "ratio"), jnum(Some(c), "tolerance")) {
            (Some(q), Some(t)) if t > 0.0 => format!("{:.2}", (q - 1.0).abs() / t),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "<tr data-region=\"{}\"><td>{}</td><td>{}</td><td>{}</td>{}{}{}{}{}<td class=\"num {class}\">{used}</td><td class=\"{class}\">{word}</td><td class=\"small\">{}</td></tr>",
            esc(jstr(Some(c), "case").unwrap_or("")),
            esc(jstr(Some(c), "case").unwrap_or("")),
            esc(jstr(Some(c), "nuclide").unwrap_or("—")),
            esc(jstr(Some(c), "quantity").unwrap_or("")),
            num_cell("voxdose", c.get("voxdose")),
            num_cell("voxdose_sigma", c.get("voxdose_sigma")),
            num_cell("reference", c.get("reference")),
            num_cell("ratio", c.get("ratio")),
            num_cell("tolerance", c.get("tolerance")),
            esc(jstr(Some(c), "method").unwrap_or(""))
        );
    }
    out.push_str("</table>\n");
    let points: Vec<(f64, f64, u8)> = cases
        .iter()
        .filter_map(|c| {
            Some((
                jnum(Some(c), "ratio")?,
                jnum(Some(c), "tolerance")?,
                verdict(c),
            ))
        })
        .collect();
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Each case's ratio (dot) and its tolerance band 1 ± tolerance (bar), in the table's order: green within, orange a documented known disagreement, red outside.</figcaption></figure>",
        plots::validation_ratios(&points)?
    );
    out.push_str("<h3>Sources and tolerances</h3><table class=\"small\"><tr><th>case</th><th>reference</th><th>tolerance basis</th></tr>\n");
    for c in cases {
        let known = jstr(Some(c), "known_disagreement")
            .map(|k| {
                format!(
                    "<br><span class=\"warn\">known disagreement: {}</span>",
                    esc(k)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}{known}</td></tr>",
            esc(jstr(Some(c), "case").unwrap_or("")),
            esc(jstr(Some(c), "source").unwrap_or("")),
            esc(jstr(Some(c), "tolerance_basis").unwrap_or(""))
        );
    }
    let _ = write!(
        out,
        "</table>\n<p class=\"small\">{}.</p><p class=\"small\">Speed: {}.</p>\n",
        esc(crate::validate::NOT_COVERED),
        esc(crate::validate::RECORDED_SPEED)
    );
    Ok(Some(out))
}

/// Region colour swatch (the outline colour of the slices and the DVH's line).
fn swatch(names: &[String], name: &str) -> String {
    match names.iter().position(|n| n == name) {
        Some(i) => {
            let c = PALETTE[i % PALETTE.len()];
            format!(
                "<span class=\"swatch\" style=\"background:rgb({},{},{})\"></span>",
                c[0], c[1], c[2]
            )
        }
        None => String::new(),
    }
}

/// The organ table: `organ_table.json` (patients, studies) or `summary.json`'s regions
/// (phantoms), each number as written; TIA ± σ from `regions.json` when the run fitted one.
fn organ_table(r: &Results, names: &[String]) -> Option<String> {
    let unit = r.dose_unit();
    let (file, rows, cols): (&str, Vec<Value>, Vec<(&str, String)>) =
        match (&r.organ_table, &r.summary) {
            (Some(rows), _) => (
                "organ_table.json",
                rows.clone(),
                vec![
                    ("voxels", "voxels".into()),
                    ("volume_ml", "volume (mL)".into()),
                    ("mass_kg", "mass (kg)".into()),
                    ("mean_gy", format!("mean dose ({unit})")),
                    ("mean_sigma_gy", format!("σ ({unit})")),
                    ("d2_gy", format!("D2 ({unit})")),
                    ("d50_gy", format!("D50 ({unit})")),
                    ("d98_gy", format!("D98 ({unit})")),
                    ("tissue", "tissue".into()),
                    ("bed_mean_gy", "BED mean (Gy)".into()),
                    ("bed_mean_gy_sigma", "σ BED (Gy)".into()),
                    ("eqd2_mean_gy", "EQD2 (Gy)".into()),
                ],
            ),
            (None, Some(s)) => (
                "summary.json",
                s.get("regions")?.as_array()?.clone(),
                vec![
                    ("voxels", "voxels".into()),
                    ("mass_kg", "mass (kg)".into()),
                    ("mean_dose", format!("mean dose ({unit})")),
                    ("mean_dose_rel_sigma", "σ relative".into()),
                    ("energy_kev_per_decay", "energy (keV per decay)".into()),
                ],
            ),
            _ => return None,
        };
    let key_name = if file == "summary.json" {
        "name"
    } else {
        "region"
    };
    let cols: Vec<(&str, String)> = cols
        .into_iter()
        .filter(|(k, _)| {
            rows.iter()
                .any(|row| row.get(*k).is_some_and(|v| !v.is_null()))
        })
        .collect();
    let tia = tia_by_region(r);
    let mut out = format!("<table class=\"organs\" data-file=\"{file}\"><tr><th>region</th>");
    for (_, h) in &cols {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    if !tia.is_empty() {
        out.push_str("<th>TIA (Bq·s)</th><th>σ (Bq·s)</th>");
    }
    out.push_str("</tr>\n");
    for row in &rows {
        let name = row.get(key_name).and_then(Value::as_str).unwrap_or("?");
        let _ = write!(
            out,
            "<tr data-region=\"{}\"><td>{}{}</td>",
            esc(name),
            swatch(names, name),
            esc(name)
        );
        for (k, _) in &cols {
            out.push_str(&num_cell(k, row.get(*k)));
        }
        if !tia.is_empty() {
            match tia.iter().find(|t| t.0 == name) {
                Some((_, t, s)) => {
                    let _ = write!(
                        out,
                        "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
                        fmt_num(*t),
                        fmt_num(*s)
                    );
                }
                None => out.push_str("<td>—</td><td>—</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<p class=\"small\">Numbers of <code>{file}</code> as written, rounded to 4 significant digits (the exact value is in each cell's <code>data-value</code>). σ is one standard uncertainty of the mean (transport batches){}.</p>",
        if tia.is_empty() { "" } else { "; TIA from regions.json, summed over cycles, σ in quadrature" }
    );
    Some(out)
}

fn tia_by_region(r: &Results) -> Vec<(String, f64, f64)> {
    let mut out: Vec<(String, f64, f64)> = Vec::new();
    for k in &r.kinetics {
        match out.iter_mut().find(|t| t.0 == k.name) {
            Some(t) => {
                t.1 += k.tia_bq_s;
                t.2 = t.2.hypot(k.tia_sigma_bq_s);
            }
            None => out.push((k.name.clone(), k.tia_bq_s, k.tia_sigma_bq_s)),
        }
    }
    out
}

/// `bed_summary.json`'s regions with their limits.
fn bed_table(r: &Results) -> Option<String> {
    let b = r.bed_summary.as_ref()?;
    let rows = b.get("regions")?.as_array()?;
    let cols = [
        ("tissue", "tissue"),
        ("alpha_beta_gy", "α/β (Gy)"),
        ("repair_half_time_h", "T_rep (h)"),
        ("dose_mean_gy", "mean dose (Gy)"),
        ("dose_mean_gy_sigma", "σ dose (Gy)"),
        ("bed_mean_gy", "BED mean (Gy)"),
        ("bed_mean_gy_sigma", "σ BED (Gy)"),
        ("eqd2_mean_gy", "EQD2 (Gy)"),
        ("bed_d2_gy", "BED D2 (Gy)"),
        ("bed_d98_gy", "BED D98 (Gy)"),
        ("eubed_gy", "EUBED (Gy)"),
    ];
    let cols: Vec<_> = cols
        .into_iter()
        .filter(|(k, _)| {
            rows.iter()
                .any(|row| row.get(*k).is_some_and(|v| !v.is_null()))
        })
        .collect();
    let mut out =
        String::from("<table class=\"bed\" data-file=\"bed_summary.json\"><tr><th>region</th>");
    for (_, h) in &cols {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("<th>limit</th><th>fraction of limit</th><th>margin (Gy)</th></tr>\n");
    for row in rows {
        let name = row.get("name").and_then(Value::as_str).unwrap_or("?");
        let _ = write!(
            out,
            "<tr data-region=\"{}\"><td>{}</td>",
            esc(name),
            esc(name)
        );
        for (k, _) in &cols {
            out.push_str(&num_cell(k, row.get(*k)));
        }
        out.push_str(&limit_cells(row));
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<p class=\"small\">BED = D + G·D²/(α/β), EQD2 = BED/(1 + 2 Gy/(α/β)) (Dale 1985; G from the fitted kinetics). Limits are the tissue table's (data/radiobiology/tissues.csv).</p>\n");
    Some(out)
}

fn limit_cells(row: &Value) -> String {
    let Some(l) = row.get("limit").filter(|l| l.is_object()) else {
        return "<td>—</td><td>—</td><td>—</td>".into();
    };
    let quantity = l.get("quantity").and_then(Value::as_str).unwrap_or("");
    let value = l
        .get("value_gy")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    let compared = l.get("compared").and_then(Value::as_str).unwrap_or("");
    let current = row
        .get(compared)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    let within = l
        .get("within_limit")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut text = format!("{quantity} {} Gy", fmt_num(value));
    if let Some(rf) = l.get("with_risk_factors_gy").and_then(Value::as_f64) {
        let _ = write!(text, " ({} with risk factors)", fmt_num(rf));
    }
    let class = if within { "ok" } else { "bad" };
    format!(
        "<td>{}</td>{}<td class=\"num {class}\">{}</td>",
        esc(&text),
        num_cell("fraction_of_limit", l.get("fraction_of_limit")),
        fmt_num(value - current)
    )
}

fn scale_bar(id: &str, max: f32, unit: &str, percent: bool, ticks: &[f32]) -> String {
    let mut s = format!("<svg width=\"440\" height=\"44\" viewBox=\"0 0 440 44\" role=\"img\"><defs><linearGradient id=\"{id}\">");
    for (pos, c) in COLOUR_STOPS {
        let _ = write!(
            s,
            "<stop offset=\"{pos}\" stop-color=\"rgb({},{},{})\"/>",
            c[0], c[1], c[2]
        );
    }
    let _ = write!(s, "</linearGradient></defs><rect x=\"10\" y=\"4\" width=\"400\" height=\"14\" fill=\"url(#{id})\" stroke=\"#333\"/>");
    for &t in ticks {
        let x = 10.0 + 400.0 * t;
        let v = f64::from(t * max) * if percent { 100.0 } else { 1.0 };
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"2\" x2=\"{x}\" y2=\"22\" stroke=\"#000\"/><text x=\"{x}\" y=\"36\" font-size=\"10\" text-anchor=\"middle\" font-family=\"sans-serif\">{}</text>",
            fmt_num(v)
        );
    }
    let _ = write!(
        s,
        "<text x=\"414\" y=\"15\" font-size=\"10\" font-family=\"sans-serif\">{}</text></svg>",
        esc(unit)
    );
    s
}

fn slices(m: &Maps) -> Result<String> {
    let regions = maps::region_slices(m)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p>Slices through each region's centroid (axial | coronal | sagittal; the patient's right on the left, anterior and superior up). Colour wash from {} % of the maximum, {} {}; {} lines at {} % of it; region outlines in the table's colours.{}</p>",
        2,
        fmt_num(f64::from(m.max)),
        esc(&m.unit),
        if m.quantity == "absorbed dose" { "isodose" } else { "iso-value" },
        ISO_LEVELS.iter().map(|l| format!("{}", (l * 100.0).round())).collect::<Vec<_>>().join(", "),
        if m.sigma.is_some() { " Beside it, the relative σ of each voxel where the map exceeds 5 % of its maximum." } else { "" }
    );
    out.push_str(&scale_bar(
        "scale-map",
        m.max,
        &m.unit,
        false,
        &[0.0, 0.25, 0.5, 0.75, 1.0],
    ));
    if m.sigma.is_some() {
        let smax = m.sigma_max;
        out.push_str(&scale_bar(
            "scale-sigma",
            smax,
            "σ (%)",
            true,
            &[0.0, 0.5, 1.0],
        ));
    }
    for s in &regions {
        let _ = write!(
            out,
            "<h3>{}{} <span class=\"small\">voxel ({}, {}, {})</span></h3><div class=\"figs\">",
            swatch(&m.names, &s.name),
            esc(&s.name),
            s.at[0],
            s.at[1],
            s.at[2]
        );
        let _ = write!(out, "<figure><img alt=\"{} through {}\" src=\"{}\"><figcaption>{} ({})</figcaption></figure>", esc(m.quantity), esc(&s.name), s.value_png, esc(m.quantity), esc(&m.unit));
        if let Some(p) = &s.sigma_png {
            let _ = write!(out, "<figure><img alt=\"relative σ through {}\" src=\"{p}\"><figcaption>relative σ</figcaption></figure>", esc(&s.name));
        }
        out.push_str("</div>\n");
    }
    if m.names.len() > maps::MAX_REGIONS_DRAWN {
        let _ = write!(out, "<p class=\"small\">The first {} of {} regions are drawn; the tables list them all.</p>", maps::MAX_REGIONS_DRAWN, m.names.len());
    }
    Ok(out)
}

fn histograms(r: &Results, m: Option<&Maps>, names: &[String]) -> Result<Option<String>> {
    let dvh: Vec<Curve> = if !r.dvh.is_empty() {
        r.dvh.clone()
    } else {
        m.filter(|m| m.quantity == "absorbed dose")
            .map(maps::dvh_from_maps)
            .unwrap_or_default()
    };
    if dvh.is_empty() && r.bed_dvh.is_empty() {
        return Ok(None);
    }
    let index_of = |n: &str| names.iter().position(|x| x == n);
    let mut out = String::from("<div class=\"figs\">");
    if !dvh.is_empty() {
        let svg = plots::volume_histogram(&dvh, &format!("dose ({})", r.dose_unit()), &index_of)?;
        let _ = write!(out, "<figure>{svg}<figcaption>cumulative DVH (volume receiving at least the dose)</figcaption></figure>");
    }
    if !r.bed_dvh.is_empty() {
        let svg = plots::volume_histogram(&r.bed_dvh, "BED (Gy)", &index_of)?;
        let _ = write!(
            out,
            "<figure>{svg}<figcaption>cumulative BED-volume histogram</figcaption></figure>"
        );
    }
    out.push_str("</div>\n");
    Ok(Some(out))
}

fn kinetics(r: &Results, names: &[String]) -> Result<String> {
    let mut out = String::new();
    match r.uncertainty {
        Some(u) => {
            let _ = write!(out, "<p>Measured region activities with ±σ error bars (σ = {} % of the activity, at least 0.1 % of the curve's peak: the study's <code>activity_rel_sigma</code>, as the fit weighted them) and the selected model. Common to all points of a region and added to its TIA σ only: calibration {} %, recovery coefficient {} %.</p>", fmt_num(100.0 * u.activity_rel_sigma), fmt_num(100.0 * u.calibration_rel_sigma), fmt_num(100.0 * u.recovery_rel_sigma));
        }
        None => out.push_str("<p>Measured region activities and the selected model (neither regions.json nor a study file gives the points' σ, so no error bars are drawn).</p>"),
    }
    out.push_str("<table><tr><th>cycle</th><th>region</th><th>model</th><th>TIA (Bq·s)</th><th>σ (Bq·s)</th><th>T_eff (h)</th><th>TIAC (h)</th></tr>\n");
    for k in &r.kinetics {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            k.cycle, swatch(names, &k.name), esc(&k.name), esc(&k.model), fmt_num(k.tia_bq_s), fmt_num(k.tia_sigma_bq_s), fmt_num(k.effective_half_life_h), fmt_num(k.tiac_h)
        );
    }
    out.push_str("</table>\n<h3>Model selection</h3><table><tr><th>cycle</th><th>region</th><th>model</th><th>AIC</th><th>AICc</th><th>R²</th><th>parameters</th><th></th></tr>\n");
    for k in &r.kinetics {
        let Some(f) = &k.fit else { continue };
        for (i, c) in f.candidates.iter().enumerate() {
            let chosen = f.selected == Some(i);
            let params: Vec<String> = c
                .model
                .param_names()
                .iter()
                .zip(&c.params)
                .map(|(n, p)| format!("{n} = {}", fmt_num(*p)))
                .collect();
            let _ = writeln!(
                out,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"small\">{}</td><td>{}</td></tr>",
                k.cycle, esc(&k.name), c.model.name(), fmt_num(c.aic), c.aicc.map_or("—".into(), fmt_num), fmt_num(c.r_squared), esc(&params.join(", ")), if chosen { "<b>selected</b>" } else { "" }
            );
        }
    }
    out.push_str("</table>\n<div class=\"figs\">");
    for k in &r.kinetics {
        let i = names.iter().position(|n| n == &k.name).unwrap_or(0);
        let svg = plots::tac(k, r.activity_rel_sigma, i)?;
        let _ = write!(out, "<figure>{svg}</figure>");
    }
    out.push_str("</div>\n");
    Ok(out)
}

fn qa(r: &Results) -> Option<String> {
    let s = r.summary.as_ref()?;
    let mut rows: Vec<(String, String)> = Vec::new();
    let n = |p: &str| s.pointer(p).and_then(Value::as_f64);
    if let (Some(e), Some(d), Some(x)) = (
        n("/energy_per_decay_kev/emitted"),
        n("/energy_per_decay_kev/deposited"),
        n("/energy_per_decay_kev/escaped"),
    ) {
        let exact = s
            .pointer("/energy_balance_units/exact")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        rows.push((
            "energy per decay".into(),
            format!(
                "emitted {} keV = deposited {} + escaped {} keV; fixed-point balance exact: <span class=\"{}\">{}</span>",
                fmt_num(e), fmt_num(d), fmt_num(x), if exact { "ok" } else { "bad" }, if exact { "yes" } else { "NO" }
            ),
        ));
    }
    for (label, p) in [
        ("decays", "/decays"),
        ("batches", "/batches"),
        ("seed", "/seed"),
        ("decays per second", "/decays_per_second"),
        ("transport wall time (s)", "/wall_s"),
        ("of which batch statistics (s)", "/statistics_s"),
        (
            "radiated (bremsstrahlung) keV per decay",
            "/counters/radiated_kev_per_decay",
        ),
        ("photon interactions", "/counters/photon_interactions"),
        ("electron steps", "/counters/electron_steps"),
    ] {
        if let Some(v) = s.pointer(p) {
            rows.push((label.into(), num_text(v)));
        }
    }
    if let Some(t) = s
        .pointer("/counters/truncated_tracks")
        .and_then(Value::as_u64)
    {
        let class = if t == 0 { "ok" } else { "bad" };
        rows.push((
            "tracks stopped by a loop bound".into(),
            format!("<span class=\"{class}\">{t}</span> (expected 0)"),
        ));
    }
    if let (Some(m), Some(x), Some(v)) = (
        n("/uncertainty_above_50pct/mean"),
        n("/uncertainty_above_50pct/max"),
        n("/uncertainty_above_50pct/voxels"),
    ) {
        rows.push((
            "σ of voxels above 50 % of the maximum".into(),
            format!(
                "mean {} %, max {} % ({} voxels)",
                fmt_num(100.0 * m),
                fmt_num(100.0 * x),
                v
            ),
        ));
    }
    if let (Some(e), Some(p)) = (n("/cutoffs_kev/electron"), n("/cutoffs_kev/photon")) {
        rows.push((
            "cutoffs".into(),
            format!("electrons {} keV, photons {} keV", fmt_num(e), fmt_num(p)),
        ));
    }
    if let Some(Value::Object(st)) = s.get("stages_s") {
        let text: Vec<String> = st
            .iter()
            .map(|(k, v)| format!("{} {} s", esc(k), num_text(v)))
            .collect();
        rows.push(("time per stage".into(), text.join(", ")));
    }
    if let Some(Value::Object(d)) = s.get("device") {
        let text: Vec<String> = d
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{} {}", esc(k), num_text(v)))
            .collect();
        rows.push(("device".into(), text.join("; ")));
    }
    if let Some(Value::Array(dv)) = s.get("data_versions") {
        let text: Vec<String> = dv.iter().filter_map(Value::as_str).map(esc).collect();
        rows.push(("physics data".into(), text.join("<br>")));
    }
    Some(kv_table(&rows))
}

fn num_text(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => fmt_num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

fn twin(t: &TwinData) -> Result<String> {
    let st = &t.status;
    let plan = t.plan.as_ref();
    let mut out = String::new();
    let limits: Vec<String> = t.manifest.limits.iter().map(|l| esc(&l.text())).collect();
    let _ = writeln!(
        out,
        "<p>Patient <b>{}</b>, {}; {} synced cycle(s); limits: {}.</p>",
        esc(&st.patient),
        esc(&st.nuclide),
        st.cycles.len(),
        if limits.is_empty() {
            "none".into()
        } else {
            limits.join(", ")
        }
    );
    out.push_str("<h3>Cycles</h3><table><tr><th>cycle</th><th>date</th><th>activity (GBq)</th><th>time points</th><th>synced</th></tr>\n");
    for c in &st.cycles {
        let synced = t
            .manifest
            .cycles
            .iter()
            .find(|e| e.cycle == c.cycle)
            .map_or(String::new(), |e| e.synced.clone());
        let _ = writeln!(out, "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>", c.cycle, esc(c.date.as_deref().unwrap_or("—")), fmt_num(c.activity_bq / 1e9), c.time_points, esc(&synced));
    }
    if let Some(p) = plan {
        let _ = writeln!(out, "<tr><td class=\"num\">{}</td><td>planned</td><td class=\"num\">{}</td><td>—</td><td>—</td></tr>", p.cycle, fmt_num(p.activity_gbq));
    }
    out.push_str("</table>\n<div class=\"figs\">");
    let _ = write!(
        out,
        "<figure>{}<figcaption>activity per cycle (grey: the plan)</figcaption></figure>",
        plots::twin_activity(st, plan)?
    );
    let _ = write!(out, "<figure>{}<figcaption>cumulative BED per region after each cycle; at the planned cycle the plan's median and 95 % interval; dashed: BED limits</figcaption></figure>", plots::twin_cumulative_bed(st, plan, &t.manifest.limits)?);
    out.push_str("</div>\n<h3>Predicted vs measured</h3>");
    out.push_str(&prediction_errors(st));
    out.push_str("<h3>Organs over all cycles</h3><table><tr><th>organ</th><th>tissue</th><th>cumulative dose (Gy)</th><th>cumulative BED (Gy)</th><th>limit</th><th>margin (Gy)</th><th>used</th></tr>\n");
    for o in &st.organs {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&o.name), esc(o.tissue.as_deref().unwrap_or("—")), fmt_num(o.cumulative_dose_gy), o.cumulative_bed_gy.map_or("—".into(), fmt_num),
            o.limit.as_ref().map_or("—".into(), |l| esc(&l.text())), o.margin.map_or("—".into(), fmt_num), o.fraction_of_limit.map_or("—".into(), |f| format!("{} %", fmt_num(100.0 * f)))
        );
    }
    out.push_str("</table>\n");
    if let Some(p) = plan {
        out.push_str(&plan_table(p));
    }
    Ok(out)
}

fn prediction_errors(st: &crate::twin::status::Status) -> String {
    let rows: Vec<String> = st
        .cycles
        .iter()
        .flat_map(|c| c.regions.iter().map(move |r| (c.cycle, r)))
        .filter(|(_, r)| r.prediction_error_dose.is_some())
        .map(|(c, r)| {
            let pct = |x: Option<f64>| x.map_or("—".into(), |e| format!("{:+.1} %", 100.0 * e));
            format!("<tr><td class=\"num\">{c}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n", esc(&r.name), fmt_num(r.dose_gy), pct(r.prediction_error_dose), pct(r.prediction_error_bed))
        })
        .collect();
    if rows.is_empty() {
        return "<p>No cycle has been predicted before it was synced yet.</p>\n".into();
    }
    format!("<table><tr><th>cycle</th><th>region</th><th>measured dose (Gy)</th><th>dose: predicted/measured − 1</th><th>BED: predicted/measured − 1</th></tr>\n{}</table>\n", rows.concat())
}

fn plan_table(p: &crate::twin::PlanResult) -> String {
    let mut out = format!(
        "<h3>Plan for cycle {}</h3><p><b>{} GBq</b> per cycle × {} (limiting organ: {}); P(every limit holds) = {} at the asked confidence {}. {}</p>\n",
        p.cycle, fmt_num(p.activity_gbq), p.cycles_left, esc(p.limiting_organ.as_deref().unwrap_or("none")), fmt_num(p.probability_within_limits), fmt_num(p.confidence), esc(&p.note)
    );
    out.push_str("<table><tr><th>organ</th><th>dose (Gy) [95 %]</th><th>BED (Gy)</th><th>cumulative BED (Gy) [95 %]</th><th>limit</th><th>margin (Gy)</th></tr>\n");
    for o in &p.organs {
        let interval =
            |m: f64, lo: f64, hi: f64| format!("{} [{}, {}]", fmt_num(m), fmt_num(lo), fmt_num(hi));
        let cum = match (
            o.cumulative_bed_gy,
            o.cumulative_bed_gy_p2_5,
            o.cumulative_bed_gy_p97_5,
        ) {
            (Some(m), Some(lo), Some(hi)) => interval(m, lo, hi),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&o.name), interval(o.dose_gy, o.dose_gy_p2_5, o.dose_gy_p97_5), o.bed_gy.map_or("—".into(), fmt_num), cum,
            o.limit.as_ref().map_or("—".into(), |l| esc(&l.text())), o.margin.map_or("—".into(), fmt_num)
        );
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(fmt_num(9.096665582603137), "9.097");
        assert_eq!(fmt_num(64.03125), "64.03");
        assert_eq!(fmt_num(0.0123456), "0.01235");
        assert_eq!(fmt_num(5.145206914223355e-12), "5.145e-12");
        assert_eq!(fmt_num(123456.0), "1.235e5");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(f64::NAN), "—");
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
