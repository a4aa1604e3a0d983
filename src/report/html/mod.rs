//! `voxdose report DIR`: one self-contained HTML page a physicist reads to sign off a run, a
//! fit, a study, a BED map, a twin or a validation suite, printable and (with a headless
//! Chromium) a PDF.
//!
//! | file | responsibility |
//! |---|---|
//! | [`data`] | what an output folder holds: the JSON files read as written, the DVH tables |
//! | [`maps`] | the dose (or BED, or TIA), σ, region and CT/density volumes, and slice images (PNG) |
//! | [`plots`] | DVH, BED-VH, TAC and twin charts as SVG (plotters' SVG backend) |
//! | [`render`] | the page: sections present when their data exists, inline styles and images |
//! | [`pdf`] | printing the page with a headless Chromium |
//!
//! **Self-contained.** Images are PNGs base64-encoded into `data:` URLs, plots inline SVG,
//! styles one `<style>` element; the page has no script and refers to no network resource
//! (not even the SVG namespace URL, which HTML does not need), so it opens offline and the
//! same in ten years.
//!
//! **Numbers as written.** Each table cell of the organ and BED tables carries the value of its
//! JSON file in `data-value` (serde_json's shortest round-trip form, as in the file) and shows
//! it rounded by [`render::fmt_num`]: the page and `organ_table.json` cannot disagree.

pub mod data;
pub mod maps;
pub mod pdf;
pub mod plots;
pub mod render;

use crate::Result;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `voxdose report` needs.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// The HTML file to write (default `DIR/report.html`).
    pub out: Option<PathBuf>,
    /// Also print it to PDF (same name, `.pdf`) with a headless Chromium.
    pub pdf: bool,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ReportOutcome {
    /// The HTML file.
    pub html: PathBuf,
    /// The PDF, when asked for.
    pub pdf: Option<PathBuf>,
    /// The kind of folder reported on.
    pub kind: data::FolderKind,
    /// Titles of the sections written, in order.
    pub sections: Vec<String>,
    /// Seconds spent reading and rendering (the PDF not included).
    pub html_s: f64,
}

/// A report that cannot be made (exit codes 57–60).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The folder holds none of the files voxdose writes.
    #[error("{path} is not a voxdose output folder: none of summary.json (run), regions.json (fit), bed_summary.json (bed), validation.json (validate) or twin.json (twin) is in it; give the folder a voxdose command wrote with --out (or a twin folder)")]
    NotAnOutputFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A file of the folder that the report reads is not what voxdose writes.
    #[error("{path}: {reason}; the report reads the files as voxdose writes them: run the command again to rewrite the folder")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `--pdf` without a headless Chromium.
    #[error("--pdf needs a headless Chromium and none was found on PATH (tried {tried}); install one (Debian: apt-get install chromium) or set VOXDOSE_CHROMIUM to its path; the HTML report was written: {html}")]
    NoBrowser {
        /// The names looked for.
        tried: String,
        /// The HTML written anyway.
        html: PathBuf,
    },
    /// The browser ran but gave no PDF.
    #[error("printing {html} to PDF with {browser} failed: {reason}; the HTML report is complete, print it from a browser instead")]
    PrintFailed {
        /// The browser binary.
        browser: PathBuf,
        /// The HTML file.
        html: PathBuf,
        /// What happened.
        reason: String,
    },
}

impl ReportError {
    /// The exit code of this error class (crate::error's table).
    pub fn exit_code(&self) -> i32 {
        match self {
            ReportError::NotAnOutputFolder { .. } => 57,
            ReportError::Unreadable { .. } => 58,
            ReportError::NoBrowser { .. } => 59,
            ReportError::PrintFailed { .. } => 60,
        }
    }
}

/// Writes the report of the output folder `dir` (see the module doc).
pub fn write_report(dir: &Path, opts: &ReportOptions) -> Result<ReportOutcome> {
    let start = Instant::now();
    let folder = data::Folder::read(dir)?;
    let page = render::page(&folder)?;
    let html = opts.out.clone().unwrap_or_else(|| dir.join("report.html"));
    crate::io::atomic::write_atomic(&html, page.html.as_bytes())?;
    let html_s = start.elapsed().as_secs_f64();
    let pdf = if opts.pdf {
        Some(pdf::print_to_pdf(&html, &html.with_extension("pdf"))?)
    } else {
        None
    };
    Ok(ReportOutcome {
        html,
        pdf,
        kind: folder.kind,
        sections: page.sections,
        html_s,
    })
}
