//! A read SBML model made runnable: symbols resolved, initial values computed, the
//! right-hand side compiled, and the PyCNO conventions applied (dose targets, Hot species,
//! organs).
//!
//! **States** are the amounts of the species that reactions or rate rules change (boundary,
//! constant and assignment-rule species are not states) and parameters with rate rules.
//! Amounts are in the model's substance unit (nmol in the PyCNO models); a species whose
//! `hasOnlySubstanceUnits` is false enters formulas as amount / compartment size.
//!
//! **Initial values** (SBML semantics): an initial assignment overrides the declared value;
//! assignment rules hold at t = 0 too; both are evaluated in dependency order, and a cycle
//! is an error naming its members. `--param` overrides replace declared values; a parameter
//! set by an initial assignment or a rule cannot be overridden (the assignment would win,
//! silently), so that is refused with the formula's line.
//!
//! **Compilation** ([`Model::compile`]): per parameter set, every constant is folded into a
//! [`Tape`] computing d(amount)/dt of each state (Σ stoichiometry × kinetic law), and a
//! second tape the Hot amount of each organ. Assignment rules are computed once per
//! evaluation and shared; function definitions are inlined.

use super::expr::{Expr, Op, Slot, Tape, TapeBuilder};
use super::sbml::{self, RuleKind, SbmlModel};
use super::PbpkError;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What an SBML id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Species(usize),
    Compartment(usize),
    Parameter(usize),
    Reaction(usize),
}

/// A top-level compartment and the Hot species counted in its output.
#[derive(Clone, Debug, PartialEq)]
pub struct Organ {
    /// The compartment's name (the output column).
    pub name: String,
    /// Indices (into the SBML species list) of the Hot species in it and its direct
    /// children.
    pub hot_species: Vec<usize>,
}

/// An amount added to a species at a time (a bolus).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bolus {
    /// When, min after the start.
    pub time_min: f64,
    /// Target as given, e.g. `Vein.Hot`.
    pub target: String,
    /// Amount, nmol.
    pub amount_nmol: f64,
}

/// A runnable SBML model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The model as read.
    pub sbml: SbmlModel,
    /// The file it came from.
    pub path: Option<PathBuf>,
    symbols: HashMap<String, Sym>,
    initial_assignments: HashMap<String, usize>,
    rules: HashMap<String, usize>,
    /// Organs (top-level compartments) in document order.
    pub organs: Vec<Organ>,
    /// Model substance unit → nmol factor for each species.
    nmol_per_unit: Vec<f64>,
}

/// Values of a model's parameters that replace the declared ones, by SBML id.
pub type Overrides = HashMap<String, f64>;

/// A model compiled for one parameter set.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// d(amount)/dt of each state, in state order.
    pub rhs: Tape,
    /// Hot amount per organ, nmol, in organ order.
    pub organ_hot: Tape,
    /// Initial amounts of the states (before any dose).
    pub y0: Vec<f64>,
    /// For each SBML species, its state index, if it is a state.
    pub species_state: Vec<Option<usize>>,
    /// State → description (for messages).
    pub state_names: Vec<String>,
    /// Model substance units per nmol, per state (1 for nmol models).
    pub units_per_nmol: Vec<f64>,
    /// The parameter set it was compiled for.
    pub overrides: Overrides,
}

impl Model {
    /// Reads and checks an SBML file.
    pub fn load(path: &Path) -> Result<Model, PbpkError> {
        let sbml = sbml::read_file(path)?;
        let mut m = Model::new(sbml).map_err(|e| e.in_file(path))?;
        m.path = Some(path.to_path_buf());
        Ok(m)
    }

    /// Resolves and checks a read model: every id defined once, every symbol defined,
    /// species in existing compartments, rules acyclic, units of kinetic laws consistent,
    /// and the formulas finite at t = 0 with the declared values.
    pub fn new(sbml: SbmlModel) -> Result<Model, PbpkError> {
        let symbols = symbol_table(&sbml)?;
        let initial_assignments = index_by(&sbml.initial_assignments, |a| &a.symbol);
        let rules = index_by(&sbml.rules, |r| &r.variable);
        let organs = organs(&sbml)?;
        let nmol_per_unit = super::units::nmol_per_substance_unit(&sbml)?;
        let m = Model {
            sbml,
            path: None,
            symbols,
            initial_assignments,
            rules,
            organs,
            nmol_per_unit,
        };
        m.check_references()?;
        super::units::check_time_unit(&m.sbml)?;
        super::units::check_kinetic_laws(&m.sbml)?;
        let compiled = m.compile(&Overrides::new())?;
        m.check_finite(&compiled, &compiled.y0, 0.0)?;
        Ok(m)
    }

    fn invalid(&self, element: String, line: u32, reason: String) -> PbpkError {
        PbpkError::InvalidModel {
            element,
            line,
            reason,
            file: self.path.clone(),
        }
    }

    /// Every species reference names a species, every compartment exists, every rule and
    /// assignment targets something, every formula's symbols are defined.
    fn check_references(&self) -> Result<(), PbpkError> {
        let s = &self.sbml;
        for sp in &s.species {
            if !matches!(self.symbols.get(&sp.compartment), Some(Sym::Compartment(_))) {
                return Err(self.invalid(
                    format!("species '{}' (id {})", sp.name, sp.id),
                    sp.line,
                    format!("its compartment '{}' is not defined", sp.compartment),
                ));
            }
        }
        for c in &s.compartments {
            if let Some(o) = &c.outside {
                if !matches!(self.symbols.get(o), Some(Sym::Compartment(_))) {
                    return Err(self.invalid(
                        format!("compartment '{}'", c.name),
                        c.line,
                        format!("outside='{o}' is not a compartment"),
                    ));
                }
            }
        }
        for r in &s.reactions {
            let owner = format!("reaction '{}' (id {})", r.name, r.id);
            for (sp, _) in r.reactants.iter().chain(&r.products) {
                if !matches!(self.symbols.get(sp), Some(Sym::Species(_))) {
                    return Err(self.invalid(
                        owner,
                        r.line,
                        format!("names species '{sp}', which the model does not define (missing species)"),
                    ));
                }
            }
            let locals: HashSet<&str> = r.local_parameters.iter().map(|p| p.id.as_str()).collect();
            self.check_symbols(
                &r.kinetic_law,
                &locals,
                &format!("kinetic law of {owner}"),
                r.line,
            )?;
        }
        for a in &s.initial_assignments {
            self.check_target(&a.symbol, "initial assignment", a.line)?;
            self.check_symbols(
                &a.math,
                &HashSet::new(),
                &format!("initial assignment of '{}'", self.display(&a.symbol)),
                a.line,
            )?;
        }
        for r in &s.rules {
            self.check_target(&r.variable, "rule", r.line)?;
            if let Some(Sym::Compartment(_)) = self.symbols.get(&r.variable) {
                return Err(self.invalid(
                    format!("rule of compartment '{}'", self.display(&r.variable)),
                    r.line,
                    "compartment sizes that change in time are outside the subset voxdose reads"
                        .into(),
                ));
            }
            self.check_symbols(
                &r.math,
                &HashSet::new(),
                &format!("rule of '{}'", self.display(&r.variable)),
                r.line,
            )?;
        }
        for f in &s.functions {
            let bound: HashSet<&str> = f.args.iter().map(String::as_str).collect();
            self.check_symbols(
                &f.body,
                &bound,
                &format!("function definition '{}'", f.id),
                f.line,
            )?;
        }
        Ok(())
    }

    fn check_target(&self, id: &str, what: &str, line: u32) -> Result<(), PbpkError> {
        match self.symbols.get(id) {
            Some(Sym::Reaction(_)) | None => Err(self.invalid(
                format!("{what} of '{id}'"),
                line,
                format!("'{id}' is not a species, compartment or parameter of the model (undefined symbol)"),
            )),
            _ => Ok(()),
        }
    }

    fn check_symbols(
        &self,
        e: &Expr,
        local: &HashSet<&str>,
        owner: &str,
        line: u32,
    ) -> Result<(), PbpkError> {
        let mut names = Vec::new();
        e.symbols(&mut names);
        for n in names {
            if !local.contains(n) && !self.symbols.contains_key(n) {
                return Err(self.invalid(
                    owner.to_string(),
                    line,
                    format!("undefined symbol '{n}': not a species, compartment, parameter or reaction of the model"),
                ));
            }
        }
        self.check_calls(e, owner, line)
    }

    fn check_calls(&self, e: &Expr, owner: &str, line: u32) -> Result<(), PbpkError> {
        match e {
            Expr::Call(f, args) => {
                let def = self
                    .sbml
                    .functions
                    .iter()
                    .find(|d| &d.id == f)
                    .ok_or_else(|| {
                        self.invalid(
                            owner.to_string(),
                            line,
                            format!("calls '{f}', which is not a function definition"),
                        )
                    })?;
                if def.args.len() != args.len() {
                    return Err(self.invalid(
                        owner.to_string(),
                        line,
                        format!(
                            "calls '{f}' with {} arguments; it takes {}",
                            args.len(),
                            def.args.len()
                        ),
                    ));
                }
                args.iter()
                    .try_for_each(|a| self.check_calls(a, owner, line))
            }
            Expr::Apply(_, args) => args
                .iter()
                .try_for_each(|a| self.check_calls(a, owner, line)),
            _ => Ok(()),
        }
    }

    /// A symbol's name when it has one, else its id.
    pub fn display(&self, id: &str) -> String {
        match self.symbols.get(id) {
            Some(Sym::Species(i)) => {
                let sp = &self.sbml.species[*i];
                format!("{}.{}", self.compartment_name(&sp.compartment), sp.name)
            }
            Some(Sym::Compartment(i)) => self.sbml.compartments[*i].name.clone(),
            Some(Sym::Parameter(i)) => self.sbml.parameters[*i].name.clone(),
            Some(Sym::Reaction(i)) => self.sbml.reactions[*i].name.clone(),
            None => id.to_string(),
        }
    }

    fn compartment_name(&self, id: &str) -> String {
        match self.symbols.get(id) {
            Some(Sym::Compartment(i)) => self.sbml.compartments[*i].name.clone(),
            _ => id.to_string(),
        }
    }

    /// The SBML id of the parameter (or compartment) called `name` (its name or its id).
    pub fn parameter_id(&self, name: &str) -> Result<String, PbpkError> {
        let by_name = self
            .sbml
            .parameters
            .iter()
            .filter(|p| p.name == name || p.id == name)
            .map(|p| p.id.clone());
        let by_comp = self
            .sbml
            .compartments
            .iter()
            .filter(|c| c.name == name || c.id == name)
            .map(|c| c.id.clone());
        let found: Vec<String> = by_name.chain(by_comp).collect();
        match found.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(PbpkError::UnknownName {
                what: "parameter",
                name: name.to_string(),
                known: shorten(self.sbml.parameters.iter().map(|p| p.name.clone()).collect()),
            }),
            _ => Err(PbpkError::UnknownName {
                what: "parameter (ambiguous: several parameters or compartments have this name; use the SBML id)",
                name: name.to_string(),
                known: found.join(", "),
            }),
        }
    }

    /// The parameter's value as declared (`None` when only an assignment sets it).
    pub fn declared_value(&self, id: &str) -> Option<f64> {
        match self.symbols.get(id)? {
            Sym::Parameter(i) => self.sbml.parameters[*i].value,
            Sym::Compartment(i) => self.sbml.compartments[*i].size,
            _ => None,
        }
    }

    /// Resolves `NAME=VALUE` overrides (names or ids), refusing parameters that an initial
    /// assignment or rule sets.
    pub fn overrides(&self, pairs: &[(String, f64)]) -> Result<Overrides, PbpkError> {
        let mut out = Overrides::new();
        for (name, v) in pairs {
            let id = self.parameter_id(name)?;
            if let Some(&k) = self.initial_assignments.get(&id) {
                let a = &self.sbml.initial_assignments[k];
                return Err(self.invalid(
                    format!("initial assignment of '{name}'"),
                    a.line,
                    format!(
                        "'{name}' is computed by this initial assignment ({}), which would override a set value; set the parameters it is computed from instead",
                        self.render(&a.math)
                    ),
                ));
            }
            if let Some(&k) = self.rules.get(&id) {
                return Err(self.invalid(
                    format!("rule of '{name}'"),
                    self.sbml.rules[k].line,
                    format!("'{name}' is set by a rule and cannot be overridden"),
                ));
            }
            if !v.is_finite() {
                return Err(self.invalid(
                    format!("parameter '{name}'"),
                    0,
                    format!("value {v} is not finite"),
                ));
            }
            out.insert(id, *v);
        }
        Ok(out)
    }

    /// The SBML species index of a dose target `Compartment.Species` (names or ids).
    pub fn species_index(&self, target: &str) -> Result<usize, PbpkError> {
        let unknown = || PbpkError::UnknownName {
            what: "dose target (Compartment.Species)",
            name: target.to_string(),
            known: shorten(
                self.sbml
                    .species
                    .iter()
                    .map(|s| format!("{}.{}", self.compartment_name(&s.compartment), s.name))
                    .collect(),
            ),
        };
        let (comp, spec) = target.split_once('.').ok_or_else(unknown)?;
        let comp_ids: Vec<&str> = self
            .sbml
            .compartments
            .iter()
            .filter(|c| c.name == comp || c.id == comp)
            .map(|c| c.id.as_str())
            .collect();
        let hits: Vec<usize> = (0..self.sbml.species.len())
            .filter(|&i| {
                let s = &self.sbml.species[i];
                comp_ids.contains(&s.compartment.as_str()) && (s.name == spec || s.id == spec)
            })
            .collect();
        match hits.as_slice() {
            [i] => Ok(*i),
            _ => Err(unknown()),
        }
    }

    /// Renders a formula with names instead of ids.
    pub fn render(&self, e: &Expr) -> String {
        let names: HashMap<&str, Expr> = {
            let mut ids = Vec::new();
            e.symbols(&mut ids);
            ids.into_iter()
                .map(|id| (id, Expr::Sym(self.display(id))))
                .collect()
        };
        let map: HashMap<&str, &Expr> = names.iter().map(|(k, v)| (*k, v)).collect();
        e.substitute(&map).render()
    }

    /// Initial value of every species (as its symbol means: amount or concentration),
    /// compartment and parameter, after overrides, initial assignments and assignment
    /// rules at t = 0.
    pub fn initial_values(&self, ov: &Overrides) -> Result<HashMap<String, f64>, PbpkError> {
        let mut env = HashMap::new();
        let mut busy = Vec::new();
        for id in self.symbols.keys() {
            if !matches!(self.symbols[id], Sym::Reaction(_)) {
                self.init_value(id, ov, &mut env, &mut busy)?;
            }
        }
        Ok(env)
    }

    fn init_value(
        &self,
        id: &str,
        ov: &Overrides,
        env: &mut HashMap<String, f64>,
        busy: &mut Vec<String>,
    ) -> Result<f64, PbpkError> {
        if let Some(v) = env.get(id) {
            return Ok(*v);
        }
        if busy.iter().any(|b| b == id) {
            let cycle: Vec<String> = busy.iter().map(|b| self.display(b)).collect();
            return Err(self.invalid(
                format!("initial value of '{}'", self.display(id)),
                0,
                format!(
                    "initial assignments and rules form a cycle: {} → {}",
                    cycle.join(" → "),
                    self.display(id)
                ),
            ));
        }
        busy.push(id.to_string());
        let formula = self
            .initial_assignments
            .get(id)
            .map(|&k| {
                (
                    &self.sbml.initial_assignments[k].math,
                    self.sbml.initial_assignments[k].line,
                )
            })
            .or_else(|| {
                self.rules
                    .get(id)
                    .map(|&k| &self.sbml.rules[k])
                    .filter(|r| r.kind == RuleKind::Assignment)
                    .map(|r| (&r.math, r.line))
            });
        let v = match formula {
            Some((math, line)) => {
                let mut lookup = |s: &str| self.init_value(s, ov, env, busy).map_err(Issue::Model);
                eval_checked(self, math, &HashMap::new(), &mut lookup, 0.0).map_err(|issue| {
                    issue.into_error(
                        self,
                        format!("initial value of '{}'", self.display(id)),
                        line,
                    )
                })?
            }
            None => self.declared_initial(id, ov, env, busy)?,
        };
        busy.pop();
        env.insert(id.to_string(), v);
        Ok(v)
    }

    fn declared_initial(
        &self,
        id: &str,
        ov: &Overrides,
        env: &mut HashMap<String, f64>,
        busy: &mut Vec<String>,
    ) -> Result<f64, PbpkError> {
        if let Some(v) = ov.get(id) {
            return Ok(*v);
        }
        let missing = |what: String, line: u32| {
            self.invalid(
                what,
                line,
                "has no value and no initial assignment or rule sets it".into(),
            )
        };
        let Some(&sym) = self.symbols.get(id) else {
            return Err(self.invalid(format!("symbol '{id}'"), 0, "undefined symbol".into()));
        };
        match sym {
            Sym::Parameter(i) => {
                let p = &self.sbml.parameters[i];
                p.value.ok_or_else(|| missing(format!("parameter '{}'", p.name), p.line))
            }
            Sym::Compartment(i) => {
                let c = &self.sbml.compartments[i];
                c.size.ok_or_else(|| missing(format!("compartment '{}'", c.name), c.line))
            }
            Sym::Species(i) => {
                let s = &self.sbml.species[i];
                let size = self.init_value(&s.compartment, ov, env, busy)?;
                match (s.initial_amount, s.initial_concentration, s.has_only_substance_units) {
                    (Some(a), _, true) => Ok(a),
                    (Some(a), _, false) => Ok(a / size),
                    (None, Some(c), true) => Ok(c * size),
                    (None, Some(c), false) => Ok(c),
                    (None, None, _) => Err(missing(format!("species '{}'", self.display(id)), s.line)),
                }
            }
            Sym::Reaction(i) => Err(self.invalid(
                format!("reaction '{}'", self.sbml.reactions[i].name),
                self.sbml.reactions[i].line,
                "a reaction's rate is used in an initial assignment or rule evaluated at t = 0; voxdose does not support that".into(),
            )),
        }
    }

    /// Compiles the model for the parameter set `ov`.
    pub fn compile(&self, ov: &Overrides) -> Result<Compiled, PbpkError> {
        let env = self.initial_values(ov)?;
        let rate_rules: HashMap<&str, &sbml::Rule> = self
            .sbml
            .rules
            .iter()
            .filter(|r| r.kind == RuleKind::Rate)
            .map(|r| (r.variable.as_str(), r))
            .collect();
        let (species_state, state_ids) = self.states(&rate_rules);
        let state_of: HashMap<&str, usize> = state_ids
            .iter()
            .enumerate()
            .map(|(k, id)| (id.as_str(), k))
            .collect();
        let mut c = Compiler {
            model: self,
            env: &env,
            state_of: &state_of,
            b: TapeBuilder::new(),
            memo: HashMap::new(),
            busy: Vec::new(),
        };
        let derivs = c.derivatives(&state_ids, &rate_rules)?;
        let rhs = std::mem::take(&mut c.b).finish(derivs);
        c.memo.clear();
        let hot = c.organ_hot()?;
        let organ_hot = std::mem::take(&mut c.b).finish(hot);
        let y0 = state_ids
            .iter()
            .map(|id| self.amount_of(id, &env))
            .collect();
        let units_per_nmol = state_ids
            .iter()
            .map(|id| match self.symbols[id] {
                Sym::Species(i) => 1.0 / self.nmol_per_unit[i],
                _ => 1.0,
            })
            .collect();
        Ok(Compiled {
            rhs,
            organ_hot,
            y0,
            species_state,
            state_names: state_ids.iter().map(|id| self.display(id)).collect(),
            units_per_nmol,
            overrides: ov.clone(),
        })
    }

    /// The state ids, in order: species first (document order), then rate-rule parameters.
    fn states(&self, rate_rules: &HashMap<&str, &sbml::Rule>) -> (Vec<Option<usize>>, Vec<String>) {
        let mut ids = Vec::new();
        let species_state = self
            .sbml
            .species
            .iter()
            .map(|s| {
                let by_rule = self.rules.get(&s.id).map(|&k| self.sbml.rules[k].kind);
                let is_state = !s.constant
                    && match by_rule {
                        Some(RuleKind::Assignment) => false,
                        Some(RuleKind::Rate) => true,
                        None => !s.boundary_condition,
                    };
                is_state.then(|| {
                    ids.push(s.id.clone());
                    ids.len() - 1
                })
            })
            .collect();
        for p in &self.sbml.parameters {
            if rate_rules.contains_key(p.id.as_str()) {
                ids.push(p.id.clone());
            }
        }
        (species_state, ids)
    }

    /// A state's initial amount from the symbol's initial value.
    fn amount_of(&self, id: &str, env: &HashMap<String, f64>) -> f64 {
        match self.symbols[id] {
            Sym::Species(i) if !self.sbml.species[i].has_only_substance_units => {
                env[id] * env[&self.sbml.species[i].compartment]
            }
            _ => env[id],
        }
    }

    /// Model substance units of species `i` per nmol.
    pub fn units_per_nmol(&self, species: usize) -> f64 {
        1.0 / self.nmol_per_unit[species]
    }

    /// Checks that the right-hand side is finite at (`y`, `t`); otherwise names the first
    /// reaction or rule that is not, and the sub-expression that made it so.
    pub fn check_finite(&self, c: &Compiled, y: &[f64], t_min: f64) -> Result<(), PbpkError> {
        let mut slots = c.rhs.scratch();
        c.rhs.eval(y, t_min, &mut slots);
        if (0..c.rhs.n_outputs()).all(|k| slots[c.rhs.output(k)].is_finite()) {
            return Ok(());
        }
        self.diagnose(c, y, t_min)
    }

    fn diagnose(&self, c: &Compiled, y: &[f64], t_min: f64) -> Result<(), PbpkError> {
        let env = self.runtime_env(c, y)?;
        let mut lookup = |s: &str| self.runtime_value(s, &env, t_min);
        for r in &self.sbml.rules {
            eval_checked(self, &r.math, &HashMap::new(), &mut lookup, t_min).map_err(|i| {
                i.into_error(
                    self,
                    format!("rule of '{}'", self.display(&r.variable)),
                    r.line,
                )
            })?;
        }
        for r in &self.sbml.reactions {
            let locals: HashMap<&str, f64> = r
                .local_parameters
                .iter()
                .filter_map(|p| p.value.map(|v| (p.id.as_str(), v)))
                .collect();
            eval_checked(self, &r.kinetic_law, &locals, &mut lookup, t_min).map_err(|i| {
                i.into_error(
                    self,
                    format!("kinetic law of reaction '{}' (id {})", r.name, r.id),
                    r.line,
                )
            })?;
        }
        Err(PbpkError::Solver {
            t_min,
            reason: "the right-hand side is not finite, but no single formula is; please report this model".into(),
        })
    }

    /// Values of all symbols at state `y` (states from `y`, the rest from the initial
    /// values of the compiled parameter set), for diagnostics.
    fn runtime_env(&self, c: &Compiled, y: &[f64]) -> Result<HashMap<String, f64>, PbpkError> {
        let mut env = self.initial_values(&c.overrides)?;
        for (i, s) in self.sbml.species.iter().enumerate() {
            if let Some(k) = c.species_state[i] {
                let v = if s.has_only_substance_units {
                    y[k]
                } else {
                    y[k] / env[&s.compartment]
                };
                env.insert(s.id.clone(), v);
            }
        }
        for r in &self.sbml.rules {
            if r.kind == RuleKind::Assignment {
                env.remove(&r.variable);
            }
        }
        Ok(env)
    }

    fn runtime_value(&self, id: &str, env: &HashMap<String, f64>, t: f64) -> Result<f64, Issue> {
        if let Some(v) = env.get(id) {
            return Ok(*v);
        }
        match self.rules.get(id).map(|&k| &self.sbml.rules[k]) {
            Some(r) if r.kind == RuleKind::Assignment => {
                let mut lookup = |s: &str| self.runtime_value(s, env, t);
                eval_checked(self, &r.math, &HashMap::new(), &mut lookup, t).map_err(|i| {
                    Issue::Nested(Box::new(i), format!("the rule of '{}'", self.display(id)))
                })
            }
            _ => Err(Issue::Undefined(id.to_string())),
        }
    }
}

/// A reason an interpreted formula has no finite value.
#[derive(Debug)]
enum Issue {
    NonFinite { value: f64, what: String },
    Undefined(String),
    Nested(Box<Issue>, String),
    Model(PbpkError),
}

impl From<PbpkError> for Issue {
    fn from(e: PbpkError) -> Self {
        Issue::Model(e)
    }
}

impl Issue {
    fn into_error(self, model: &Model, element: String, line: u32) -> PbpkError {
        match self {
            Issue::Model(e) => e,
            Issue::Undefined(s) => model.invalid(element, line, format!("undefined symbol '{s}'")),
            Issue::NonFinite { value, what } => PbpkError::NonFinite {
                element,
                line,
                value,
                t_min: 0.0,
                reason: what,
                file: model.path.clone(),
            },
            Issue::Nested(inner, via) => match inner.into_error(model, element, line) {
                PbpkError::NonFinite {
                    element,
                    line,
                    value,
                    t_min,
                    reason,
                    file,
                } => PbpkError::NonFinite {
                    element,
                    line,
                    value,
                    t_min,
                    reason: format!("{reason} (through {via})"),
                    file,
                },
                other => other,
            },
        }
    }
}

/// Interprets `e`; the first operation that turns finite operands into a non-finite value
/// is reported with its operands (e.g. a division by a compartment of size 0).
fn eval_checked(
    model: &Model,
    e: &Expr,
    locals: &HashMap<&str, f64>,
    lookup: &mut dyn FnMut(&str) -> Result<f64, Issue>,
    t: f64,
) -> Result<f64, Issue> {
    let v = match e {
        Expr::Num(v) => return Ok(*v),
        Expr::Time => return Ok(t),
        Expr::Sym(s) => {
            return match locals.get(s.as_str()) {
                Some(v) => Ok(*v),
                None => lookup(s),
            }
        }
        Expr::Call(f, args) => {
            let body = model.inline_call(f, args);
            return eval_checked(model, &body, locals, lookup, t);
        }
        Expr::Apply(op, args) => {
            let vals = args
                .iter()
                .map(|a| eval_checked(model, a, locals, lookup, t))
                .collect::<Result<Vec<f64>, Issue>>()?;
            let v = apply(*op, &vals);
            if v.is_finite() || vals.iter().any(|x| !x.is_finite()) {
                return Ok(v);
            }
            let operands: Vec<String> = args
                .iter()
                .zip(&vals)
                .map(|(a, x)| format!("{} = {x}", model.render(a)))
                .collect();
            let hint = match op {
                Op::Divide => "division by zero; give the divisor a non-zero value (a compartment size or parameter that an initial assignment leaves at 0?)",
                Op::Ln => "logarithm of a value ≤ 0",
                _ => "overflow or an undefined power",
            };
            Issue::NonFinite {
                value: v,
                what: format!("{} with {}: {hint}", op.name(), operands.join(", ")),
            }
        }
    };
    Err(v)
}

fn apply(op: Op, v: &[f64]) -> f64 {
    match (op, v.len()) {
        (Op::Plus, _) => v.iter().sum(),
        (Op::Times, _) => v.iter().product(),
        (Op::Minus, 1) => -v[0],
        (Op::Minus, _) => v[0] - v[1],
        (Op::Divide, _) => v[0] / v[1],
        (Op::Power, _) => v[0].powf(v[1]),
        (Op::Root, _) => v[1].powf(1.0 / v[0]),
        (Op::Exp, _) => v[0].exp(),
        (Op::Ln, _) => v[0].ln(),
    }
}

impl Model {
    /// The body of function `f` with its bound variables replaced by `args`.
    fn inline_call(&self, f: &str, args: &[Expr]) -> Expr {
        let def = self
            .sbml
            .functions
            .iter()
            .find(|d| d.id == f)
            .expect("calls were checked against the function definitions in Model::new");
        let map: HashMap<&str, &Expr> = def.args.iter().map(String::as_str).zip(args).collect();
        def.body.substitute(&map)
    }
}

/// Compiles resolved formulas onto one tape.
struct Compiler<'a> {
    model: &'a Model,
    env: &'a HashMap<String, f64>,
    state_of: &'a HashMap<&'a str, usize>,
    b: TapeBuilder,
    memo: HashMap<String, Slot>,
    busy: Vec<String>,
}

impl Compiler<'_> {
    fn derivatives(
        &mut self,
        state_ids: &[String],
        rate_rules: &HashMap<&str, &sbml::Rule>,
    ) -> Result<Vec<Slot>, PbpkError> {
        let m = self.model;
        let mut terms: Vec<Vec<Slot>> = vec![Vec::new(); state_ids.len()];
        for r in &m.sbml.reactions {
            let rate = self.reaction_rate(r)?;
            let moves = r
                .reactants
                .iter()
                .map(|(s, n)| (s, -n))
                .chain(r.products.iter().map(|(s, n)| (s, *n)));
            for (sp, n) in moves {
                if let Some(&k) = self.state_of.get(sp.as_str()) {
                    if rate_rules.contains_key(sp.as_str()) {
                        continue; // a rate rule, not the reactions, sets it
                    }
                    let coef = self.b.constant(n);
                    terms[k].push(self.b.mul(coef, rate));
                }
            }
        }
        for (k, id) in state_ids.iter().enumerate() {
            if let Some(rule) = rate_rules.get(id.as_str()) {
                let mut v = self.formula(
                    &rule.math,
                    &HashMap::new(),
                    rule.line,
                    &format!("rate rule of '{}'", m.display(id)),
                )?;
                if let Some(Sym::Species(i)) = m.symbols.get(id) {
                    let s = &m.sbml.species[*i];
                    if !s.has_only_substance_units {
                        let size = self.b.constant(self.env[&s.compartment]);
                        v = self.b.mul(v, size);
                    }
                }
                terms[k] = vec![v];
            }
        }
        Ok(terms
            .into_iter()
            .map(|ts| {
                let mut acc = self.b.constant(0.0);
                for s in ts {
                    acc = self.b.add(acc, s);
                }
                acc
            })
            .collect())
    }

    fn reaction_rate(&mut self, r: &sbml::Reaction) -> Result<Slot, PbpkError> {
        if let Some(&s) = self.memo.get(&r.id) {
            return Ok(s);
        }
        let locals: HashMap<&str, f64> = r
            .local_parameters
            .iter()
            .map(|p| (p.id.as_str(), p.value.unwrap_or(f64::NAN)))
            .collect();
        let owner = format!("kinetic law of reaction '{}' (id {})", r.name, r.id);
        let s = self.formula(&r.kinetic_law, &locals, r.line, &owner)?;
        self.memo.insert(r.id.clone(), s);
        Ok(s)
    }

    fn formula(
        &mut self,
        e: &Expr,
        locals: &HashMap<&str, f64>,
        line: u32,
        owner: &str,
    ) -> Result<Slot, PbpkError> {
        Ok(match e {
            Expr::Num(v) => self.b.constant(*v),
            Expr::Time => self.b.time(),
            Expr::Sym(s) => match locals.get(s.as_str()) {
                Some(v) => self.b.constant(*v),
                None => self.symbol(s, line, owner)?,
            },
            Expr::Call(f, args) => {
                let body = self.model.inline_call(f, args);
                self.formula(&body, locals, line, owner)?
            }
            Expr::Apply(op, args) => {
                let a = args
                    .iter()
                    .map(|x| self.formula(x, locals, line, owner))
                    .collect::<Result<Vec<Slot>, PbpkError>>()?;
                self.apply(*op, &a)
            }
        })
    }

    fn apply(&mut self, op: Op, a: &[Slot]) -> Slot {
        match (op, a.len()) {
            (Op::Plus, 0) => self.b.constant(0.0),
            (Op::Times, 0) => self.b.constant(1.0),
            (Op::Plus, _) => a[1..].iter().fold(a[0], |acc, &x| self.b.add(acc, x)),
            (Op::Times, _) => a[1..].iter().fold(a[0], |acc, &x| self.b.mul(acc, x)),
            (Op::Minus, 1) => self.b.neg(a[0]),
            (Op::Minus, _) => self.b.sub(a[0], a[1]),
            (Op::Divide, _) => self.b.div(a[0], a[1]),
            (Op::Power, _) => self.b.pow(a[0], a[1]),
            (Op::Root, _) => {
                let one = self.b.constant(1.0);
                let inv = self.b.div(one, a[0]);
                self.b.pow(a[1], inv)
            }
            (Op::Exp, _) => self.b.exp(a[0]),
            (Op::Ln, _) => self.b.ln(a[0]),
        }
    }

    /// The slot of a symbol as formulas mean it (species: amount, or concentration when
    /// `hasOnlySubstanceUnits` is false).
    fn symbol(&mut self, id: &str, line: u32, owner: &str) -> Result<Slot, PbpkError> {
        let m = self.model;
        if let Some(&k) = self.state_of.get(id) {
            let amount = self.b.state(k);
            return Ok(match m.symbols[id] {
                Sym::Species(i) if !m.sbml.species[i].has_only_substance_units => {
                    let size = self.b.constant(self.env[&m.sbml.species[i].compartment]);
                    self.b.div(amount, size)
                }
                _ => amount,
            });
        }
        if let Some(rule) = m.rules.get(id).map(|&k| &m.sbml.rules[k]) {
            if rule.kind == RuleKind::Assignment {
                return self.rule_slot(id, rule);
            }
        }
        match m.symbols.get(id) {
            Some(Sym::Reaction(i)) => self.reaction_rate(&m.sbml.reactions[*i]),
            Some(_) => Ok(self.b.constant(self.env[id])),
            None => Err(m.invalid(owner.to_string(), line, format!("undefined symbol '{id}'"))),
        }
    }

    fn rule_slot(&mut self, id: &str, rule: &sbml::Rule) -> Result<Slot, PbpkError> {
        if let Some(&s) = self.memo.get(id) {
            return Ok(s);
        }
        if self.busy.iter().any(|b| b == id) {
            let m = self.model;
            let cycle: Vec<String> = self.busy.iter().map(|b| m.display(b)).collect();
            return Err(m.invalid(
                format!("assignment rule of '{}'", m.display(id)),
                rule.line,
                format!(
                    "assignment rules form a cycle: {} → {}",
                    cycle.join(" → "),
                    m.display(id)
                ),
            ));
        }
        self.busy.push(id.to_string());
        let owner = format!("assignment rule of '{}'", self.model.display(id));
        let s = self.formula(&rule.math, &HashMap::new(), rule.line, &owner)?;
        self.busy.pop();
        self.memo.insert(id.to_string(), s);
        Ok(s)
    }

    /// Per organ, the Hot amount, nmol.
    fn organ_hot(&mut self) -> Result<Vec<Slot>, PbpkError> {
        let m = self.model;
        let mut out = Vec::new();
        for organ in &m.organs {
            let mut acc = self.b.constant(0.0);
            for &i in &organ.hot_species {
                let s = &m.sbml.species[i];
                let mut v = self.symbol(&s.id, s.line, "organ output")?;
                if !s.has_only_substance_units {
                    let size = self.b.constant(self.env[&s.compartment]);
                    v = self.b.mul(v, size);
                }
                let to_nmol = self.b.constant(m.nmol_per_unit[i]);
                v = self.b.mul(v, to_nmol);
                acc = self.b.add(acc, v);
            }
            out.push(acc);
        }
        Ok(out)
    }
}

fn symbol_table(s: &SbmlModel) -> Result<HashMap<String, Sym>, PbpkError> {
    let mut t = HashMap::new();
    let mut add = |id: &str, sym: Sym, line: u32| {
        if t.insert(id.to_string(), sym).is_some() {
            return Err(PbpkError::InvalidModel {
                element: format!("id '{id}'"),
                line,
                reason: "defined twice; SBML ids must be unique".into(),
                file: None,
            });
        }
        Ok(())
    };
    for (i, c) in s.compartments.iter().enumerate() {
        add(&c.id, Sym::Compartment(i), c.line)?;
    }
    for (i, x) in s.species.iter().enumerate() {
        add(&x.id, Sym::Species(i), x.line)?;
    }
    for (i, p) in s.parameters.iter().enumerate() {
        add(&p.id, Sym::Parameter(i), p.line)?;
    }
    for (i, r) in s.reactions.iter().enumerate() {
        add(&r.id, Sym::Reaction(i), r.line)?;
    }
    Ok(t)
}

fn index_by<T>(items: &[T], key: impl Fn(&T) -> &String) -> HashMap<String, usize> {
    items
        .iter()
        .enumerate()
        .map(|(i, x)| (key(x).clone(), i))
        .collect()
}

/// Top-level compartments with the Hot species (name contains "Hot", PyCNO's convention)
/// in them and in their direct children.
fn organs(s: &SbmlModel) -> Result<Vec<Organ>, PbpkError> {
    let hot_in = |comp: &str| -> Vec<usize> {
        (0..s.species.len())
            .filter(|&i| s.species[i].compartment == comp && s.species[i].name.contains("Hot"))
            .collect()
    };
    Ok(s.compartments
        .iter()
        .filter(|c| c.outside.is_none())
        .map(|top| {
            let mut hot = hot_in(&top.id);
            for child in s
                .compartments
                .iter()
                .filter(|c| c.outside.as_deref() == Some(&top.id))
            {
                hot.extend(hot_in(&child.id));
            }
            Organ {
                name: top.name.clone(),
                hot_species: hot,
            }
        })
        .collect())
}

/// The first names of a long list, for messages.
fn shorten(mut names: Vec<String>) -> String {
    names.sort();
    names.dedup();
    let n = names.len();
    if n > 25 {
        names.truncate(25);
        format!("{}, … ({n} in all)", names.join(", "))
    } else {
        names.join(", ")
    }
}
