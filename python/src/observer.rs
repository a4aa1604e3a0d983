//! Running library work with the GIL released, progress going to a Python callable, and Ctrl-C
//! stopping it.
//!
//! [`detached`] runs the work on a scoped thread while the calling thread, with the GIL
//! released, waits for it in slices of 50 ms; between slices it takes the GIL back for
//! `check_signals` (Python runs signal handlers on the main thread only, so this is where a
//! Ctrl-C becomes `KeyboardInterrupt`). A pending `KeyboardInterrupt` raises the shared flag;
//! [`PyObserver::cancelled`] reports it to the batch loop, which ends the transport with
//! `voxdose::Error::Cancelled` after the batch in flight; the `KeyboardInterrupt` is then
//! raised. Other Python threads run meanwhile.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use voxdose::transport::{Observer, UncertaintySummary};

/// How long the waiting thread leaves the GIL between two looks at the signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// An observer that forwards progress to a Python callable `progress(done, total)`, keeps
/// notes and warnings for the Python side, and stops the run when asked.
pub struct PyObserver {
    progress: Option<Py<PyAny>>,
    cancel: Arc<AtomicBool>,
    expected: u64,
    /// Notes, in order.
    pub notes: Vec<String>,
    /// Warnings, in order.
    pub warnings: Vec<String>,
    /// An exception the progress callable raised (it stops the run and is raised instead).
    pub callback_error: Option<PyErr>,
}

impl PyObserver {
    /// An observer calling `progress` (if any) after each batch.
    pub fn new(progress: Option<Py<PyAny>>) -> Self {
        PyObserver {
            progress,
            cancel: Arc::new(AtomicBool::new(false)),
            expected: 0,
            notes: Vec::new(),
            warnings: Vec::new(),
            callback_error: None,
        }
    }

    /// The flag that stops the run.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    fn report(&mut self, done: u64) {
        let Some(cb) = &self.progress else { return };
        let total = self.expected;
        let outcome = Python::attach(|py| cb.call1(py, (done, total)).map(drop));
        if let Err(e) = outcome {
            self.callback_error.get_or_insert(e);
            self.cancel.store(true, Ordering::SeqCst);
        }
    }
}

impl Observer for PyObserver {
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_string());
    }

    fn warning(&mut self, text: &str) {
        self.warnings.push(text.to_string());
    }

    /// The time estimate is a note, as the command line prints it (`estimate: about …`).
    fn estimate(&mut self, estimate: &voxdose::transport::RunEstimate) {
        self.notes
            .push(voxdose::report::progress::estimate_line(estimate));
    }

    fn transport_started(&mut self, expected_decays: u64) {
        self.expected = expected_decays;
        self.report(0);
    }

    fn batch_done(&mut self, decays_done: u64, _sigma: Option<UncertaintySummary>) {
        self.report(decays_done);
    }

    fn cancelled(&mut self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// Runs `work` with the GIL released (see the module doc). A Ctrl-C raises
/// `KeyboardInterrupt` once the work has stopped; an exception of the progress callable is
/// raised as it was; a voxdose error becomes its `VoxdoseError` subclass.
pub fn detached<T: Send>(
    py: Python<'_>,
    observer: &mut PyObserver,
    work: impl FnOnce(&mut PyObserver) -> voxdose::Result<T> + Send,
) -> PyResult<T> {
    let cancel = observer.cancel_flag();
    let mut interrupt: Option<PyErr> = None;
    let outcome = std::thread::scope(|scope| {
        let (tx, rx) = channel();
        let obs = &mut *observer;
        scope.spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(obs)));
            let _ = tx.send(result);
        });
        let mut rx = rx;
        loop {
            let (got, back) = py.detach(move || (rx.recv_timeout(SIGNAL_SLICE), rx));
            rx = back;
            match got {
                Ok(result) => return result,
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(Err(voxdose::Error::Internal(
                        "the run's thread ended without a result".into(),
                    )))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if interrupt.is_none() {
                if let Err(e) = py.check_signals() {
                    cancel.store(true, Ordering::SeqCst);
                    interrupt = Some(e);
                }
            }
        }
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    if let Some(e) = observer.callback_error.take() {
        return Err(e);
    }
    let result = outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(voxdose::Error::Internal(format!("panic: {what}")))
    });
    result.map_err(|e| super::errors::to_py(py, &e))
}
