//! The SBML reader: an SBML Level 2 or 3 file → [`SbmlModel`], the model's elements as
//! written (no evaluation, no symbol resolution: that is [`super::model`]).
//!
//! The subset read is what radiopharmacokinetic models exported by SimBiology and PyCNO
//! use: unit definitions, compartments, species (amounts or concentrations), parameters,
//! function definitions, initial assignments, assignment and rate rules, reactions with
//! kinetic laws (and local parameters). Notes, annotations and modifier lists are skipped.
//! Events, algebraic rules, constraints, delays, fast reactions, `stoichiometryMath` and
//! any element not listed are refused with the element's name and line, so a model is
//! never run with a part silently dropped.
//!
//! XML is parsed by `roxmltree`; lines come from its byte positions.

use super::expr::Expr;
use super::mathml::{read_lambda, read_math, Ctx, LineIndex};
use super::PbpkError;
use roxmltree::Node;
use std::path::Path;

/// One `<unit>` of a unit definition: (multiplier · 10^scale · kind)^exponent.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// SBML base unit kind (`metre`, `litre`, `mole`, `second`, `gram`, `dimensionless`, …).
    pub kind: String,
    /// Exponent.
    pub exponent: f64,
    /// Decimal scale.
    pub scale: i32,
    /// Multiplier.
    pub multiplier: f64,
}

/// A `<unitDefinition>`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitDefinition {
    /// Its id.
    pub id: String,
    /// Its factors.
    pub units: Vec<Unit>,
}

/// A `<compartment>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Compartment {
    /// SBML id.
    pub id: String,
    /// Name (the id when the file gives none).
    pub name: String,
    /// Size (volume), in the compartment's units; `None` when only an initial assignment
    /// sets it.
    pub size: Option<f64>,
    /// The enclosing compartment's id (`outside`, Level 2); `None` for a top-level one.
    pub outside: Option<String>,
    /// Unit definition id of the size.
    pub units: Option<String>,
    /// Whether the size is constant.
    pub constant: bool,
    /// Line in the file.
    pub line: u32,
}

/// A `<species>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Species {
    /// SBML id.
    pub id: String,
    /// Name (the id when the file gives none).
    pub name: String,
    /// Compartment id.
    pub compartment: String,
    /// Initial amount.
    pub initial_amount: Option<f64>,
    /// Initial concentration.
    pub initial_concentration: Option<f64>,
    /// Whether the species' symbol in formulas means its amount (true) or its concentration.
    pub has_only_substance_units: bool,
    /// Whether reactions leave it unchanged.
    pub boundary_condition: bool,
    /// Whether it never changes.
    pub constant: bool,
    /// Unit definition id of the amount.
    pub substance_units: Option<String>,
    /// Line in the file.
    pub line: u32,
}

/// A `<parameter>` (global or a kinetic law's local one).
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    /// SBML id.
    pub id: String,
    /// Name (the id when the file gives none).
    pub name: String,
    /// Value (`None`: set by an initial assignment or rule).
    pub value: Option<f64>,
    /// Unit definition id.
    pub units: Option<String>,
    /// Whether the value is constant in time.
    pub constant: bool,
    /// Line in the file.
    pub line: u32,
}

/// What a rule sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `variable = f(…)` at every time.
    Assignment,
    /// `d variable / dt = f(…)`.
    Rate,
}

/// An `<assignmentRule>` or `<rateRule>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Assignment or rate.
    pub kind: RuleKind,
    /// The id it sets.
    pub variable: String,
    /// Its formula.
    pub math: Expr,
    /// Line in the file.
    pub line: u32,
}

/// An `<initialAssignment>`.
#[derive(Clone, Debug, PartialEq)]
pub struct InitialAssignment {
    /// The id it sets.
    pub symbol: String,
    /// Its formula.
    pub math: Expr,
    /// Line in the file.
    pub line: u32,
}

/// A `<functionDefinition>`.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDefinition {
    /// Its id.
    pub id: String,
    /// Bound variables, in order.
    pub args: Vec<String>,
    /// The body.
    pub body: Expr,
    /// Line in the file.
    pub line: u32,
}

/// A `<reaction>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaction {
    /// SBML id.
    pub id: String,
    /// Name (the id when the file gives none).
    pub name: String,
    /// (species id, stoichiometry) consumed.
    pub reactants: Vec<(String, f64)>,
    /// (species id, stoichiometry) produced.
    pub products: Vec<(String, f64)>,
    /// The rate, in substance per time.
    pub kinetic_law: Expr,
    /// Local parameters of the kinetic law.
    pub local_parameters: Vec<Parameter>,
    /// Line in the file.
    pub line: u32,
}

/// An SBML model as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SbmlModel {
    /// SBML level (2 or 3).
    pub level: u32,
    /// The model's name or id.
    pub name: String,
    /// Unit definitions.
    pub unit_definitions: Vec<UnitDefinition>,
    /// Function definitions.
    pub functions: Vec<FunctionDefinition>,
    /// Compartments, in document order.
    pub compartments: Vec<Compartment>,
    /// Species, in document order.
    pub species: Vec<Species>,
    /// Global parameters.
    pub parameters: Vec<Parameter>,
    /// Initial assignments.
    pub initial_assignments: Vec<InitialAssignment>,
    /// Assignment and rate rules.
    pub rules: Vec<Rule>,
    /// Reactions.
    pub reactions: Vec<Reaction>,
    /// The model's substance unit when declared (`substanceUnits` of a Level 3 model).
    pub substance_units: Option<String>,
    /// The model's time unit when declared (`timeUnits` in Level 3, a unit definition
    /// with id `time` in Level 2).
    pub time_units: Option<String>,
}

/// Reads an SBML file.
pub fn read_file(path: &Path) -> Result<SbmlModel, PbpkError> {
    let text = std::fs::read_to_string(path).map_err(|source| PbpkError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    read_str(&text).map_err(|e| e.in_file(path))
}

/// Reads SBML from a string.
pub fn read_str(text: &str) -> Result<SbmlModel, PbpkError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| PbpkError::Xml {
        path: None,
        reason: e.to_string(),
    })?;
    let root = doc.root_element();
    let lines = LineIndex::new(text);
    let reader = Reader { lines: &lines };
    if root.tag_name().name() != "sbml" {
        return Err(reader.invalid(root, "document", "the root element is not <sbml>"));
    }
    let level: u32 = root
        .attribute("level")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    if !(2..=3).contains(&level) {
        return Err(reader.invalid(
            root,
            "<sbml>",
            format!("SBML level {level}: voxdose reads Levels 2 and 3"),
        ));
    }
    let model = children(root)
        .find(|c| c.tag_name().name() == "model")
        .ok_or_else(|| reader.invalid(root, "<sbml>", "no <model> element"))?;
    let mut m = SbmlModel {
        level,
        name: model
            .attribute("name")
            .or(model.attribute("id"))
            .unwrap_or("")
            .to_string(),
        time_units: model.attribute("timeUnits").map(str::to_string),
        substance_units: model.attribute("substanceUnits").map(str::to_string),
        ..SbmlModel::default()
    };
    reader.read_model(model, &mut m)?;
    Ok(m)
}

fn children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

struct Reader<'a> {
    lines: &'a LineIndex,
}

impl Reader<'_> {
    fn line(&self, node: Node) -> u32 {
        self.lines.line(node)
    }

    fn invalid(&self, node: Node, element: &str, reason: impl Into<String>) -> PbpkError {
        PbpkError::InvalidModel {
            element: element.to_string(),
            line: self.line(node),
            reason: reason.into(),
            file: None,
        }
    }

    fn unsupported(&self, node: Node, context: &str) -> PbpkError {
        PbpkError::Unsupported {
            element: node.tag_name().name().to_string(),
            line: self.line(node),
            context: context.to_string(),
            file: None,
        }
    }

    fn read_model(&self, model: Node, m: &mut SbmlModel) -> Result<(), PbpkError> {
        for list in children(model) {
            match list.tag_name().name() {
                "notes" | "annotation" => {}
                "listOfUnitDefinitions" => self.each(list, "unitDefinition", |n| {
                    let u = self.unit_definition(n)?;
                    if u.id == "time" {
                        m.time_units.get_or_insert_with(|| "time".to_string());
                    }
                    m.unit_definitions.push(u);
                    Ok(())
                })?,
                "listOfFunctionDefinitions" => self.each(list, "functionDefinition", |n| {
                    m.functions.push(self.function(n)?);
                    Ok(())
                })?,
                "listOfCompartments" => self.each(list, "compartment", |n| {
                    m.compartments.push(self.compartment(n)?);
                    Ok(())
                })?,
                "listOfSpecies" => self.each(list, "species", |n| {
                    m.species.push(self.species(n)?);
                    Ok(())
                })?,
                "listOfParameters" => self.each(list, "parameter", |n| {
                    m.parameters.push(self.parameter(n)?);
                    Ok(())
                })?,
                "listOfInitialAssignments" => self.each(list, "initialAssignment", |n| {
                    m.initial_assignments.push(self.initial_assignment(n)?);
                    Ok(())
                })?,
                "listOfRules" => {
                    for n in children(list) {
                        if matches!(n.tag_name().name(), "notes" | "annotation") {
                            continue;
                        }
                        m.rules.push(self.rule(n)?);
                    }
                }
                "listOfReactions" => self.each(list, "reaction", |n| {
                    m.reactions.push(self.reaction(n)?);
                    Ok(())
                })?,
                _ => {
                    return Err(self.unsupported(
                        list,
                        "in <model>; voxdose reads unit definitions, function definitions, \
                         compartments, species, parameters, initial assignments, assignment \
                         and rate rules and reactions",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Calls `f` on every `<item>` child of `list`; other elements are refused.
    fn each<'a, 'i>(
        &self,
        list: Node<'a, 'i>,
        item: &str,
        mut f: impl FnMut(Node<'a, 'i>) -> Result<(), PbpkError>,
    ) -> Result<(), PbpkError> {
        for n in children(list) {
            match n.tag_name().name() {
                "notes" | "annotation" => {}
                name if name == item => f(n)?,
                _ => return Err(self.unsupported(n, &format!("in <{}>", list.tag_name().name()))),
            }
        }
        Ok(())
    }

    fn required<'n>(&self, node: Node<'n, '_>, attr: &str) -> Result<&'n str, PbpkError> {
        node.attribute(attr).ok_or_else(|| {
            self.invalid(
                node,
                &format!("<{}>", node.tag_name().name()),
                format!("attribute '{attr}' is missing"),
            )
        })
    }

    fn number(&self, node: Node, attr: &str) -> Result<Option<f64>, PbpkError> {
        match node.attribute(attr) {
            None => Ok(None),
            Some(s) => s.trim().parse::<f64>().map(Some).map_err(|_| {
                self.invalid(
                    node,
                    &describe(node),
                    format!("attribute {attr}=\"{s}\" is not a number"),
                )
            }),
        }
    }

    fn flag(&self, node: Node, attr: &str, default: bool) -> Result<bool, PbpkError> {
        match node.attribute(attr) {
            None => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(s) => Err(self.invalid(
                node,
                &describe(node),
                format!("attribute {attr}=\"{s}\" is not true or false"),
            )),
        }
    }

    fn math_of(&self, node: Node, owner: &str) -> Result<Expr, PbpkError> {
        let math = children(node)
            .find(|c| c.tag_name().name() == "math")
            .ok_or_else(|| self.invalid(node, owner, "no <math> element"))?;
        read_math(
            math,
            &Ctx {
                owner,
                lines: self.lines,
            },
        )
    }

    fn unit_definition(&self, n: Node) -> Result<UnitDefinition, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        let mut units = Vec::new();
        for list in children(n) {
            match list.tag_name().name() {
                "listOfUnits" => self.each(list, "unit", |u| {
                    units.push(Unit {
                        kind: self.required(u, "kind")?.to_string(),
                        exponent: self.number(u, "exponent")?.unwrap_or(1.0),
                        scale: self.number(u, "scale")?.unwrap_or(0.0) as i32,
                        multiplier: self.number(u, "multiplier")?.unwrap_or(1.0),
                    });
                    Ok(())
                })?,
                "notes" | "annotation" => {}
                _ => return Err(self.unsupported(list, "in <unitDefinition>")),
            }
        }
        Ok(UnitDefinition { id, units })
    }

    fn function(&self, n: Node) -> Result<FunctionDefinition, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        let owner = format!("function definition '{id}'");
        let math = children(n)
            .find(|c| c.tag_name().name() == "math")
            .ok_or_else(|| self.invalid(n, &owner, "no <math> element"))?;
        let ctx = Ctx {
            owner: &owner,
            lines: self.lines,
        };
        let lambda = children(math)
            .find(|c| c.tag_name().name() != "semantics")
            .ok_or_else(|| self.invalid(math, &owner, "empty <math>"))?;
        let (args, body) = read_lambda(lambda, &ctx)?;
        Ok(FunctionDefinition {
            id,
            args,
            body,
            line: self.line(n),
        })
    }

    fn compartment(&self, n: Node) -> Result<Compartment, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        if let Some(d) = n.attribute("spatialDimensions") {
            if d.trim() != "3" && d.trim() != "3.0" {
                return Err(self.invalid(
                    n,
                    &format!("compartment '{id}'"),
                    format!(
                        "spatialDimensions=\"{d}\": voxdose reads 3-D compartments (volumes) only"
                    ),
                ));
            }
        }
        Ok(Compartment {
            name: n.attribute("name").unwrap_or(&id).to_string(),
            size: self.number(n, "size")?.or(self.number(n, "volume")?),
            outside: n.attribute("outside").map(str::to_string),
            units: n.attribute("units").map(str::to_string),
            constant: self.flag(n, "constant", true)?,
            line: self.line(n),
            id,
        })
    }

    fn species(&self, n: Node) -> Result<Species, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        if n.attribute("conversionFactor").is_some() {
            return Err(self.unsupported_attr(n, "conversionFactor"));
        }
        Ok(Species {
            name: n.attribute("name").unwrap_or(&id).to_string(),
            compartment: self.required(n, "compartment")?.to_string(),
            initial_amount: self.number(n, "initialAmount")?,
            initial_concentration: self.number(n, "initialConcentration")?,
            has_only_substance_units: self.flag(n, "hasOnlySubstanceUnits", false)?,
            boundary_condition: self.flag(n, "boundaryCondition", false)?,
            constant: self.flag(n, "constant", false)?,
            substance_units: n.attribute("substanceUnits").map(str::to_string),
            line: self.line(n),
            id,
        })
    }

    fn unsupported_attr(&self, n: Node, attr: &str) -> PbpkError {
        PbpkError::Unsupported {
            element: format!("{} attribute '{attr}'", describe(n)),
            line: self.line(n),
            context: "outside the SBML subset voxdose reads".to_string(),
            file: None,
        }
    }

    fn parameter(&self, n: Node) -> Result<Parameter, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        Ok(Parameter {
            name: n.attribute("name").unwrap_or(&id).to_string(),
            value: self.number(n, "value")?,
            units: n.attribute("units").map(str::to_string),
            constant: self.flag(n, "constant", true)?,
            line: self.line(n),
            id,
        })
    }

    fn initial_assignment(&self, n: Node) -> Result<InitialAssignment, PbpkError> {
        let symbol = self.required(n, "symbol")?.to_string();
        let owner = format!("initial assignment of '{symbol}'");
        Ok(InitialAssignment {
            math: self.math_of(n, &owner)?,
            line: self.line(n),
            symbol,
        })
    }

    fn rule(&self, n: Node) -> Result<Rule, PbpkError> {
        let kind = match n.tag_name().name() {
            "assignmentRule" => RuleKind::Assignment,
            "rateRule" => RuleKind::Rate,
            _ => {
                return Err(self.unsupported(
                    n,
                    "in <listOfRules>; voxdose reads assignment and rate rules",
                ))
            }
        };
        let variable = self.required(n, "variable")?.to_string();
        let owner = format!("{} of '{variable}'", n.tag_name().name());
        Ok(Rule {
            kind,
            math: self.math_of(n, &owner)?,
            line: self.line(n),
            variable,
        })
    }

    fn reaction(&self, n: Node) -> Result<Reaction, PbpkError> {
        let id = self.required(n, "id")?.to_string();
        let name = n.attribute("name").unwrap_or(&id).to_string();
        let owner = format!("reaction '{name}' (id {id})");
        if self.flag(n, "fast", false)? {
            return Err(self.unsupported_attr(n, "fast=\"true\""));
        }
        let mut reactants = Vec::new();
        let mut products = Vec::new();
        let mut law = None;
        let mut local_parameters = Vec::new();
        for c in children(n) {
            match c.tag_name().name() {
                "notes" | "annotation" | "listOfModifiers" => {}
                "listOfReactants" => reactants = self.references(c)?,
                "listOfProducts" => products = self.references(c)?,
                "kineticLaw" => {
                    for k in children(c) {
                        match k.tag_name().name() {
                            "math" => {
                                law = Some(read_math(
                                    k,
                                    &Ctx {
                                        owner: &format!("kinetic law of {owner}"),
                                        lines: self.lines,
                                    },
                                )?)
                            }
                            "listOfParameters" => self.each(k, "parameter", |p| {
                                local_parameters.push(self.parameter(p)?);
                                Ok(())
                            })?,
                            "listOfLocalParameters" => self.each(k, "localParameter", |p| {
                                local_parameters.push(self.parameter(p)?);
                                Ok(())
                            })?,
                            "notes" | "annotation" => {}
                            _ => return Err(self.unsupported(k, &format!("in the {owner}"))),
                        }
                    }
                }
                _ => return Err(self.unsupported(c, &format!("in the {owner}"))),
            }
        }
        let kinetic_law =
            law.ok_or_else(|| self.invalid(n, &owner, "no <kineticLaw> with <math>"))?;
        Ok(Reaction {
            id,
            name,
            reactants,
            products,
            kinetic_law,
            local_parameters,
            line: self.line(n),
        })
    }

    fn references(&self, list: Node) -> Result<Vec<(String, f64)>, PbpkError> {
        let mut out = Vec::new();
        self.each(list, "speciesReference", |r| {
            if let Some(c) = children(r).find(|c| c.tag_name().name() == "stoichiometryMath") {
                return Err(self.unsupported(c, "in <speciesReference>"));
            }
            let species = self.required(r, "species")?.to_string();
            let stoich = self.number(r, "stoichiometry")?.unwrap_or(1.0);
            out.push((species, stoich));
            Ok(())
        })?;
        Ok(out)
    }
}

/// `<tag id="…">` for messages.
fn describe(n: Node) -> String {
    match n.attribute("id") {
        Some(id) => format!("<{} id=\"{id}\">", n.tag_name().name()),
        None => format!("<{}>", n.tag_name().name()),
    }
}
