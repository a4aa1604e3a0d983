//! The stiff solve of a compiled model: boluses, output on a time grid, and the
//! time-integrated Hot amount per organ as integrated outputs, over the window and to
//! infinity.
//!
//! Solver: `diffsol`'s BDF (variable order 1–5, variable step, local error control on the
//! states and on the integrated outputs) with a sparse LU (faer); the Jacobian is formed
//! from exact Jacobian–vector products (the tape's dual evaluation) with column colouring.
//! The PBRPK models are stiff (binding transients of seconds, washout over weeks), which
//! is why an implicit method is used.
//!
//! **Boluses**: the solver stops at each dose time, the amounts are added to the target
//! states, and the integration restarts from there (a fresh BDF history, as CVODE after a
//! reinitialisation); a grid point at a dose time shows the state after the dose, as
//! PyCNO's output does.
//!
//! **TIA**: ∫ Hot amount dt per organ is part of the integration (diffsol's integrated
//! outputs, with their own error control), not a trapezoid on the output grid. **To
//! infinity**: after the window the integration goes on until the Hot amount left, divided
//! by the physical decay constant, is below `1e-9` of the integral so far; the remainder
//! is added as amount/λ (decay only). If a model keeps Hot material that does not decay
//! (a quirk some models have) the tail does not converge within `max_tail_half_lives`,
//! and the to-infinity value is `None`.
//!
//! Units: time in min (the models'), amounts in nmol.

use super::model::Compiled;
use super::PbpkError;
use diffsol::{
    FaerSparseLU, FaerSparseMat, OdeBuilder, OdeSolverMethod, OdeSolverStopReason, Vector,
};
use std::cell::RefCell;

/// Tolerances and limits of a solve.
#[derive(Clone, Copy, Debug)]
pub struct SolveOptions {
    /// Relative tolerance (states and integrated outputs).
    pub rtol: f64,
    /// Absolute tolerance on amounts, nmol.
    pub atol_nmol: f64,
    /// Physical decay constant of the nuclide, 1/min (for the tail to infinity).
    pub lambda_per_min: f64,
    /// Whether to integrate to infinity after the window.
    pub to_infinity: bool,
    /// Longest tail after the window, in physical half-lives.
    pub max_tail_half_lives: f64,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            rtol: 1e-6,
            atol_nmol: 1e-12,
            lambda_per_min: 0.0,
            to_infinity: true,
            max_tail_half_lives: 100.0,
        }
    }
}

/// A bolus resolved onto a state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StateBolus {
    /// When, min.
    pub time_min: f64,
    /// State index.
    pub state: usize,
    /// Amount in the state's units.
    pub amount: f64,
}

/// What a solve returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Output times, min.
    pub time_min: Vec<f64>,
    /// Hot amount per organ at each output time, nmol: `[time][organ]`.
    pub organ_hot_nmol: Vec<Vec<f64>>,
    /// ∫ Hot amount dt per organ from the first to the last output time, nmol·min.
    pub window_nmol_min: Vec<f64>,
    /// ∫ Hot amount dt per organ from 0 to infinity, nmol·min (`None`: did not converge).
    pub infinity_nmol_min: Option<Vec<f64>>,
    /// Solver steps taken.
    pub steps: usize,
}

/// Integrates `c` from t = 0 with `boluses`, reporting on `grid_min` (increasing, ≥ 0).
pub fn solve(
    c: &Compiled,
    boluses: &[StateBolus],
    grid_min: &[f64],
    opts: &SolveOptions,
) -> Result<Trajectory, PbpkError> {
    let t_end = *grid_min.last().unwrap_or(&0.0);
    let mut run = Run::new(c, grid_min);
    let mut y = c.y0.clone();
    let mut g = vec![0.0; c.organ_hot.n_outputs()];
    let mut t = 0.0;
    let mut pending: Vec<StateBolus> = boluses.to_vec();
    pending.sort_by(|a, b| a.time_min.total_cmp(&b.time_min));
    let mut k = 0;
    loop {
        while k < pending.len() && pending[k].time_min <= t {
            y[pending[k].state] += pending[k].amount;
            k += 1;
        }
        run.record_at(t, &y, &g);
        let stop = pending.get(k).map_or(t_end, |b| b.time_min.min(t_end));
        if stop <= t {
            break;
        }
        (y, g, t) = run.segment(&y, &g, t, stop, opts, None)?;
    }
    let window = run.window(&g);
    let infinity = if opts.to_infinity {
        run.tail(&y, &g, t, opts)?
    } else {
        None
    };
    Ok(Trajectory {
        time_min: grid_min.to_vec(),
        organ_hot_nmol: run.rows,
        window_nmol_min: window,
        infinity_nmol_min: infinity,
        steps: run.steps,
    })
}

/// Decides, after each step of the tail, whether to stop: (t, states, integrals) → done.
type TailCheck<'a> = &'a mut dyn FnMut(f64, &[f64], &[f64]) -> bool;

/// Bookkeeping of one solve: outputs on the grid, integrals at the grid's start.
struct Run<'a> {
    c: &'a Compiled,
    grid: &'a [f64],
    next: usize,
    rows: Vec<Vec<f64>>,
    g_start: Option<Vec<f64>>,
    steps: usize,
}

impl<'a> Run<'a> {
    fn new(c: &'a Compiled, grid: &'a [f64]) -> Self {
        Run {
            c,
            grid,
            next: 0,
            rows: Vec::with_capacity(grid.len()),
            g_start: None,
            steps: 0,
        }
    }

    fn organ_hot(&self, y: &[f64], t: f64) -> Vec<f64> {
        let tape = &self.c.organ_hot;
        let mut s = tape.scratch();
        tape.eval(y, t, &mut s);
        (0..tape.n_outputs()).map(|k| s[tape.output(k)]).collect()
    }

    /// Records the grid points at `t` (after any bolus given then).
    fn record_at(&mut self, t: f64, y: &[f64], g: &[f64]) {
        while self.next < self.grid.len() && self.grid[self.next] <= t {
            let row = self.organ_hot(y, t);
            self.rows.push(row);
            if self.next == 0 {
                self.g_start = Some(g.to_vec());
            }
            self.next += 1;
        }
    }

    fn window(&self, g_end: &[f64]) -> Vec<f64> {
        let g0 = self
            .g_start
            .clone()
            .unwrap_or_else(|| vec![0.0; g_end.len()]);
        g_end.iter().zip(&g0).map(|(a, b)| a - b).collect()
    }

    /// Integrates from `t0` to `t1` (or, with `tail`, until the tail criterion holds),
    /// recording the grid points passed before `t1`. Returns the final states, integrals
    /// and time.
    fn segment(
        &mut self,
        y0: &[f64],
        g0: &[f64],
        t0: f64,
        t1: f64,
        opts: &SolveOptions,
        tail: Option<TailCheck>,
    ) -> Result<(Vec<f64>, Vec<f64>, f64), PbpkError> {
        let c = self.c;
        let n = c.y0.len();
        let n_out = c.organ_hot.n_outputs();
        let rhs_slots = RefCell::new(c.rhs.scratch());
        let rhs_dual = RefCell::new(c.rhs.scratch());
        let out_slots = RefCell::new(c.organ_hot.scratch());
        let out_dual = RefCell::new(c.organ_hot.scratch());
        let atol: Vec<f64> = c
            .units_per_nmol
            .iter()
            .map(|u| opts.atol_nmol * u)
            .collect();
        let y_start = y0.to_vec();
        let solver_error = |t: f64, e: diffsol::DiffsolError| PbpkError::Solver {
            t_min: t,
            reason: format!("{e}; try a looser --rtol, or check the model's rates"),
        };
        let problem = OdeBuilder::<FaerSparseMat<f64>>::new()
            .t0(t0)
            .rtol(opts.rtol)
            .atol(atol)
            .use_coloring(true)
            .rhs_implicit(
                |x: &[f64], _p: &[f64], t: f64, dy: &mut [f64]| {
                    let mut s = rhs_slots.borrow_mut();
                    c.rhs.eval(x, t, &mut s);
                    for (k, d) in dy.iter_mut().enumerate() {
                        *d = s[c.rhs.output(k)];
                    }
                },
                |x: &[f64], _p: &[f64], t: f64, v: &[f64], jv: &mut [f64]| {
                    let (mut s, mut ds) = (rhs_slots.borrow_mut(), rhs_dual.borrow_mut());
                    c.rhs.eval_dual(x, v, t, &mut s, &mut ds);
                    for (k, d) in jv.iter_mut().enumerate() {
                        *d = ds[c.rhs.output(k)];
                    }
                },
            )
            .init(
                move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(&y_start),
                n,
            )
            .out_implicit(
                |x: &[f64], _p: &[f64], t: f64, o: &mut [f64]| {
                    let mut s = out_slots.borrow_mut();
                    c.organ_hot.eval(x, t, &mut s);
                    for (k, d) in o.iter_mut().enumerate() {
                        *d = s[c.organ_hot.output(k)];
                    }
                },
                |x: &[f64], _p: &[f64], t: f64, v: &[f64], jv: &mut [f64]| {
                    let (mut s, mut ds) = (out_slots.borrow_mut(), out_dual.borrow_mut());
                    c.organ_hot.eval_dual(x, v, t, &mut s, &mut ds);
                    for (k, d) in jv.iter_mut().enumerate() {
                        *d = ds[c.organ_hot.output(k)];
                    }
                },
                n_out,
            )
            .integrate_out(true)
            .out_rtol(opts.rtol)
            .out_atol(vec![opts.atol_nmol; n_out])
            .build()
            .map_err(|e| solver_error(t0, e))?;
        let mut solver = problem
            .bdf::<FaerSparseLU<f64>>()
            .map_err(|e| solver_error(t0, e))?;
        let mut tail = tail;
        if tail.is_none() {
            solver.set_stop_time(t1).map_err(|e| solver_error(t0, e))?;
        }
        loop {
            let reason = solver
                .step()
                .map_err(|e| solver_error(solver.state().t, e))?;
            self.steps += 1;
            let t = solver.state().t;
            while self.next < self.grid.len()
                && self.grid[self.next] <= t
                && self.grid[self.next] < t1
            {
                let tg = self.grid[self.next];
                let yg = solver
                    .interpolate(tg)
                    .map_err(|e| solver_error(t, e))?
                    .clone_as_vec();
                let gg = solver
                    .interpolate_out(tg)
                    .map_err(|e| solver_error(t, e))?
                    .clone_as_vec();
                let row = self.organ_hot(&yg, tg);
                self.rows.push(row);
                if self.next == 0 {
                    self.g_start = Some(g0.iter().zip(&gg).map(|(a, b)| a + b).collect());
                }
                self.next += 1;
            }
            let y = solver.state().y.clone_as_vec();
            let g: Vec<f64> = g0
                .iter()
                .zip(solver.state().g.clone_as_vec())
                .map(|(a, b)| a + b)
                .collect();
            if !y.iter().all(|v| v.is_finite()) {
                return Err(PbpkError::Solver {
                    t_min: t,
                    reason: "the states became non-finite".into(),
                });
            }
            let done = match tail.as_mut() {
                Some(f) => f(t, &y, &g),
                None => matches!(reason, OdeSolverStopReason::TstopReached),
            };
            if done {
                return Ok((y, g, t));
            }
        }
    }

    /// Continues past the window until the remaining Hot amount is negligible; adds the
    /// decay-only remainder.
    fn tail(
        &mut self,
        y: &[f64],
        g: &[f64],
        t0: f64,
        opts: &SolveOptions,
    ) -> Result<Option<Vec<f64>>, PbpkError> {
        let lambda = opts.lambda_per_min;
        if lambda <= 0.0 {
            return Ok(None);
        }
        let t_max = t0 + opts.max_tail_half_lives * std::f64::consts::LN_2 / lambda;
        let c = self.c;
        let mut converged = false;
        let mut check = |t: f64, y: &[f64], g: &[f64]| {
            let left: f64 = organ_amounts(c, y, t).iter().map(|a| a.abs()).sum();
            let so_far: f64 = g.iter().sum();
            converged = left / lambda <= 1e-9 * so_far.abs().max(f64::MIN_POSITIVE);
            converged || t >= t_max
        };
        let grid_done = self.grid.len();
        self.next = grid_done;
        let (y_end, g_end, t_end) =
            self.segment(y, g, t0, f64::INFINITY, opts, Some(&mut check))?;
        if !converged {
            return Ok(None);
        }
        let left = organ_amounts(c, &y_end, t_end);
        Ok(Some(
            g_end
                .iter()
                .zip(left)
                .map(|(gi, a)| gi + a / lambda)
                .collect(),
        ))
    }
}

fn organ_amounts(c: &Compiled, y: &[f64], t: f64) -> Vec<f64> {
    let tape = &c.organ_hot;
    let mut s = tape.scratch();
    tape.eval(y, t, &mut s);
    (0..tape.n_outputs()).map(|k| s[tape.output(k)]).collect()
}
