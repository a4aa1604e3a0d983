//! A progress bar for long runs: decays done, decays per second and the current uncertainty.

use crate::transport::UncertaintySummary;
use indicatif::{ProgressBar, ProgressStyle};

/// Progress display (silent when disabled or when stderr is not a terminal).
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` decays.
    pub fn new(enabled: bool, total: u64) -> Self {
        let bar = enabled.then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} decays, {per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Progress { bar }
    }

    /// Updates the position and the σ message.
    pub fn update(&self, decays: u64, sigma: Option<UncertaintySummary>) {
        if let Some(b) = &self.bar {
            b.set_position(decays);
            if let Some(s) = sigma.filter(|s| s.mean.is_finite()) {
                b.set_message(format!("σ(>50% max) {:.2}%", 100.0 * s.mean));
            }
        }
    }

    /// True when a bar is shown (it reports σ after each batch).
    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
