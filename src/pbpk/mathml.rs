//! Content MathML → [`Expr`], for the subset SBML models of radiopharmacokinetics use.
//!
//! Supported: `apply` with `plus`, `minus`, `times`, `divide`, `power`, `root` (with an
//! optional `degree`), `exp`, `ln`, a `ci` naming a function definition; `ci`, `cn` (types
//! `real`, `integer`, `e-notation`, `rational`), `csymbol` time, the constants `pi` and
//! `exponentiale`, and `lambda`/`bvar` inside function definitions. Anything else is refused
//! with its element name and line (no silent approximation of, say, a `piecewise`).

use super::expr::{Expr, Op};
use super::PbpkError;
use roxmltree::Node;

/// SBML's URI for the time symbol.
const TIME_URI: &str = "http://www.sbml.org/sbml/symbols/time";

/// Byte offsets of the starts of a text's lines, to turn a node's position into its line
/// in O(log n) (roxmltree's `text_pos_at` rescans the text from the start each time, which
/// is quadratic over a 500 kB model).
#[derive(Debug)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex(starts)
    }

    /// The 1-based line of `node`.
    pub fn line(&self, node: Node) -> u32 {
        self.0.partition_point(|&s| s <= node.range().start) as u32
    }
}

/// Where an expression lives, for error messages: e.g. "kinetic law of reaction 'decay'".
pub struct Ctx<'a> {
    /// The owning element, in words.
    pub owner: &'a str,
    /// Lines of the document.
    pub lines: &'a LineIndex,
}

impl Ctx<'_> {
    /// The 1-based line of `node`.
    pub fn line(&self, node: Node) -> u32 {
        self.lines.line(node)
    }

    fn unsupported(&self, node: Node, what: &str) -> PbpkError {
        PbpkError::Unsupported {
            element: what.to_string(),
            line: self.line(node),
            context: format!(
                "in the {}; voxdose reads MathML plus, minus, times, divide, power, root, exp, \
                 ln, ci, cn, csymbol time and function definitions",
                self.owner
            ),
            file: None,
        }
    }

    fn invalid(&self, node: Node, reason: impl Into<String>) -> PbpkError {
        PbpkError::InvalidModel {
            element: self.owner.to_string(),
            line: self.line(node),
            reason: reason.into(),
            file: None,
        }
    }
}

fn element_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

/// Reads the single expression inside a `<math>` element.
pub fn read_math(math: Node, ctx: &Ctx) -> Result<Expr, PbpkError> {
    let mut kids = element_children(math);
    let first = kids
        .next()
        .ok_or_else(|| ctx.invalid(math, "empty <math> element"))?;
    if let Some(extra) = kids.next() {
        return Err(ctx.invalid(extra, "<math> holds more than one expression"));
    }
    read_node(first, ctx)
}

/// Reads a `<lambda>`: its bound variables and body.
pub fn read_lambda(lambda: Node, ctx: &Ctx) -> Result<(Vec<String>, Expr), PbpkError> {
    if lambda.tag_name().name() != "lambda" {
        return Err(ctx.invalid(
            lambda,
            "a function definition's <math> must hold a <lambda>",
        ));
    }
    let mut args = Vec::new();
    let mut body = None;
    for c in element_children(lambda) {
        if c.tag_name().name() == "bvar" {
            let ci = element_children(c)
                .next()
                .ok_or_else(|| ctx.invalid(c, "empty <bvar>"))?;
            args.push(ci_name(ci, ctx)?);
        } else if body.is_none() {
            body = Some(read_node(c, ctx)?);
        } else {
            return Err(ctx.invalid(c, "<lambda> has more than one body"));
        }
    }
    let body = body.ok_or_else(|| ctx.invalid(lambda, "<lambda> has no body"))?;
    Ok((args, body))
}

fn ci_name(node: Node, ctx: &Ctx) -> Result<String, PbpkError> {
    if node.tag_name().name() != "ci" {
        return Err(ctx.invalid(node, "expected <ci>"));
    }
    let name = node.text().unwrap_or("").trim();
    if name.is_empty() {
        return Err(ctx.invalid(node, "empty <ci>"));
    }
    Ok(name.to_string())
}

fn read_node(node: Node, ctx: &Ctx) -> Result<Expr, PbpkError> {
    match node.tag_name().name() {
        "ci" => Ok(Expr::Sym(ci_name(node, ctx)?)),
        "cn" => read_cn(node, ctx).map(Expr::Num),
        "csymbol" => {
            let url = node.attribute("definitionURL").unwrap_or("");
            if url == TIME_URI {
                Ok(Expr::Time)
            } else {
                Err(ctx.unsupported(node, &format!("csymbol {url}")))
            }
        }
        "pi" => Ok(Expr::Num(std::f64::consts::PI)),
        "exponentiale" => Ok(Expr::Num(std::f64::consts::E)),
        "apply" => read_apply(node, ctx),
        other => Err(ctx.unsupported(node, other)),
    }
}

fn read_cn(node: Node, ctx: &Ctx) -> Result<f64, PbpkError> {
    let kind = node.attribute("type").unwrap_or("real");
    let parts: Vec<String> = node
        .children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or("").trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let num = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| ctx.invalid(node, format!("<cn> '{s}' is not a number")))
    };
    match (kind, parts.as_slice()) {
        ("real" | "integer", [v]) => num(v),
        ("e-notation", [m, e]) => Ok(num(m)? * 10f64.powf(num(e)?)),
        ("rational", [n, d]) => Ok(num(n)? / num(d)?),
        _ => Err(ctx.invalid(
            node,
            format!("<cn type=\"{kind}\"> with {} parts", parts.len()),
        )),
    }
}

fn read_apply(node: Node, ctx: &Ctx) -> Result<Expr, PbpkError> {
    let mut kids = element_children(node);
    let head = kids
        .next()
        .ok_or_else(|| ctx.invalid(node, "empty <apply>"))?;
    let name = head.tag_name().name();
    if name == "ci" {
        let f = ci_name(head, ctx)?;
        let args = kids.map(|k| read_node(k, ctx)).collect::<Result<_, _>>()?;
        return Ok(Expr::Call(f, args));
    }
    let op = match name {
        "plus" => Op::Plus,
        "minus" => Op::Minus,
        "times" => Op::Times,
        "divide" => Op::Divide,
        "power" => Op::Power,
        "root" => Op::Root,
        "exp" => Op::Exp,
        "ln" => Op::Ln,
        other => return Err(ctx.unsupported(head, other)),
    };
    let mut args = Vec::new();
    let mut degree = None;
    for k in kids {
        if k.tag_name().name() == "degree" && op == Op::Root {
            let d = element_children(k)
                .next()
                .ok_or_else(|| ctx.invalid(k, "empty <degree>"))?;
            degree = Some(read_node(d, ctx)?);
        } else {
            args.push(read_node(k, ctx)?);
        }
    }
    if op == Op::Root {
        args.insert(0, degree.unwrap_or(Expr::Num(2.0)));
    }
    check_arity(op, args.len()).map_err(|reason| ctx.invalid(node, reason))?;
    Ok(Expr::Apply(op, args))
}

fn check_arity(op: Op, n: usize) -> Result<(), String> {
    let ok = match op {
        Op::Plus | Op::Times => true,
        Op::Minus => n == 1 || n == 2,
        Op::Divide | Op::Power | Op::Root => n == 2,
        Op::Exp | Op::Ln => n == 1,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("<{}> applied to {n} arguments", op.name()))
    }
}
