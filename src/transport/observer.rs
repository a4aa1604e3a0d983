//! What a run tells the world while it works: notes (memory estimates, reruns), warnings,
//! progress after each batch, and the end of each stage of a run.
//!
//! The transport and the run layer call an [`Observer`] they are given; they never print. The
//! command line passes one that writes to stderr and draws a progress bar
//! (`report::progress::ConsoleObserver`), a library caller may pass [`Silent`] or its own
//! (a notebook's progress widget, a log).

use super::UncertaintySummary;

/// Receives a run's messages and progress. Every method has a default that ignores it.
pub trait Observer: Send {
    /// A line of information for the user (what was read, where the run goes, a memory
    /// estimate).
    fn note(&mut self, _text: &str) {}

    /// Something the user should look at; the run goes on.
    fn warning(&mut self, _text: &str) {}

    /// The transport starts; it will run at most `expected_decays` decays.
    fn transport_started(&mut self, _expected_decays: u64) {}

    /// The run's time estimate from its pilot (`transport::pilot`), before the rest of the
    /// first batch runs.
    fn estimate(&mut self, _estimate: &super::pilot::RunEstimate) {}

    /// True when the run should end after its estimate, writing nothing
    /// ([`crate::Error::StoppedAfterEstimate`]; `voxdose run --estimate-only`).
    fn stop_after_estimate(&self) -> bool {
        false
    }

    /// True when [`Observer::batch_done`] should be given σ (it costs a pass over the grid
    /// after each batch, so it is computed only when a stop rule or an observer wants it).
    fn wants_sigma(&self) -> bool {
        false
    }

    /// A batch was folded: `decays_done` so far, and σ of the high-dose voxels when it was
    /// computed.
    fn batch_done(&mut self, _decays_done: u64, _sigma: Option<UncertaintySummary>) {}

    /// The transport ended.
    fn transport_finished(&mut self) {}

    /// The stage `name` of a run ended after `seconds` (`read_ct`, `transport`, …).
    fn stage_done(&mut self, _name: &'static str, _seconds: f64) {}

    /// True when the caller wants the run stopped (Ctrl-C in the Python package). Asked after
    /// each batch; the run then ends with [`crate::Error::Cancelled`] and writes nothing.
    fn cancelled(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything (tests, benchmarks, library calls that want quiet).
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// An observer that keeps the notes and warnings it is given (tests and callers that show
/// them later).
#[derive(Clone, Debug, Default)]
pub struct Collect {
    /// Notes, in order.
    pub notes: Vec<String>,
    /// Warnings, in order.
    pub warnings: Vec<String>,
}

impl Observer for Collect {
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_string());
    }

    fn warning(&mut self, text: &str) {
        self.warnings.push(text.to_string());
    }
}
