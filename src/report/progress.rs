//! The console observer of the command line: notes and warnings on stderr, and the progress
//! of long runs: a bar on a terminal (decays done, decays per second, the current
//! uncertainty, the time left), and on anything else (a batch job's log, a pipe) a line now
//! and then with the same figures, so a cluster log shows how far a run is and when it ends.

use crate::transport::{Observer, RunEstimate, UncertaintySummary};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

/// Seconds between progress lines when stderr is not a terminal (default); the environment
/// variable `VOXDOSE_PROGRESS_INTERVAL_S` replaces it (0: a line after every batch).
pub const LINE_INTERVAL_S: f64 = 30.0;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// No progress (`--quiet`, or a command that has its own output).
    Off,
    /// A bar redrawn in place (a terminal).
    Bar,
    /// A line every [`LINE_INTERVAL_S`] (a log file or a pipe).
    Lines,
}

impl ProgressMode {
    /// The mode for stderr: off when `quiet`, a bar on a terminal, lines otherwise.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Off
        } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// Progress lines of a run whose stderr is not a terminal.
struct Lines {
    started: Instant,
    last: Option<Instant>,
    interval: Duration,
    expected: u64,
}

impl Lines {
    fn new(expected: u64) -> Self {
        let interval_s = std::env::var("VOXDOSE_PROGRESS_INTERVAL_S")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(LINE_INTERVAL_S);
        Lines {
            started: Instant::now(),
            last: None,
            interval: Duration::from_secs_f64(interval_s),
            expected,
        }
    }

    /// Whether a line is due (the first batch always gives one: the first time estimate).
    fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= self.interval)
    }

    fn line(&mut self, done: u64, sigma: Option<UncertaintySummary>) -> String {
        self.last = Some(Instant::now());
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let left = self.expected.saturating_sub(done) as f64 / rate.max(1e-300);
        let sigma = sigma
            .filter(|s| s.mean.is_finite())
            .map(|s| format!(", σ(>50% max) {:.2}%", 100.0 * s.mean))
            .unwrap_or_default();
        format!(
            "voxdose: progress: {done}/{} decays ({:.1} %), {rate:.3e} decays/s, {} elapsed, about {} left at most{sigma}",
            self.expected,
            100.0 * done as f64 / self.expected.max(1) as f64,
            clock(elapsed),
            clock(left),
        )
    }
}

/// The estimate line (after `voxdose: `): the transport time of the decays planned at the
/// pilot's rate, and for a target run the decays and time its target needs (first, when the
/// pilot gave them: `--max-decays` is then a bound).
pub fn estimate_line(e: &RunEstimate) -> String {
    let pilot = format!(
        "at {:.3e} decays/s (an estimate from a pilot of {} decays in {:.2} s, the start of the first batch, kept in the run)",
        e.decays_per_second, e.pilot_decays, e.pilot_s,
    );
    let planned = clock(e.planned_s);
    match (e.pilot_sigma, e.estimated_decays_to_target) {
        (Some(sigma), Some(n)) => format!(
            "estimate: the target uncertainty needs about {n} decays, about {} of transport (from the pilot's σ(>threshold) {:.2} % over its {} parts, σ ∝ 1/√N{}); at most {planned} for the {} decays of --max-decays, {pilot}",
            clock(e.estimated_s),
            100.0 * sigma,
            e.pilot_parts,
            if e.target_within_max_decays == Some(false) {
                "; more than --max-decays: the run will likely stop there first"
            } else {
                ""
            },
            e.planned_decays,
        ),
        _ if e.target_run => format!(
            "estimate: at most about {planned} of transport for the {} decays of --max-decays (the target may stop the run sooner) {pilot}",
            e.planned_decays
        ),
        _ => format!(
            "estimate: about {planned} of transport for {} decays {pilot}",
            e.planned_decays
        ),
    }
}

/// Seconds as h:mm:ss.
pub fn clock(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "unknown".into();
    }
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Writes a run's notes and warnings to stderr (`voxdose: …`) and its progress as
/// [`ProgressMode`] says.
pub struct ConsoleObserver {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    lines: Option<Lines>,
    /// Ends the run after its estimate (`--estimate-only`).
    pub estimate_only: bool,
}

impl ConsoleObserver {
    /// An observer that draws a bar when `progress` (a terminal, not `--quiet`), else shows
    /// no progress.
    pub fn new(progress: bool) -> Self {
        Self::with_mode(if progress {
            ProgressMode::Bar
        } else {
            ProgressMode::Off
        })
    }

    /// An observer showing progress in `mode`.
    pub fn with_mode(mode: ProgressMode) -> Self {
        ConsoleObserver {
            mode,
            bar: None,
            lines: None,
            estimate_only: false,
        }
    }

    fn print(&self, line: String) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

impl Observer for ConsoleObserver {
    fn note(&mut self, text: &str) {
        self.print(format!("voxdose: {text}"));
    }

    fn warning(&mut self, text: &str) {
        self.print(format!("voxdose: warning: {text}"));
    }

    /// One line whatever the mode (as a note): a `--quiet` cluster job's log still sizes it.
    fn estimate(&mut self, estimate: &RunEstimate) {
        self.print(format!("voxdose: {}", estimate_line(estimate)));
    }

    fn stop_after_estimate(&self) -> bool {
        self.estimate_only
    }

    fn transport_started(&mut self, expected_decays: u64) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Lines => self.lines = Some(Lines::new(expected_decays)),
            ProgressMode::Bar => {
                let b = ProgressBar::new(expected_decays);
                b.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} decays, {per_sec}, ETA {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                self.bar = Some(b);
            }
        }
    }

    /// A shown bar reports σ after each batch; lines when one is due.
    fn wants_sigma(&self) -> bool {
        self.bar.is_some() || self.lines.as_ref().is_some_and(Lines::due)
    }

    fn batch_done(&mut self, decays_done: u64, sigma: Option<UncertaintySummary>) {
        if let Some(b) = &self.bar {
            b.set_position(decays_done);
            if let Some(s) = sigma.filter(|s| s.mean.is_finite()) {
                b.set_message(format!("σ(>50% max) {:.2}%", 100.0 * s.mean));
            }
        }
        if let Some(l) = self.lines.as_mut().filter(|l| l.due()) {
            let line = l.line(decays_done, sigma);
            eprintln!("{line}");
        }
    }

    fn transport_finished(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(l) = self.lines.take() {
            eprintln!(
                "voxdose: transport done in {}",
                clock(l.started.elapsed().as_secs_f64())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_writes_hours_minutes_seconds() {
        assert_eq!(clock(0.4), "0:00:00");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(clock(f64::INFINITY), "unknown");
    }

    #[test]
    fn the_estimate_line_says_it_is_an_estimate_from_how_many_decays_and_the_target_needs() {
        let mut e = RunEstimate {
            pilot_decays: 3840,
            pilot_parts: 4,
            pilot_s: 1.2,
            decays_per_second: 1e4,
            planned_decays: 5_000_000,
            planned_s: 500.0,
            estimated_s: 500.0,
            pilot_sigma: None,
            estimated_decays_to_target: None,
            target_within_max_decays: None,
            target_run: false,
        };
        let line = estimate_line(&e);
        assert!(
            line.contains("about 0:08:20 of transport for 5000000 decays at 1.000e4 decays/s")
                && line.contains("estimate from a pilot of 3840 decays"),
            "{line}"
        );
        assert!(!line.contains("target"), "{line}");
        e.target_run = true;
        let line = estimate_line(&e);
        assert!(line.contains("at most about 0:08:20"), "{line}");
        (e.pilot_sigma, e.estimated_decays_to_target) = (Some(0.2), Some(2_000_000));
        (e.target_within_max_decays, e.estimated_s) = (Some(false), 200.0);
        let line = estimate_line(&e);
        assert!(
            line.contains("needs about 2000000 decays, about 0:03:20 of transport")
                && line.contains("σ(>threshold) 20.00 % over its 4 parts")
                && line.contains("more than --max-decays")
                && line.contains("at most 0:08:20 for the 5000000 decays of --max-decays"),
            "{line}"
        );
    }

    #[test]
    fn lines_estimate_the_time_left_from_the_rate_so_far() {
        let mut l = Lines::new(1000);
        l.started = Instant::now() - Duration::from_secs(10);
        assert!(l.due());
        let text = l.line(250, None);
        // 250 decays in 10 s: 25/s, 750 left → 30 s.
        assert!(text.contains("250/1000 decays (25.0 %)"), "{text}");
        assert!(text.contains("0:00:30 left"), "{text}");
        assert!(!l.due() || l.interval.is_zero());
    }
}
