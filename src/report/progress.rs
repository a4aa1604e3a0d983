//! The console observer of the command line: notes and warnings on stderr, and a progress
//! bar for long runs (decays done, decays per second and the current uncertainty).

use crate::transport::{Observer, UncertaintySummary};
use indicatif::{ProgressBar, ProgressStyle};

/// Writes a run's notes and warnings to stderr (`voxdose: …`) and, when enabled, draws a
/// progress bar during the transport.
pub struct ConsoleObserver {
    progress: bool,
    bar: Option<ProgressBar>,
}

impl ConsoleObserver {
    /// An observer that draws a bar when `progress` (a terminal, not `--quiet`).
    pub fn new(progress: bool) -> Self {
        ConsoleObserver {
            progress,
            bar: None,
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

    fn transport_started(&mut self, expected_decays: u64) {
        self.bar = self.progress.then(|| {
            let b = ProgressBar::new(expected_decays);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} decays, {per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
    }

    /// A shown bar reports σ after each batch.
    fn wants_sigma(&self) -> bool {
        self.bar.is_some()
    }

    fn batch_done(&mut self, decays_done: u64, sigma: Option<UncertaintySummary>) {
        if let Some(b) = &self.bar {
            b.set_position(decays_done);
            if let Some(s) = sigma.filter(|s| s.mean.is_finite()) {
                b.set_message(format!("σ(>50% max) {:.2}%", 100.0 * s.mean));
            }
        }
    }

    fn transport_finished(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
