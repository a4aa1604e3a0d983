//! Expressions of an SBML model: the tree MathML is read into, and the flat tape it is
//! compiled to for the solver.
//!
//! [`Expr`] is what [`super::mathml`] reads: numbers, identifiers (`ci`), the time symbol,
//! operator applications and calls of function definitions. [`TapeBuilder`] turns resolved
//! expressions into a [`Tape`]: a straight-line list of instructions, each writing one slot,
//! with constants folded and equal sub-expressions shared (hash-consing), so that one
//! evaluation of the model's right-hand side runs each distinct operation once. The tape is
//! evaluated on plain values ([`Tape::eval`]) and on forward-mode dual numbers
//! ([`Tape::eval_dual`]), which gives the Jacobian–vector products the stiff solver needs
//! exactly, without a symbolic derivative or finite differences.
//!
//! Units: none here; the model decides what a slot means.

use std::collections::HashMap;

/// A MathML operator of the supported subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// n-ary sum (0 arguments: 0).
    Plus,
    /// Difference (2 arguments) or negation (1 argument).
    Minus,
    /// n-ary product (0 arguments: 1).
    Times,
    /// Quotient.
    Divide,
    /// `a^b`.
    Power,
    /// `root(degree, x)`: the degree first (2 when the MathML gives none).
    Root,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Ln,
}

impl Op {
    /// The MathML element name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Plus => "plus",
            Op::Minus => "minus",
            Op::Times => "times",
            Op::Divide => "divide",
            Op::Power => "power",
            Op::Root => "root",
            Op::Exp => "exp",
            Op::Ln => "ln",
        }
    }
}

/// An expression as read from MathML.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number (`cn`).
    Num(f64),
    /// An identifier (`ci`): a species, compartment, parameter, reaction or bound variable.
    Sym(String),
    /// The simulation time (`csymbol` time), in the model's time unit.
    Time,
    /// An operator applied to its arguments.
    Apply(Op, Vec<Expr>),
    /// A call of a function definition.
    Call(String, Vec<Expr>),
}

impl Expr {
    /// Every identifier the expression names (function names excluded), in order of
    /// appearance, duplicates included.
    pub fn symbols<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Sym(s) => out.push(s),
            Expr::Apply(_, args) | Expr::Call(_, args) => {
                for a in args {
                    a.symbols(out);
                }
            }
            Expr::Num(_) | Expr::Time => {}
        }
    }

    /// The expression with every identifier in `map` replaced by its expression (function
    /// inlining: bound variables → arguments).
    pub fn substitute(&self, map: &HashMap<&str, &Expr>) -> Expr {
        match self {
            Expr::Sym(s) => map
                .get(s.as_str())
                .map_or_else(|| self.clone(), |e| (*e).clone()),
            Expr::Apply(op, args) => {
                Expr::Apply(*op, args.iter().map(|a| a.substitute(map)).collect())
            }
            Expr::Call(f, args) => {
                Expr::Call(f.clone(), args.iter().map(|a| a.substitute(map)).collect())
            }
            Expr::Num(_) | Expr::Time => self.clone(),
        }
    }

    /// A short infix rendering for error messages.
    pub fn render(&self) -> String {
        match self {
            Expr::Num(v) => format!("{v}"),
            Expr::Sym(s) => s.clone(),
            Expr::Time => "time".into(),
            Expr::Call(f, args) => format!(
                "{f}({})",
                args.iter().map(Expr::render).collect::<Vec<_>>().join(", ")
            ),
            Expr::Apply(op, args) => {
                let parts: Vec<String> = args.iter().map(Expr::render).collect();
                match (op, parts.len()) {
                    (Op::Minus, 1) => format!("-{}", parts[0]),
                    (Op::Plus, _) => format!("({})", parts.join(" + ")),
                    (Op::Minus, _) => format!("({})", parts.join(" - ")),
                    (Op::Times, _) => format!("({})", parts.join(" * ")),
                    (Op::Divide, _) => format!("({})", parts.join(" / ")),
                    (Op::Power, _) => format!("({})", parts.join(" ^ ")),
                    _ => format!("{}({})", op.name(), parts.join(", ")),
                }
            }
        }
    }
}

/// One instruction of a [`Tape`]; operands are earlier slots.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ins {
    Const(f64),
    State(u32),
    Time,
    Add(u32, u32),
    Sub(u32, u32),
    Mul(u32, u32),
    Div(u32, u32),
    Neg(u32),
    Pow(u32, u32),
    Exp(u32),
    Ln(u32),
}

/// Hashable identity of an instruction (floats by their bits), for sharing equal ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    State(u32),
    Time,
    Bin(u8, u32, u32),
    Un(u8, u32),
}

/// A slot of a tape under construction.
pub type Slot = u32;

/// Builds a [`Tape`], folding constants and sharing equal instructions.
#[derive(Debug, Default)]
pub struct TapeBuilder {
    ins: Vec<Ins>,
    seen: HashMap<Key, Slot>,
}

impl TapeBuilder {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, key: Key, ins: Ins) -> Slot {
        if let Some(&s) = self.seen.get(&key) {
            return s;
        }
        let s = self.ins.len() as Slot;
        self.ins.push(ins);
        self.seen.insert(key, s);
        s
    }

    fn constant_of(&self, s: Slot) -> Option<f64> {
        match self.ins[s as usize] {
            Ins::Const(v) => Some(v),
            _ => None,
        }
    }

    /// The slot holding the constant `v`.
    pub fn constant(&mut self, v: f64) -> Slot {
        self.push(Key::Const(v.to_bits()), Ins::Const(v))
    }

    /// The slot holding state `i`.
    pub fn state(&mut self, i: usize) -> Slot {
        self.push(Key::State(i as u32), Ins::State(i as u32))
    }

    /// The slot holding the time.
    pub fn time(&mut self) -> Slot {
        self.push(Key::Time, Ins::Time)
    }

    /// `a + b`.
    pub fn add(&mut self, a: Slot, b: Slot) -> Slot {
        match (self.constant_of(a), self.constant_of(b)) {
            (Some(x), Some(y)) => self.constant(x + y),
            (Some(0.0), None) => b,
            (None, Some(0.0)) => a,
            _ => {
                let (a, b) = (a.min(b), a.max(b));
                self.push(Key::Bin(0, a, b), Ins::Add(a, b))
            }
        }
    }

    /// `a − b`.
    pub fn sub(&mut self, a: Slot, b: Slot) -> Slot {
        match (self.constant_of(a), self.constant_of(b)) {
            (Some(x), Some(y)) => self.constant(x - y),
            (None, Some(0.0)) => a,
            (Some(0.0), None) => self.neg(b),
            _ => self.push(Key::Bin(1, a, b), Ins::Sub(a, b)),
        }
    }

    /// `a · b`. A constant zero factor is kept as a product (0·∞ must stay NaN, and a
    /// model's zero rate constant must not hide a division by zero elsewhere in the term).
    pub fn mul(&mut self, a: Slot, b: Slot) -> Slot {
        match (self.constant_of(a), self.constant_of(b)) {
            (Some(x), Some(y)) => self.constant(x * y),
            (Some(1.0), None) => b,
            (None, Some(1.0)) => a,
            _ => {
                let (a, b) = (a.min(b), a.max(b));
                self.push(Key::Bin(2, a, b), Ins::Mul(a, b))
            }
        }
    }

    /// `a / b`.
    pub fn div(&mut self, a: Slot, b: Slot) -> Slot {
        match (self.constant_of(a), self.constant_of(b)) {
            (Some(x), Some(y)) => self.constant(x / y),
            (None, Some(1.0)) => a,
            (None, Some(y)) if y != 0.0 && y.is_finite() => {
                // Multiplying by the reciprocal is faster and, for a constant divisor,
                // differs from the quotient by at most one rounding.
                let r = self.constant(1.0 / y);
                self.mul(a, r)
            }
            _ => self.push(Key::Bin(3, a, b), Ins::Div(a, b)),
        }
    }

    /// `−a`.
    pub fn neg(&mut self, a: Slot) -> Slot {
        match self.constant_of(a) {
            Some(x) => self.constant(-x),
            None => self.push(Key::Un(0, a), Ins::Neg(a)),
        }
    }

    /// `a^b`.
    pub fn pow(&mut self, a: Slot, b: Slot) -> Slot {
        match (self.constant_of(a), self.constant_of(b)) {
            (Some(x), Some(y)) => self.constant(x.powf(y)),
            (None, Some(1.0)) => a,
            (None, Some(2.0)) => self.mul(a, a),
            _ => self.push(Key::Bin(4, a, b), Ins::Pow(a, b)),
        }
    }

    /// `e^a`.
    pub fn exp(&mut self, a: Slot) -> Slot {
        match self.constant_of(a) {
            Some(x) => self.constant(x.exp()),
            None => self.push(Key::Un(1, a), Ins::Exp(a)),
        }
    }

    /// `ln a`.
    pub fn ln(&mut self, a: Slot) -> Slot {
        match self.constant_of(a) {
            Some(x) => self.constant(x.ln()),
            None => self.push(Key::Un(2, a), Ins::Ln(a)),
        }
    }

    /// Finishes the tape with `outputs` as its results, in order.
    pub fn finish(self, outputs: Vec<Slot>) -> Tape {
        Tape {
            ins: self.ins,
            outputs,
        }
    }
}

/// A compiled straight-line program: instructions and the slots that are its results.
#[derive(Clone, Debug)]
pub struct Tape {
    ins: Vec<Ins>,
    outputs: Vec<Slot>,
}

impl Tape {
    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.ins.len()
    }

    /// Whether the tape has no instructions.
    pub fn is_empty(&self) -> bool {
        self.ins.is_empty()
    }

    /// Number of results.
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// A scratch buffer of the right size for [`Tape::eval`].
    pub fn scratch(&self) -> Vec<f64> {
        vec![0.0; self.ins.len()]
    }

    /// Evaluates every slot at states `y` and time `t`; results are then
    /// `slots[self.output(k)]`.
    pub fn eval(&self, y: &[f64], t: f64, slots: &mut [f64]) {
        for (k, ins) in self.ins.iter().enumerate() {
            slots[k] = match *ins {
                Ins::Const(v) => v,
                Ins::State(i) => y[i as usize],
                Ins::Time => t,
                Ins::Add(a, b) => slots[a as usize] + slots[b as usize],
                Ins::Sub(a, b) => slots[a as usize] - slots[b as usize],
                Ins::Mul(a, b) => slots[a as usize] * slots[b as usize],
                Ins::Div(a, b) => slots[a as usize] / slots[b as usize],
                Ins::Neg(a) => -slots[a as usize],
                Ins::Pow(a, b) => slots[a as usize].powf(slots[b as usize]),
                Ins::Exp(a) => slots[a as usize].exp(),
                Ins::Ln(a) => slots[a as usize].ln(),
            };
        }
    }

    /// Evaluates values and directional derivatives (forward-mode duals): `dslots` holds
    /// d(slot)/dε at `y + ε·v`, so the results' derivatives are the Jacobian times `v`.
    pub fn eval_dual(&self, y: &[f64], v: &[f64], t: f64, slots: &mut [f64], dslots: &mut [f64]) {
        for (k, ins) in self.ins.iter().enumerate() {
            let (x, dx) = match *ins {
                Ins::Const(c) => (c, 0.0),
                Ins::State(i) => (y[i as usize], v[i as usize]),
                Ins::Time => (t, 0.0),
                Ins::Add(a, b) => (
                    slots[a as usize] + slots[b as usize],
                    dslots[a as usize] + dslots[b as usize],
                ),
                Ins::Sub(a, b) => (
                    slots[a as usize] - slots[b as usize],
                    dslots[a as usize] - dslots[b as usize],
                ),
                Ins::Mul(a, b) => {
                    let (p, q) = (slots[a as usize], slots[b as usize]);
                    (p * q, dslots[a as usize] * q + p * dslots[b as usize])
                }
                Ins::Div(a, b) => {
                    let (p, q) = (slots[a as usize], slots[b as usize]);
                    let r = p / q;
                    (r, (dslots[a as usize] - r * dslots[b as usize]) / q)
                }
                Ins::Neg(a) => (-slots[a as usize], -dslots[a as usize]),
                Ins::Pow(a, b) => pow_dual(
                    slots[a as usize],
                    dslots[a as usize],
                    slots[b as usize],
                    dslots[b as usize],
                ),
                Ins::Exp(a) => {
                    let e = slots[a as usize].exp();
                    (e, e * dslots[a as usize])
                }
                Ins::Ln(a) => (
                    slots[a as usize].ln(),
                    dslots[a as usize] / slots[a as usize],
                ),
            };
            slots[k] = x;
            dslots[k] = dx;
        }
    }

    /// The slot of result `k`.
    #[inline]
    pub fn output(&self, k: usize) -> usize {
        self.outputs[k] as usize
    }
}

/// d(a^b) = b·a^(b−1)·da + a^b·ln(a)·db, with the ln term dropped when db = 0 (so a
/// constant power of a state that passes through 0 has a finite derivative).
fn pow_dual(a: f64, da: f64, b: f64, db: f64) -> (f64, f64) {
    let p = a.powf(b);
    let mut d = if da == 0.0 {
        0.0
    } else {
        b * a.powf(b - 1.0) * da
    };
    if db != 0.0 {
        d += p * a.ln() * db;
    }
    (p, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(y) = y0²·exp(y1)/(y0 + 3) − ln(y1): the tape's value and dual derivative against
    /// the closed form and its hand derivative.
    #[test]
    fn dual_evaluation_matches_hand_derivative() {
        let mut b = TapeBuilder::new();
        let (y0, y1) = (b.state(0), b.state(1));
        let sq = b.mul(y0, y0);
        let e = b.exp(y1);
        let num = b.mul(sq, e);
        let three = b.constant(3.0);
        let den = b.add(y0, three);
        let q = b.div(num, den);
        let l = b.ln(y1);
        let f = b.sub(q, l);
        let tape = b.finish(vec![f]);
        let (x0, x1) = (1.7, 0.4);
        let mut s = tape.scratch();
        let mut ds = tape.scratch();
        tape.eval_dual(&[x0, x1], &[0.3, -1.1], 0.0, &mut s, &mut ds);
        let f_ref = x0 * x0 * x1.exp() / (x0 + 3.0) - x1.ln();
        let df0 = (2.0 * x0 * (x0 + 3.0) - x0 * x0) / (x0 + 3.0).powi(2) * x1.exp();
        let df1 = x0 * x0 * x1.exp() / (x0 + 3.0) - 1.0 / x1;
        assert!((s[tape.output(0)] - f_ref).abs() < 1e-14);
        assert!((ds[tape.output(0)] - (0.3 * df0 - 1.1 * df1)).abs() < 1e-13);
    }

    #[test]
    fn equal_subexpressions_are_shared_and_constants_folded() {
        let mut b = TapeBuilder::new();
        let y = b.state(0);
        let k1 = b.constant(2.0);
        let k2 = b.constant(3.0);
        let k = b.mul(k1, k2);
        let a = b.mul(k, y);
        let a2 = b.mul(y, k);
        assert_eq!(a, a2);
        let tape = b.finish(vec![a]);
        // constants 2, 3, 6, the state, one product
        assert_eq!(tape.len(), 5);
    }
}
