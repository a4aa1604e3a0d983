//! Units of an SBML model: the nmol factor of each species' substance unit, and a
//! dimensional check of every kinetic law.
//!
//! A unit is a product of powers of base dimensions (metre, gram, second, mole, item) with
//! a factor (e.g. nanomole = 1e-9 mol, minute = 60 s, litre = 1e-3 m³). Kinetic laws are
//! checked bottom up: operands of `plus`/`minus` must agree (dimension and factor), `exp`
//! and `ln` need a dimensionless argument, and every law must come out as substance/time,
//! the same for all reactions. A bare number (`cn`, which has no unit in Level 2) is
//! dimensionless in a product and takes its partner's unit in a sum; a symbol without a
//! declared unit makes the term unknown, and unknown terms are not checked (the check can
//! miss errors there, it never invents one).
//!
//! Substance units: a species' `substanceUnits`, else the model's (`substanceUnits` in
//! Level 3, a unit definition `substance` in Level 2); when none is declared, nmol is
//! assumed, as the PyCNO models and doses are written.

use super::expr::{Expr, Op};
use super::sbml::{SbmlModel, UnitDefinition};
use super::PbpkError;
use std::collections::HashMap;

/// Number of base dimensions: metre, gram, second, mole, item.
const N_DIM: usize = 5;
const MOLE: usize = 3;
const ITEM: usize = 4;

/// A unit: exponents of the base dimensions and a factor to the base units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitValue {
    exp: [f64; N_DIM],
    factor: f64,
}

impl UnitValue {
    const ONE: UnitValue = UnitValue {
        exp: [0.0; N_DIM],
        factor: 1.0,
    };

    fn base(i: usize, factor: f64) -> Self {
        let mut exp = [0.0; N_DIM];
        exp[i] = 1.0;
        UnitValue { exp, factor }
    }

    fn mul(self, o: Self) -> Self {
        let mut exp = self.exp;
        for (e, x) in exp.iter_mut().zip(o.exp) {
            *e += x;
        }
        UnitValue {
            exp,
            factor: self.factor * o.factor,
        }
    }

    fn powf(self, p: f64) -> Self {
        UnitValue {
            exp: self.exp.map(|e| e * p),
            factor: self.factor.powf(p),
        }
    }

    fn same_dimension(&self, o: &Self) -> bool {
        self.exp
            .iter()
            .zip(o.exp)
            .all(|(a, b)| (a - b).abs() < 1e-9)
    }

    fn same(&self, o: &Self) -> bool {
        self.same_dimension(o) && ((self.factor - o.factor) / o.factor).abs() < 1e-6
    }

    fn is_dimensionless(&self) -> bool {
        self.exp.iter().all(|e| e.abs() < 1e-9)
    }

    /// E.g. `1.66667e-11 mol·s^-1`.
    pub fn render(&self) -> String {
        const NAMES: [&str; N_DIM] = ["m", "g", "s", "mol", "item"];
        let parts: Vec<String> = NAMES
            .iter()
            .zip(self.exp)
            .filter(|(_, e)| e.abs() > 1e-9)
            .map(|(n, e)| {
                if e == 1.0 {
                    n.to_string()
                } else {
                    format!("{n}^{e}")
                }
            })
            .collect();
        let dims = if parts.is_empty() {
            "dimensionless".into()
        } else {
            parts.join("·")
        };
        if self.factor == 1.0 {
            dims
        } else {
            format!("{:.6e} {dims}", self.factor)
        }
    }
}

/// The unit of a term: known, unknown (a symbol without units), or a bare number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum U {
    Known(UnitValue),
    Number(f64),
    Unknown,
}

/// Unit ids of a model resolved to values.
struct UnitTable<'a> {
    defs: HashMap<&'a str, &'a UnitDefinition>,
}

impl<'a> UnitTable<'a> {
    fn new(s: &'a SbmlModel) -> Self {
        UnitTable {
            defs: s
                .unit_definitions
                .iter()
                .map(|d| (d.id.as_str(), d))
                .collect(),
        }
    }

    /// The value of a unit id (a definition or an SBML base or built-in unit).
    fn get(&self, id: &str) -> Option<UnitValue> {
        if let Some(d) = self.defs.get(id) {
            let mut v = UnitValue::ONE;
            for u in &d.units {
                let base = base_kind(&u.kind)?;
                let scaled = UnitValue {
                    factor: base.factor * u.multiplier * 10f64.powi(u.scale),
                    ..base
                };
                v = v.mul(scaled.powf(u.exponent));
            }
            return Some(v);
        }
        match id {
            "substance" => base_kind("mole"),
            "volume" => base_kind("litre"),
            "time" => base_kind("second"),
            "area" => base_kind("metre").map(|m| m.powf(2.0)),
            "length" => base_kind("metre"),
            _ => base_kind(id),
        }
    }
}

fn base_kind(kind: &str) -> Option<UnitValue> {
    Some(match kind {
        "metre" | "meter" => UnitValue::base(0, 1.0),
        "litre" | "liter" => UnitValue::base(0, 0.1).powf(3.0),
        "gram" => UnitValue::base(1, 1.0),
        "kilogram" => UnitValue::base(1, 1e3),
        "second" => UnitValue::base(2, 1.0),
        "mole" => UnitValue::base(MOLE, 1.0),
        "item" => UnitValue::base(ITEM, 1.0),
        "dimensionless" => UnitValue::ONE,
        _ => return None,
    })
}

/// The model-wide substance unit id, if declared.
fn model_substance_unit(s: &SbmlModel) -> Option<&str> {
    s.substance_units.as_deref().or_else(|| {
        s.unit_definitions
            .iter()
            .find(|d| d.id == "substance")
            .map(|d| d.id.as_str())
    })
}

/// nmol per model substance unit, for each species (1 for nmol).
pub fn nmol_per_substance_unit(s: &SbmlModel) -> Result<Vec<f64>, PbpkError> {
    let table = UnitTable::new(s);
    s.species
        .iter()
        .map(|sp| {
            let Some(id) = sp.substance_units.as_deref().or(model_substance_unit(s)) else {
                return Ok(1.0);
            };
            let bad = |reason: String| PbpkError::InvalidModel {
                element: format!("species '{}' (id {})", sp.name, sp.id),
                line: sp.line,
                reason,
                file: None,
            };
            let u = table
                .get(id)
                .ok_or_else(|| bad(format!("unit mismatch: substance units '{id}' are not defined")))?;
            let amount = |i: usize| {
                let mut exp = [0.0; N_DIM];
                exp[i] = 1.0;
                u.exp.iter().zip(exp).all(|(a, b)| (a - b).abs() < 1e-9)
            };
            if amount(MOLE) {
                Ok(u.factor * 1e9)
            } else if amount(ITEM) {
                Ok(u.factor / super::AVOGADRO_PER_MOL * 1e9)
            } else {
                Err(bad(format!(
                    "unit mismatch: substance units '{id}' ({}) are not an amount (mole or item); doses are in nmol",
                    u.render()
                )))
            }
        })
        .collect()
}

/// Checks that a declared model time unit is the minute (voxdose's doses, grids and rates
/// are in minutes, as PyCNO's models are written; an undeclared unit is taken as minutes).
pub fn check_time_unit(s: &SbmlModel) -> Result<(), PbpkError> {
    let Some(id) = s.time_units.as_deref() else {
        return Ok(());
    };
    let minute = UnitValue {
        factor: 60.0,
        ..UnitValue::base(2, 1.0)
    };
    match UnitTable::new(s).get(id) {
        Some(u) if u.same(&minute) => Ok(()),
        other => Err(PbpkError::InvalidModel {
            element: "model time units".into(),
            line: 0,
            reason: format!(
                "unit mismatch: the model's time unit '{id}' ({}) is not the minute; voxdose reads models in minutes (PyCNO's convention)",
                other.map_or("undefined".into(), |u| u.render())
            ),
            file: None,
        }),
    }
}

/// Checks every kinetic law: consistent sums, dimensionless `exp`/`ln` arguments, and the
/// same substance/time unit for all reactions.
pub fn check_kinetic_laws(s: &SbmlModel) -> Result<(), PbpkError> {
    let table = UnitTable::new(s);
    let units_of = symbol_units(s, &table);
    let names = display_names(s);
    let render = |e: &Expr| {
        let subs: HashMap<&str, Expr> = names
            .iter()
            .map(|(k, v)| (k.as_str(), Expr::Sym(v.clone())))
            .collect();
        let map: HashMap<&str, &Expr> = subs.iter().map(|(k, v)| (*k, v)).collect();
        e.substitute(&map).render()
    };
    let mut reference: Option<(UnitValue, String)> = None;
    for r in &s.reactions {
        let owner = format!("kinetic law of reaction '{}' (id {})", r.name, r.id);
        let mut local = units_of.clone();
        for p in &r.local_parameters {
            local.insert(p.id.clone(), p.units.as_deref().and_then(|u| table.get(u)));
        }
        let fail = |reason: String| PbpkError::InvalidModel {
            element: owner.clone(),
            line: r.line,
            reason,
            file: None,
        };
        let u = unit_of(&r.kinetic_law, &local, s, &render)
            .map_err(|e| fail(format!("unit mismatch: {e}")))?;
        let U::Known(u) = u else { continue };
        let rate_dims = u.exp[MOLE] == 1.0 || u.exp[ITEM] == 1.0;
        if !rate_dims || u.exp[2] != -1.0 || u.exp[0] != 0.0 || u.exp[1] != 0.0 {
            return Err(fail(format!(
                "unit mismatch: the rate has units {}; a reaction rate must be substance/time (e.g. nmol/min)",
                u.render()
            )));
        }
        match &reference {
            None => reference = Some((u, r.name.clone())),
            Some((ref_u, ref_name)) if !ref_u.same(&u) => {
                return Err(fail(format!(
                    "unit mismatch: the rate has units {} but reaction '{ref_name}' has {}; all rates must share one substance/time unit",
                    u.render(),
                    ref_u.render()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The declared unit of every species (as formulas mean it), compartment and parameter.
fn symbol_units(s: &SbmlModel, t: &UnitTable) -> HashMap<String, Option<UnitValue>> {
    let mut m = HashMap::new();
    let volume = |c: &str| {
        s.compartments
            .iter()
            .find(|x| x.id == c)
            .and_then(|x| t.get(x.units.as_deref().unwrap_or("volume")))
    };
    for c in &s.compartments {
        m.insert(c.id.clone(), volume(&c.id));
    }
    for p in &s.parameters {
        m.insert(p.id.clone(), p.units.as_deref().and_then(|u| t.get(u)));
    }
    for sp in &s.species {
        let amount = sp
            .substance_units
            .as_deref()
            .or(model_substance_unit(s))
            .map_or(Some(UnitValue::base(MOLE, 1e-9)), |u| t.get(u));
        let u = if sp.has_only_substance_units {
            amount
        } else {
            amount
                .zip(volume(&sp.compartment))
                .map(|(a, v)| a.mul(v.powf(-1.0)))
        };
        m.insert(sp.id.clone(), u);
    }
    for r in &s.reactions {
        m.insert(r.id.clone(), None);
    }
    m
}

/// Names for ids in messages: species as `Compartment.Species`, others by name.
fn display_names(s: &SbmlModel) -> HashMap<String, String> {
    let comp: HashMap<&str, &str> = s
        .compartments
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut m: HashMap<String, String> = s
        .compartments
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    m.extend(s.parameters.iter().map(|p| (p.id.clone(), p.name.clone())));
    m.extend(s.species.iter().map(|x| {
        (
            x.id.clone(),
            format!(
                "{}.{}",
                comp.get(x.compartment.as_str()).unwrap_or(&"?"),
                x.name
            ),
        )
    }));
    m
}

fn unit_of(
    e: &Expr,
    units: &HashMap<String, Option<UnitValue>>,
    s: &SbmlModel,
    render: &dyn Fn(&Expr) -> String,
) -> Result<U, String> {
    Ok(match e {
        Expr::Num(v) => U::Number(*v),
        Expr::Time => U::Unknown,
        Expr::Sym(id) => units
            .get(id)
            .copied()
            .flatten()
            .map_or(U::Unknown, U::Known),
        Expr::Call(f, args) => {
            let Some(def) = s.functions.iter().find(|d| &d.id == f) else {
                return Ok(U::Unknown);
            };
            let map: HashMap<&str, &Expr> = def.args.iter().map(String::as_str).zip(args).collect();
            unit_of(&def.body.substitute(&map), units, s, render)?
        }
        Expr::Apply(op, args) => {
            let a = args
                .iter()
                .map(|x| unit_of(x, units, s, render))
                .collect::<Result<Vec<U>, String>>()?;
            combine(*op, &a, args, render)?
        }
    })
}

fn combine(op: Op, a: &[U], args: &[Expr], render: &dyn Fn(&Expr) -> String) -> Result<U, String> {
    let known = |u: U| match u {
        U::Known(v) => Some(v),
        U::Number(_) => Some(UnitValue::ONE),
        U::Unknown => None,
    };
    Ok(match op {
        Op::Plus | Op::Minus if a.len() >= 2 => {
            let mut acc: Option<UnitValue> = None;
            for (k, u) in a.iter().enumerate() {
                match u {
                    U::Unknown => return Ok(U::Unknown),
                    U::Number(_) => {}
                    U::Known(v) => match acc {
                        None => acc = Some(*v),
                        Some(w) if !w.same(v) => {
                            return Err(format!(
                                "{} of {} ({}) and {} ({})",
                                op.name(),
                                render(&args[0]),
                                w.render(),
                                render(&args[k]),
                                v.render()
                            ))
                        }
                        _ => {}
                    },
                }
            }
            acc.map_or(U::Number(0.0), U::Known)
        }
        Op::Plus | Op::Minus => a.first().copied().unwrap_or(U::Number(0.0)),
        Op::Times => {
            let mut acc = UnitValue::ONE;
            for u in a {
                match known(*u) {
                    Some(v) => acc = acc.mul(v),
                    None => return Ok(U::Unknown),
                }
            }
            if a.iter().all(|u| matches!(u, U::Number(_))) {
                U::Number(1.0)
            } else {
                U::Known(acc)
            }
        }
        Op::Divide => match (a[0], a[1]) {
            (U::Number(_), U::Number(_)) => U::Number(1.0),
            (x, y) => match (known(x), known(y)) {
                (Some(p), Some(q)) => U::Known(p.mul(q.powf(-1.0))),
                _ => U::Unknown,
            },
        },
        Op::Power | Op::Root => {
            let (base, expo) = if op == Op::Power {
                (a[0], a[1])
            } else {
                (a[1], a[0])
            };
            match (base, expo) {
                (U::Number(_), _) => U::Number(1.0),
                (U::Known(b), U::Number(p)) => U::Known(if op == Op::Power {
                    b.powf(p)
                } else {
                    b.powf(1.0 / p)
                }),
                (U::Known(b), _) if b.is_dimensionless() => U::Known(b),
                _ => U::Unknown,
            }
        }
        Op::Exp | Op::Ln => match a[0] {
            U::Known(v) if !v.is_dimensionless() => {
                return Err(format!(
                    "{} of {}, which has units {}; its argument must be dimensionless",
                    op.name(),
                    render(&args[0]),
                    v.render()
                ))
            }
            U::Unknown => U::Unknown,
            _ => U::Known(UnitValue::ONE),
        },
    })
}
