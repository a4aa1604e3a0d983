//! `voxdose report`: the HTML report of a water-sphere run, a two-cycle study, a twin after
//! `plan` and (with the shared test data) a patient run, each opened in a real headless
//! Chromium.
//!
//! What is checked: the page names no `http://`/`https://` resource and has no script; the
//! numbers of its organ and BED tables are those of `organ_table.json` / `summary.json` /
//! `bed_summary.json` (the value in each cell's `data-value` exactly, the text as
//! `fmt_num` rounds it), read from the DOM the browser built; in the browser, every image is
//! decoded with a non-zero natural size and no error event fires (a copy of the page gets a
//! small check script that writes this into the DOM; the report itself has none); a
//! screenshot is written for review (path printed). `--pdf` gives a PDF, or exit 59 without
//! a browser; a folder voxdose did not write is exit 57, an unreadable file in it 58.
//!
//! Without a headless Chromium (`apt-get install chromium`) the browser checks print
//! "skipped"; CI sets `VOXDOSE_REQUIRE_CHROMIUM=1` so that they fail there instead.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use voxdose::report::html::pdf::{find_browser, headless_args, run_with_timeout};
use voxdose::report::html::render::{esc, fmt_json_num, fmt_num};

fn voxdose(args: &[&str]) -> Output {
    let out = Command::new(common::voxdose_bin())
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn ok(args: &[&str]) -> String {
    let out = voxdose(args);
    assert!(out.status.success(), "voxdose {args:?} failed");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A table row: region and its (key, data-value, text) cells.
type Row = (String, Vec<(String, String, String)>);

/// The cells of the table of `file`.
fn table_cells(html: &str, file: &str) -> Vec<Row> {
    let marker = format!("data-file=\"{file}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no table of {file}"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let mut rows = Vec::new();
    for chunk in table.split("<tr data-region=\"").skip(1) {
        let name = chunk[..chunk.find('"').unwrap()].to_string();
        let mut cells = Vec::new();
        for cell in chunk.split("<td class=\"num\" data-key=\"").skip(1) {
            let key = &cell[..cell.find('"').unwrap()];
            let v0 = cell.find("data-value=\"").unwrap() + "data-value=\"".len();
            let value = &cell[v0..v0 + cell[v0..].find('"').unwrap()];
            let t0 = v0 + cell[v0..].find('>').unwrap() + 1;
            let text = &cell[t0..t0 + cell[t0..].find("</td>").unwrap()];
            cells.push((key.to_string(), value.to_string(), text.to_string()));
        }
        rows.push((name, cells));
    }
    rows
}

/// Every numeric key of every JSON row is in the page, value exact, text rounded.
fn table_matches(html: &str, file: &str, rows: &[Value], name_key: &str, keys: &[&str]) {
    let cells = table_cells(html, file);
    assert_eq!(cells.len(), rows.len(), "rows of {file}");
    let mut compared = 0;
    for row in rows {
        let name = row[name_key].as_str().unwrap();
        let (_, page) = cells
            .iter()
            .find(|c| c.0 == name)
            .unwrap_or_else(|| panic!("{name} not in the page"));
        for key in keys {
            let Some(Value::Number(want)) = row.get(*key) else {
                continue;
            };
            let (_, value, text) = page
                .iter()
                .find(|c| c.0 == *key)
                .unwrap_or_else(|| panic!("{name}.{key} not in the page"));
            assert_eq!(
                value.parse::<f64>().unwrap(),
                want.as_f64().unwrap(),
                "{file} {name}.{key}"
            );
            assert_eq!(text, &fmt_json_num(want), "{file} {name}.{key} shown");
            if !(want.is_i64() || want.is_u64()) {
                assert_eq!(text, &fmt_num(want.as_f64().unwrap()));
            }
            compared += 1;
        }
    }
    assert!(
        compared >= rows.len() * 2,
        "only {compared} numbers compared in {file}"
    );
}

fn static_checks(html: &str) {
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names a URL"
    );
    assert!(!html.contains("<script"), "the report needs no script");
    assert!(html.contains("@media print"));
}

fn browser_required() -> bool {
    std::env::var("VOXDOSE_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1")
}

/// The headless browser, or `None` (after saying so) when there is none and none is required.
fn browser() -> Option<PathBuf> {
    let b = find_browser();
    assert!(
        b.is_some() || !browser_required(),
        "VOXDOSE_REQUIRE_CHROMIUM=1 but no headless Chromium was found (apt-get install chromium)"
    );
    if b.is_none() {
        eprintln!("skipped: browser checks (no chromium, chromium-headless-shell or google-chrome on PATH)");
    }
    b
}

const CHECK_SCRIPT: &str = "<script>var __errs=[];window.addEventListener('error',function(e){__errs.push(String(e.message||(e.target&&(e.target.currentSrc||e.target.tagName))||'error'))},true);window.addEventListener('load',function(){var imgs=[].slice.call(document.images).map(function(i){return [i.complete?1:0,i.naturalWidth,i.naturalHeight]});document.body.setAttribute('data-check',JSON.stringify({imgs:imgs,errs:__errs,svgs:document.querySelectorAll('svg').length}));});</script>";

/// Runs the browser on a page; returns (stdout, stderr).
fn chromium(b: &Path, work: &Path, extra: &[String], url: &Path) -> (String, String) {
    let profile = tempfile::tempdir_in(work).unwrap();
    let mut args = headless_args(profile.path());
    args.extend(extra.iter().cloned());
    args.push(format!(
        "file://{}",
        std::fs::canonicalize(url).unwrap().display()
    ));
    let out = Command::new(b).args(&args).output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Opens the report in the browser: images decoded, no error, DOM returned; screenshot.
fn open_in_browser(html_path: &Path, name: &str) -> Option<String> {
    let b = browser()?;
    let work = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(html_path).unwrap();
    let n_img = html.matches("<img ").count();
    let checked = work.path().join("checked.html");
    std::fs::write(
        &checked,
        html.replacen("<head>", &format!("<head>{CHECK_SCRIPT}"), 1),
    )
    .unwrap();
    let extra = [
        "--virtual-time-budget=5000".to_string(),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
    ];
    let (dom, log) = chromium(&b, work.path(), &extra, &checked);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let at = dom
        .find("data-check=\"")
        .unwrap_or_else(|| panic!("no check result in the DOM; browser log: {log}"))
        + "data-check=\"".len();
    let check: Value =
        serde_json::from_str(&dom[at..at + dom[at..].find('"').unwrap()].replace("&quot;", "\""))
            .unwrap();
    let imgs = check["imgs"].as_array().unwrap();
    assert_eq!(imgs.len(), n_img, "images in the DOM");
    for (i, img) in imgs.iter().enumerate() {
        let v: Vec<i64> = img
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert!(
            v[0] == 1 && v[1] > 0 && v[2] > 0,
            "image {i} not decoded: {v:?}"
        );
    }
    assert!(
        check["errs"].as_array().unwrap().is_empty(),
        "errors: {}",
        check["errs"]
    );
    assert!(check["svgs"].as_u64().unwrap() >= 1);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let extra = [
        format!("--screenshot={}", shot.display()),
        "--window-size=1200,2200".into(),
        "--hide-scrollbars".into(),
    ];
    chromium(&b, work.path(), &extra, html_path);
    let img = image::open(&shot).unwrap_or_else(|e| panic!("screenshot {}: {e}", shot.display()));
    assert!(img.width() == 1200 && img.height() > 0);
    eprintln!("screenshot for review: {}", shot.display());
    Some(dom)
}

#[test]
fn water_sphere_report_opens_offline_with_the_summary_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ws");
    let printed = ok(&[
        "run",
        "--phantom",
        "water-sphere",
        "--decays",
        "2e4",
        "--batches",
        "4",
        "--device",
        "cpu",
        "--out",
        &s(&out),
        "--quiet",
        "--report",
    ]);
    assert!(printed.contains("report.html"), "{printed}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    static_checks(&html);
    for section in [
        "Summary",
        "Organs and lesions",
        "Absorbed dose on the phantom",
        "Dose–volume histograms",
        "Quality assurance",
    ] {
        assert!(
            html.contains(&format!("<h2>{section}")),
            "section {section} missing"
        );
    }
    let summary = read_json(&out.join("summary.json"));
    let regions = summary["regions"].as_array().unwrap();
    let keys = [
        "voxels",
        "mass_kg",
        "mean_dose",
        "mean_dose_rel_sigma",
        "energy_kev_per_decay",
    ];
    table_matches(&html, "summary.json", regions, "name", &keys);
    // Slices through both regions' centroids (the sphere inside the phantom keeps its own).
    assert_eq!(html.matches("<img ").count(), 4);
    assert!(html.contains(">sphere <span"));
    if let Some(dom) = open_in_browser(&out.join("report.html"), "water_sphere") {
        table_matches(&dom, "summary.json", regions, "name", &keys);
        // --pdf with the browser found.
        let printed = ok(&[
            "report",
            &s(&out),
            "--out",
            &s(&dir.path().join("r.html")),
            "--pdf",
        ]);
        let pdf =
            std::fs::read(dir.path().join("r.pdf")).unwrap_or_else(|_| panic!("no PDF: {printed}"));
        assert!(
            pdf.starts_with(b"%PDF") && pdf.len() > 10_000,
            "{} bytes",
            pdf.len()
        );
    }
}

#[test]
fn validation_folder_report_has_every_case_as_written_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("val");
    let printed = ok(&[
        "validate",
        "--cases",
        "energy-per-decay-lu177,xcom-water-208kev,vsv-lu177-3mm-000,sphere-s-lu177-4ml",
        "--device",
        "cpu",
        "--out",
        &s(&out),
    ]);
    assert!(printed.contains("report.html"), "{printed}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    static_checks(&html);
    assert!(html.contains("<h2>Validation against published references"));
    let cases = read_json(&out.join("validation.json"));
    let cases = cases.as_array().unwrap();
    let keys = [
        "voxdose",
        "voxdose_sigma",
        "reference",
        "ratio",
        "tolerance",
    ];
    table_matches(&html, "validation.json", cases, "case", &keys);
    // Each case's source and tolerance basis, the known disagreement said as such, and what
    // the suite does not compare.
    for c in cases {
        let source = c["source"].as_str().unwrap();
        assert!(
            html.contains(&esc(source)),
            "source of {} missing",
            c["case"]
        );
    }
    assert!(html.contains("known disagreement: "));
    assert!(html.contains("NEMA IEC") && html.contains("recorded, not rerun"));
    // `voxdose report` on the folder makes the same page (the date line aside).
    let again = dir.path().join("again.html");
    ok(&["report", &s(&out), "--out", &s(&again)]);
    let again = std::fs::read_to_string(again).unwrap();
    assert!(again.contains("<h2>Validation against published references"));
    if let Some(dom) = open_in_browser(&out.join("report.html"), "validation") {
        table_matches(&dom, "validation.json", cases, "case", &keys);
    }
}

#[test]
fn errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = voxdose(&["report", &s(dir.path())]);
    assert_eq!(out.status.code(), Some(57));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a voxdose output folder"));
    std::fs::write(dir.path().join("summary.json"), "{ not json").unwrap();
    let out = voxdose(&["report", &s(dir.path())]);
    assert_eq!(out.status.code(), Some(58));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));
    // --pdf without any browser: the HTML is written, the PDF refused with the way out.
    std::fs::write(
        dir.path().join("summary.json"),
        r#"{"phantom": "x", "regions": []}"#,
    )
    .unwrap();
    let out = Command::new(common::voxdose_bin())
        .args(["report", &s(dir.path()), "--pdf"])
        .env("PATH", "")
        .env_remove("VOXDOSE_CHROMIUM")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(59),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install chromium"));
    assert!(dir.path().join("report.html").is_file());
}

#[test]
fn two_cycle_study_report_has_tables_as_written_and_the_kinetics() {
    let dir = tempfile::tempdir().unwrap();
    let study = voxdose::phantoms::twin_patient::write_patient(
        dir.path(),
        "study.json",
        &[7.4e9, 6.0e9],
        false,
    )
    .unwrap();
    let out = dir.path().join("study");
    ok(&[
        "run",
        "--study",
        &s(&study),
        "--decays",
        "2e4",
        "--batches",
        "4",
        "--device",
        "cpu",
        "--out",
        &s(&out),
        "--quiet",
    ]);
    ok(&["report", &s(&out)]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    static_checks(&html);
    let organs = read_json(&out.join("organ_table.json"));
    let okeys = [
        "voxels",
        "volume_ml",
        "mass_kg",
        "mean_gy",
        "mean_sigma_gy",
        "d2_gy",
        "d50_gy",
        "d98_gy",
        "bed_mean_gy",
        "eqd2_mean_gy",
    ];
    table_matches(
        &html,
        "organ_table.json",
        organs.as_array().unwrap(),
        "region",
        &okeys,
    );
    let bed = read_json(&out.join("bed_summary.json"));
    let bkeys = [
        "alpha_beta_gy",
        "dose_mean_gy",
        "bed_mean_gy",
        "bed_mean_gy_sigma",
        "eqd2_mean_gy",
    ];
    table_matches(
        &html,
        "bed_summary.json",
        bed["regions"].as_array().unwrap(),
        "name",
        &bkeys,
    );
    // Kinetics: a TAC per region and cycle with its model and ±σ bars, the AIC table.
    assert!(html.contains("<h2>Kinetics"));
    assert!(html.contains("Model selection") && html.contains("<b>selected</b>"));
    assert_eq!(
        html.matches("<figure><svg").count(),
        2 * 4 + 2,
        "8 TACs, a DVH and a BED-VH"
    );
    // The study run's TACs carry the study's σ (default activity_rel_sigma 10 %) as bars.
    let bars = error_bars(&html);
    assert_eq!(bars.len(), 8 * 4, "a bar per scan of each TAC");
    assert!(bars
        .iter()
        .all(|(_, a, sig)| (sig / a / 0.1 - 1.0).abs() < 2e-3));
    // Four regions, each with its dose and σ slices.
    assert_eq!(html.matches("<img ").count(), 8);
    if let Some(dom) = open_in_browser(&out.join("report.html"), "study") {
        table_matches(
            &dom,
            "organ_table.json",
            organs.as_array().unwrap(),
            "region",
            &okeys,
        );
    }
}

#[test]
fn twin_report_after_plan_shows_cycles_limits_and_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let one = voxdose::phantoms::twin_patient::write_patient(
        dir.path(),
        "study_cycle1.json",
        &[7.4e9],
        false,
    )
    .unwrap();
    let both = voxdose::phantoms::twin_patient::write_patient(
        dir.path(),
        "study.json",
        &[7.4e9, 6.0e9],
        false,
    )
    .unwrap();
    let limits = dir.path().join("limits.json");
    std::fs::write(
        &limits,
        r#"{"limits": [{"organ": "kidney", "quantity": "bed", "value_gy": 28}]}"#,
    )
    .unwrap();
    let twin = dir.path().join("twin");
    let t = s(&twin);
    ok(&[
        "twin",
        "init",
        &t,
        "--study",
        &s(&one),
        "--limits",
        &s(&limits),
        "--patient-id",
        "demo",
        "--decays",
        "2e4",
        "--batches",
        "4",
        "--smatrix-decays",
        "1e4",
        "--device",
        "cpu",
    ]);
    ok(&["twin", "predict", &t, "--activity-gbq", "6"]);
    let printed = ok(&["twin", "sync", &t, "--study", &s(&both), "--report"]);
    assert!(printed.contains("report.html"), "{printed}");
    ok(&["twin", "plan", &t, "--confidence", "0.95"]);
    ok(&["report", &t]);
    let html = std::fs::read_to_string(twin.join("report.html")).unwrap();
    static_checks(&html);
    assert!(html.contains("<h2>Digital twin"));
    assert!(html.contains("patient demo"));
    assert!(html.contains("Plan for cycle 3") && html.contains("limiting organ: kidney"));
    assert!(html.contains("Predicted vs measured") && html.contains("dose: predicted/measured"));
    assert!(
        html.contains("limit kidney BED 28 Gy"),
        "the limit in the cumulative BED chart"
    );
    // The latest cycle's tables, as its files say.
    let organs = read_json(&twin.join("cycles/2/organ_table.json"));
    table_matches(
        &html,
        "organ_table.json",
        organs.as_array().unwrap(),
        "region",
        &["mass_kg", "mean_gy", "mean_sigma_gy"],
    );
    // Input hashes of both cycles.
    assert!(html.contains("cycle 1 input") && html.contains("cycle 2 input"));
    open_in_browser(&twin.join("report.html"), "twin");
}

/// Standard base64 (with padding) back to bytes.
fn unbase64(text: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let val = |c: u8| A.iter().position(|&x| x == c).unwrap() as u32;
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .take_while(|&&c| c != b'=')
            .fold(0u32, |n, &c| (n << 6) | val(c));
        let sextets = chunk.iter().take_while(|&&c| c != b'=').count() as u32;
        let n = n << (6 * (4 - sextets));
        for k in 0..(sextets as usize - 1) {
            out.push((n >> (16 - 8 * k)) as u8);
        }
    }
    out
}

/// The (time h, activity, σ) of every error bar's tooltip, in page order.
fn error_bars(html: &str) -> Vec<(f64, f64, f64)> {
    html.split("<path class=\"error-bar\"")
        .skip(1)
        .map(|p| {
            let t = &p[p.find("<title>").unwrap() + 7..p.find("</title>").unwrap()];
            let (time, rest) = t.split_once(" h: ").unwrap();
            let (a, sig) = rest.trim_end_matches(" MBq").split_once(" ± ").unwrap();
            let num = |x: &str| x.trim().parse::<f64>().unwrap();
            (num(time), num(a), num(sig))
        })
        .collect()
}

/// The decoded PNG of the first `<img>` whose alt text is `alt`.
fn image_with_alt(html: &str, alt: &str) -> image::RgbImage {
    let at = html
        .find(&format!("alt=\"{alt}\""))
        .unwrap_or_else(|| panic!("no image \"{alt}\""));
    let src = &html[at..];
    let b64 = &src[src.find("base64,").unwrap() + 7..];
    let b64 = &b64[..b64.find('"').unwrap()];
    image::load_from_memory(&unbase64(b64)).unwrap().to_rgb8()
}

#[test]
fn fit_folder_report_has_error_bars_from_regions_json_and_region_outlines() {
    use voxdose::phantoms::twin_patient::{write_patient, ORGANS};
    use voxdose::report::html::maps::PALETTE;
    let dir = tempfile::tempdir().unwrap();
    let study = write_patient(dir.path(), "study.json", &[7.4e9], false).unwrap();
    // The study's own uncertainty inputs (not the defaults), which the report must show.
    let mut v = read_json(&study);
    v["uncertainty"] =
        serde_json::json!({"activity_rel_sigma": 0.07, "calibration_rel_sigma": 0.05});
    std::fs::write(&study, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let out = dir.path().join("fit");
    ok(&["fit", &s(&study), "--out", &s(&out)]);
    let regions = read_json(&out.join("regions.json"));
    assert_eq!(regions["uncertainty"]["activity_rel_sigma"], 0.07);
    assert_eq!(regions["uncertainty"]["calibration_rel_sigma"], 0.05);
    assert_eq!(
        Path::new(regions["study"].as_str().unwrap()),
        std::path::absolute(&study).unwrap()
    );
    ok(&["report", &s(&out)]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    static_checks(&html);
    assert!(html.contains("kinetics fit") && html.contains("<h2>Kinetics"));
    assert!(html.contains("Model selection") && html.contains("<b>selected</b>"));
    // One TAC per region (one cycle, four scans), each point with its ±σ bar: σ = 7 % of A.
    assert_eq!(
        html.matches("<g class=\"error-bars\"").count(),
        ORGANS.len()
    );
    let bars = error_bars(&html);
    assert_eq!(bars.len(), 4 * ORGANS.len());
    for (t, a, sig) in &bars {
        assert!([4.0, 24.0, 72.0, 168.0].contains(t), "time {t}");
        assert!(
            (sig / a / 0.07 - 1.0).abs() < 2e-3,
            "σ {sig} of {a} is not 7 %"
        );
    }
    assert!(html.contains("calibration 5.000 %"));
    // The TIA map through each region with the study's label outlines in the region colours.
    assert!(html.contains("<h2>Time-integrated activity on the"));
    assert_eq!(html.matches("<img ").count(), ORGANS.len());
    for (i, o) in ORGANS.iter().enumerate() {
        let img = image_with_alt(
            &html,
            &format!("time-integrated activity through {}", o.name),
        );
        let c = PALETTE[i % PALETTE.len()];
        let outline = img.pixels().filter(|p| p.0 == c).count();
        assert!(outline > 10, "{}: {outline} outline pixels", o.name);
    }
    if let Some(dom) = open_in_browser(&out.join("report.html"), "fit") {
        assert_eq!(
            dom.matches("class=\"error-bar\"").count(),
            bars.len(),
            "error bars in the DOM the browser built"
        );
    }
    // With the study moved away, regions.json still gives the error bars; the outlines go.
    std::fs::rename(&study, dir.path().join("moved.json")).unwrap();
    ok(&[
        "report",
        &s(&out),
        "--out",
        &s(&dir.path().join("moved.html")),
    ]);
    let html = std::fs::read_to_string(dir.path().join("moved.html")).unwrap();
    assert_eq!(error_bars(&html).len(), bars.len());
    assert!(html.contains("not there any more"));
}

/// The shared test data (`$VOXDOSE_TESTDATA`, else `../shared/testdata`), or `None`.
fn testdata(rel: &str) -> Option<PathBuf> {
    let roots = [
        std::env::var_os("VOXDOSE_TESTDATA").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")),
    ];
    roots
        .into_iter()
        .flatten()
        .map(|r| r.join(rel))
        .find(|p| p.exists())
}

#[test]
fn patient_report_on_the_test_data_has_the_ct_under_the_dose() {
    let (Some(ct), Some(pet), Some(rs)) = (
        testdata("dicom/sts002_ct_pet_rtstruct/CT"),
        testdata("dicom/sts002_ct_pet_rtstruct/PET"),
        testdata("dicom/sts002_ct_pet_rtstruct/RS_CT.dcm"),
    ) else {
        eprintln!("skipped: the STS CT/PET/RTSTRUCT of the shared test data not found (set VOXDOSE_TESTDATA)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("patient");
    ok(&[
        "run",
        "--ct",
        &s(&ct),
        "--spect",
        &s(&pet),
        "--rtstruct",
        &s(&rs),
        "--nuclide",
        "Lu-177",
        "--tia-from-single-scan",
        "hanscheid",
        "--scan-hours",
        "24",
        "--decays",
        "2e4",
        "--batches",
        "4",
        "--device",
        "cpu",
        "--out",
        &s(&out),
        "--quiet",
        "--report",
    ]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    static_checks(&html);
    assert!(
        html.contains("<h2>Absorbed dose on the CT"),
        "the CT under the dose"
    );
    let organs = read_json(&out.join("organ_table.json"));
    let keys = [
        "voxels",
        "volume_ml",
        "mass_kg",
        "mean_gy",
        "mean_sigma_gy",
        "d2_gy",
        "d98_gy",
    ];
    table_matches(
        &html,
        "organ_table.json",
        organs.as_array().unwrap(),
        "region",
        &keys,
    );
    if let Some(dom) = open_in_browser(&out.join("report.html"), "patient") {
        table_matches(
            &dom,
            "organ_table.json",
            organs.as_array().unwrap(),
            "region",
            &keys,
        );
    }
}

#[test]
fn run_with_timeout_stops_a_hung_program() {
    let r = run_with_timeout(Path::new("/bin/sleep"), &["5".to_string()], 1);
    assert!(r.unwrap_err().contains("stopped"));
}

#[test]
fn fast_nifti_reader_reads_what_the_nifti_crate_reads() {
    use voxdose::geometry::{Grid, Volume};
    use voxdose::io::nifti::{
        read_volume_f32, read_volume_f32_fast, write_labels_u16, write_volume_f32,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut grid = Grid::new([5, 4, 3], [1.5, 2.0, 2.5], [-3.0, 7.0, 11.0]);
    grid.direction = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
    let n = grid.n_voxels();
    let f = Volume {
        grid: grid.clone(),
        data: (0..n).map(|v| (v as f32 * 0.37).sin() * 1e-12).collect(),
    };
    let l = Volume {
        grid: grid.clone(),
        data: (0..n).map(|v| (v % 7) as u16).collect(),
    };
    for name in ["f.nii.gz", "f.nii"] {
        let p = dir.path().join(name);
        write_volume_f32(&p, &f, "test").unwrap();
        let (a, b) = (
            read_volume_f32(&p).unwrap(),
            read_volume_f32_fast(&p).unwrap(),
        );
        assert_eq!(a.grid, b.grid);
        assert_eq!(a.data, b.data);
        assert_eq!(b.data, f.data);
    }
    let p = dir.path().join("l.nii.gz");
    write_labels_u16(&p, &l, "labels").unwrap();
    let (a, b) = (
        read_volume_f32(&p).unwrap(),
        read_volume_f32_fast(&p).unwrap(),
    );
    assert_eq!((a.grid, a.data), (b.grid, b.data));
    // A truncated file is refused, not read short.
    let bytes = std::fs::read(dir.path().join("f.nii")).unwrap();
    let cut = dir.path().join("cut.nii");
    std::fs::write(&cut, &bytes[..bytes.len() - 8]).unwrap();
    assert!(read_volume_f32_fast(&cut).is_err());
}
