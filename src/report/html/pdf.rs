//! `--pdf`: the HTML printed by a headless Chromium (`--headless --print-to-pdf`), the same
//! engine the tests open the report in. The browser is `$VOXDOSE_CHROMIUM` when set, else the
//! first of [`BROWSERS`] on `PATH`. It runs with a throw-away profile, without a sandbox (it
//! reads only the local page, which has no script and no network reference) and is stopped
//! after [`TIMEOUT_S`].

use super::ReportError;
use crate::Result;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Browser names looked for on `PATH`, in order.
pub const BROWSERS: &[&str] = &[
    "chromium",
    "chromium-headless-shell",
    "google-chrome",
    "google-chrome-stable",
    "chromium-browser",
];
/// Seconds a print may take.
pub const TIMEOUT_S: u64 = 120;

/// The headless browser to use, if any.
pub fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VOXDOSE_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The command-line flags every headless run gets (profile folder given).
pub fn headless_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--disable-extensions".into(),
        "--disable-background-networking".into(),
        format!("--user-data-dir={}", profile.display()),
    ]
}

/// Prints `html` to `pdf`; returns the PDF's path.
pub fn print_to_pdf(html: &Path, pdf: &Path) -> Result<PathBuf> {
    let Some(browser) = find_browser() else {
        return Err(ReportError::NoBrowser {
            tried: format!("$VOXDOSE_CHROMIUM, {}", BROWSERS.join(", ")),
            html: html.to_path_buf(),
        }
        .into());
    };
    let failed = |reason: String| -> crate::Error {
        ReportError::PrintFailed {
            browser: browser.clone(),
            html: html.to_path_buf(),
            reason,
        }
        .into()
    };
    let profile =
        tempfile_dir().map_err(|e| failed(format!("no temporary profile folder ({e})")))?;
    let abs = std::fs::canonicalize(html).map_err(|e| failed(e.to_string()))?;
    let tmp_pdf = pdf.with_extension("pdf.part");
    let mut args = headless_args(&profile);
    args.push("--no-pdf-header-footer".into());
    args.push(format!("--print-to-pdf={}", tmp_pdf.display()));
    args.push(format!("file://{}", abs.display()));
    let status = run_with_timeout(&browser, &args, TIMEOUT_S);
    let _ = std::fs::remove_dir_all(&profile);
    let status = status.map_err(failed)?;
    let size = std::fs::metadata(&tmp_pdf).map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        let _ = std::fs::remove_file(&tmp_pdf);
        return Err(failed(format!(
            "the browser exited with {status} and wrote no PDF"
        )));
    }
    std::fs::rename(&tmp_pdf, pdf).map_err(|source| crate::Error::OutputNotWritable {
        path: pdf.to_path_buf(),
        source,
    })?;
    Ok(pdf.to_path_buf())
}

/// Runs a program, killing it after `timeout_s`; its output is discarded.
pub fn run_with_timeout(
    program: &Path,
    args: &[String],
    timeout_s: u64,
) -> std::result::Result<std::process::ExitStatus, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start it ({e})"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if start.elapsed() > Duration::from_secs(timeout_s) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {timeout_s} s; it was stopped"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let p = base.join(format!("voxdose-chromium-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name"))
}
