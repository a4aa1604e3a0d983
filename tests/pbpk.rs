//! PBRPK models: small SBML models written here, solved by `voxdose::pbpk`, against their
//! analytic solutions (TACs and TIAs within 1e-6 relative); bad models must give errors
//! that name the element and its line; PyCNO's published models (when present) run.

use voxdose::pbpk::model::Model;
use voxdose::pbpk::simulate::{self, Scenario};
use voxdose::pbpk::solve::SolveOptions;
use voxdose::pbpk::{sbml, Bolus, PbpkError};

/// Lu-177 half-life used in these tests, s (any value works: the analytic solutions use
/// the same one).
const HALF_LIFE_S: f64 = 6.647 * 86400.0;

fn molar() -> f64 {
    voxdose::pbpk::molar_activity_mbq_per_nmol(HALF_LIFE_S)
}

const UNITS: &str = r#"
    <listOfUnitDefinitions>
      <unitDefinition id="nmol"><listOfUnits><unit kind="mole" scale="-9"/></listOfUnits></unitDefinition>
      <unitDefinition id="per_min"><listOfUnits><unit kind="second" exponent="-1" multiplier="0.0166666666666667"/></listOfUnits></unitDefinition>
      <unitDefinition id="L_per_nmol_min"><listOfUnits><unit kind="litre"/><unit kind="mole" exponent="-1" scale="-9"/><unit kind="second" exponent="-1" multiplier="0.0166666666666667"/></listOfUnits></unitDefinition>
      <unitDefinition id="nmol_per_L"><listOfUnits><unit kind="mole" scale="-9"/><unit kind="litre" exponent="-1"/></listOfUnits></unitDefinition>
      <unitDefinition id="min"><listOfUnits><unit kind="second" multiplier="60"/></listOfUnits></unitDefinition>
    </listOfUnitDefinitions>"#;

/// An SBML Level 2 document around `body` (the model's lists).
fn sbml_doc(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4">
  <model id="test">{UNITS}
{body}
  </model>
</sbml>"#
    )
}

fn ci(x: &str) -> String {
    format!("<ci>{x}</ci>")
}

fn apply(op: &str, args: &[String]) -> String {
    format!("<apply><{op}/>{}</apply>", args.concat())
}

fn math(e: &str) -> String {
    format!(r#"<math xmlns="http://www.w3.org/1998/Math/MathML">{e}</math>"#)
}

fn reaction(id: &str, reactant: &str, product: Option<&str>, law: &str) -> String {
    let products = product.map_or(String::new(), |p| {
        format!(r#"<listOfProducts><speciesReference species="{p}" stoichiometry="1"/></listOfProducts>"#)
    });
    format!(
        r#"<reaction id="{id}" reversible="false"><listOfReactants><speciesReference species="{reactant}" stoichiometry="1"/></listOfReactants>{products}<kineticLaw>{}</kineticLaw></reaction>"#,
        math(law)
    )
}

fn model(text: &str) -> Model {
    Model::new(sbml::read_str(text).expect("test model parses")).expect("test model is valid")
}

fn scenario(doses: &[(&str, f64, f64)], grid: Vec<f64>) -> Scenario {
    Scenario {
        boluses: doses
            .iter()
            .map(|(t, nmol, at)| Bolus {
                target: t.to_string(),
                amount_nmol: *nmol,
                time_min: *at,
            })
            .collect(),
        grid_min: grid,
        params: Vec::new(),
        half_life_s: HALF_LIFE_S,
        solve: SolveOptions {
            rtol: 1e-10,
            atol_nmol: 1e-14,
            ..SolveOptions::default()
        },
    }
}

fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let rel = ((got - want) / want).abs();
    assert!(
        rel <= tol,
        "{what}: got {got:e}, want {want:e}, relative error {rel:e} > {tol:e}"
    );
}

/// One compartment: Hot is cleared (k_el = ln 2 / T½,bio, set by an initial assignment
/// using `ln` and `divide`) and decays to Cold (λ given through `root` and `power`).
/// Hot(t) = D·e^(−(k_el+λ)t); ∫₀^T = D(1 − e^(−aT))/a.
fn one_compartment() -> String {
    let lam = 7.2e-5;
    sbml_doc(&format!(
        r#"<listOfCompartments><compartment id="Blood" size="1" units="litre"/></listOfCompartments>
<listOfSpecies>
  <species id="Hot" compartment="Blood" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
  <species id="Cold" compartment="Blood" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
</listOfSpecies>
<listOfParameters>
  <parameter id="T_bio" value="300" units="min"/>
  <parameter id="k_el" value="-1" units="per_min"/>
  <parameter id="lam_in" value="{lam}" units="per_min"/>
  <parameter id="lambdaPhys" value="-1" units="per_min"/>
</listOfParameters>
<listOfInitialAssignments>
  <initialAssignment symbol="k_el">{}</initialAssignment>
  <initialAssignment symbol="lambdaPhys">{}</initialAssignment>
</listOfInitialAssignments>
<listOfReactions>
  {}
  {}
</listOfReactions>"#,
        math(&apply(
            "divide",
            &[apply("ln", &["<cn>2</cn>".into()]), ci("T_bio")]
        )),
        math(&format!(
            "<apply><root/><degree><cn type=\"integer\">2</cn></degree>{}</apply>",
            apply("power", &[ci("lam_in"), "<cn>2</cn>".into()])
        )),
        reaction(
            "clear",
            "Hot",
            None,
            &apply("times", &[ci("k_el"), ci("Hot")])
        ),
        reaction(
            "decay",
            "Hot",
            Some("Cold"),
            &apply("times", &[ci("lambdaPhys"), ci("Hot")])
        ),
    ))
}

#[test]
fn one_compartment_tac_and_tia_match_the_exponential() {
    let m = model(&one_compartment());
    let grid: Vec<f64> = (0..=100).map(|k| k as f64 * 100.0).collect();
    let r = simulate::simulate(&m, &scenario(&[("Blood.Hot", 10.0, 0.0)], grid.clone())).unwrap();
    let a = std::f64::consts::LN_2 / 300.0 + 7.2e-5;
    for (i, t) in grid.iter().enumerate() {
        let want = 10.0 * (-a * t).exp() * molar();
        if want > 1e-6 * 10.0 * molar() {
            assert_rel(r.activity_mbq[i][0], want, 1e-6, &format!("A(t = {t} min)"));
        }
    }
    let t_end = 10000.0;
    assert_rel(
        r.tia_window_mbq_h[0],
        10.0 * (1.0 - (-a * t_end).exp()) / a * molar() / 60.0,
        1e-6,
        "TIA window",
    );
    assert_rel(
        r.tia_infinity_mbq_h.as_ref().unwrap()[0],
        10.0 / a * molar() / 60.0,
        1e-6,
        "TIA to infinity",
    );
}

/// Two boluses (10 nmol at 0, 5 nmol at 2000 min): superposition of two exponentials; the
/// grid point at the second dose shows the state after it.
#[test]
fn two_boluses_superpose() {
    let m = model(&one_compartment());
    let grid: Vec<f64> = (0..=60).map(|k| k as f64 * 100.0).collect();
    let r = simulate::simulate(
        &m,
        &scenario(
            &[("Blood.Hot", 10.0, 0.0), ("Blood.Hot", 5.0, 2000.0)],
            grid.clone(),
        ),
    )
    .unwrap();
    let a = std::f64::consts::LN_2 / 300.0 + 7.2e-5;
    for (i, t) in grid.iter().enumerate() {
        let mut want = 10.0 * (-a * t).exp();
        if *t >= 2000.0 {
            want += 5.0 * (-a * (t - 2000.0)).exp();
        }
        assert_rel(
            r.activity_mbq[i][0],
            want * molar(),
            1e-6,
            &format!("A(t = {t} min)"),
        );
    }
    let t_end = 6000.0;
    let tia =
        10.0 * (1.0 - (-a * t_end).exp()) / a + 5.0 * (1.0 - (-a * (t_end - 2000.0)).exp()) / a;
    assert_rel(
        r.tia_window_mbq_h[0],
        tia * molar() / 60.0,
        1e-6,
        "TIA window",
    );
}

/// Blood ⇄ Organ (both top level), both decaying; the organ's species is a concentration
/// (`hasOnlySubstanceUnits` false, V = 0.3 L) and the exchange uses a function definition.
/// With s = k12 + k21: B(t) = D e^(−λt)(k21 + k12 e^(−st))/s, O(t) = D e^(−λt) k12 (1 −
/// e^(−st))/s.
fn two_compartment() -> String {
    sbml_doc(&format!(
        r#"<listOfFunctionDefinitions>
  <functionDefinition id="flow">{}</functionDefinition>
</listOfFunctionDefinitions>
<listOfCompartments>
  <compartment id="Blood" size="1" units="litre"/>
  <compartment id="Organ" size="0.3" units="litre"/>
</listOfCompartments>
<listOfSpecies>
  <species id="HotB" name="Hot" compartment="Blood" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
  <species id="HotO" name="Hot" compartment="Organ" initialConcentration="0" substanceUnits="nmol" hasOnlySubstanceUnits="false"/>
  <species id="ColdB" name="Cold" compartment="Blood" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
</listOfSpecies>
<listOfParameters>
  <parameter id="k12" value="0.01" units="per_min"/>
  <parameter id="k21" value="0.002" units="per_min"/>
  <parameter id="lambdaPhys" value="7.2e-5" units="per_min"/>
</listOfParameters>
<listOfReactions>
  {}
  {}
  {}
  {}
</listOfReactions>"#,
        math(&format!(
            "<lambda><bvar><ci>k</ci></bvar><bvar><ci>x</ci></bvar>{}</lambda>",
            apply("times", &[ci("k"), ci("x")])
        )),
        reaction(
            "b2o",
            "HotB",
            Some("HotO"),
            &format!("<apply><ci>flow</ci>{}{}</apply>", ci("k12"), ci("HotB"))
        ),
        reaction(
            "o2b",
            "HotO",
            Some("HotB"),
            &apply("times", &[ci("k21"), ci("HotO"), ci("Organ")])
        ),
        reaction(
            "decayB",
            "HotB",
            Some("ColdB"),
            &apply("times", &[ci("lambdaPhys"), ci("HotB")])
        ),
        reaction(
            "decayO",
            "HotO",
            None,
            &apply("times", &[ci("lambdaPhys"), ci("HotO"), ci("Organ")])
        ),
    ))
}

#[test]
fn two_compartment_exchange_matches_closed_form() {
    let m = model(&two_compartment());
    assert_eq!(
        m.organs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["Blood", "Organ"]
    );
    let grid: Vec<f64> = (0..=50).map(|k| k as f64 * 200.0).collect();
    let r = simulate::simulate(&m, &scenario(&[("Blood.Hot", 10.0, 0.0)], grid.clone())).unwrap();
    let (k12, k21, lam) = (0.01, 0.002, 7.2e-5);
    let s = k12 + k21;
    for (i, t) in grid.iter().enumerate() {
        let d = 10.0 * (-lam * t).exp();
        let b = d * (k21 + k12 * (-s * t).exp()) / s;
        let o = d * k12 * (1.0 - (-s * t).exp()) / s;
        assert_rel(
            r.activity_mbq[i][0],
            b * molar(),
            1e-6,
            &format!("Blood at {t} min"),
        );
        if *t > 0.0 {
            assert_rel(
                r.activity_mbq[i][1],
                o * molar(),
                1e-6,
                &format!("Organ at {t} min"),
            );
        }
    }
    // ∫₀^∞: B = D(k21/λ + k12/(λ+s))/s, O = D k12 (1/λ − 1/(λ+s))/s
    let inf = r.tia_infinity_mbq_h.unwrap();
    let to = molar() / 60.0;
    assert_rel(
        inf[0],
        10.0 * (k21 / lam + k12 / (lam + s)) / s * to,
        1e-6,
        "Blood TIA∞",
    );
    assert_rel(
        inf[1],
        10.0 * k12 * (1.0 / lam - 1.0 / (lam + s)) / s * to,
        1e-6,
        "Organ TIA∞",
    );
}

/// Receptor binding as in the PyCNO models: free ligand `Hot` in `Free`, bound `HotR` in
/// `Bound`, free receptor R an assignment rule R = R0 − HotR, R0 = Rden·V by an initial
/// assignment. At equilibrium (L0−x)(R0−x) = K_d·V·x with K_d = k_off/k_on. No decay
/// reactions: the activity to infinity does not converge and is reported as such.
#[test]
fn binding_reaches_the_equilibrium_of_the_quadratic() {
    let text = sbml_doc(&format!(
        r#"<listOfCompartments>
  <compartment id="Free" size="1" units="litre"/>
  <compartment id="Bound" size="0.2" units="litre"/>
</listOfCompartments>
<listOfSpecies>
  <species id="Hot" compartment="Free" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
  <species id="HotR" compartment="Bound" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
  <species id="R" compartment="Bound" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>
</listOfSpecies>
<listOfParameters>
  <parameter id="k_on" value="0.046" units="L_per_nmol_min"/>
  <parameter id="k_off" value="0.368" units="per_min"/>
  <parameter id="Rden" value="40" units="nmol_per_L"/>
  <parameter id="R0" value="-1" units="nmol"/>
</listOfParameters>
<listOfInitialAssignments>
  <initialAssignment symbol="R0">{}</initialAssignment>
</listOfInitialAssignments>
<listOfRules>
  <assignmentRule variable="R">{}</assignmentRule>
</listOfRules>
<listOfReactions>
  <reaction id="bind" reversible="true">
    <listOfReactants><speciesReference species="Hot"/></listOfReactants>
    <listOfProducts><speciesReference species="HotR"/></listOfProducts>
    <listOfModifiers><modifierSpeciesReference species="R"/></listOfModifiers>
    <kineticLaw>{}</kineticLaw>
  </reaction>
</listOfReactions>"#,
        math(&apply("times", &[ci("Rden"), ci("Bound")])),
        math(&apply("minus", &[ci("R0"), ci("HotR")])),
        math(&apply(
            "minus",
            &[
                apply(
                    "divide",
                    &[
                        apply("times", &[ci("k_on"), ci("Hot"), ci("R")]),
                        ci("Bound")
                    ]
                ),
                apply("times", &[ci("k_off"), ci("HotR")])
            ]
        )),
    ));
    let m = model(&text);
    let grid = vec![0.0, 600.0];
    let r = simulate::simulate(&m, &scenario(&[("Free.Hot", 10.0, 0.0)], grid)).unwrap();
    let (l0, r0, v, kd): (f64, f64, f64, f64) = (10.0, 40.0 * 0.2, 0.2, 0.368 / 0.046);
    let b = l0 + r0 + kd * v;
    let x = (b - (b * b - 4.0 * l0 * r0).sqrt()) / 2.0;
    assert_rel(
        r.activity_mbq[1][1],
        x * molar(),
        1e-6,
        "bound at equilibrium",
    );
    assert_rel(
        r.activity_mbq[1][0],
        (l0 - x) * molar(),
        1e-6,
        "free at equilibrium",
    );
    assert!(
        r.tia_infinity_mbq_h.is_none(),
        "Hot that never decays has no finite TIA to infinity"
    );
}

fn error_of(text: &str) -> PbpkError {
    match sbml::read_str(text) {
        Err(e) => e,
        Ok(s) => Model::new(s).expect_err("the model must be refused"),
    }
}

fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in text") as u32
        + 1
}

#[test]
fn missing_species_is_named_with_its_reaction_and_line() {
    let text = one_compartment().replace(
        r#"<speciesReference species="Cold""#,
        r#"<speciesReference species="Colt""#,
    );
    let e = error_of(&text);
    let msg = e.to_string();
    assert!(matches!(e, PbpkError::InvalidModel { .. }), "{msg}");
    assert!(
        msg.contains("reaction 'decay'")
            && msg.contains("'Colt'")
            && msg.contains("missing species"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "line {}",
            line_of(&text, r#"<reaction id="decay""#)
        )),
        "{msg}"
    );
    assert_eq!(voxdose::Error::from(e).exit_code(), 52);
}

#[test]
fn undefined_symbol_is_named() {
    let text = one_compartment().replace("<ci>k_el</ci><ci>Hot</ci>", "<ci>k_elx</ci><ci>Hot</ci>");
    let msg = error_of(&text).to_string();
    assert!(
        msg.contains("undefined symbol 'k_elx'") && msg.contains("reaction 'clear'"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "line {}",
            line_of(&text, r#"<reaction id="clear""#)
        )),
        "{msg}"
    );
}

#[test]
fn unit_mismatch_in_a_sum_is_refused() {
    // k_el·Hot (nmol/min) + lambdaPhys (1/min): not the same unit
    let text = one_compartment().replace(
        "<apply><times/><ci>k_el</ci><ci>Hot</ci></apply>",
        "<apply><plus/><apply><times/><ci>k_el</ci><ci>Hot</ci></apply><ci>lambdaPhys</ci></apply>",
    );
    let msg = error_of(&text).to_string();
    assert!(
        msg.contains("unit mismatch") && msg.contains("reaction 'clear'"),
        "{msg}"
    );
}

#[test]
fn a_rate_that_is_not_substance_per_time_is_refused() {
    let text =
        one_compartment().replace("<ci>k_el</ci><ci>Hot</ci>", "<ci>k_el</ci><ci>T_bio</ci>");
    let msg = error_of(&text).to_string();
    assert!(
        msg.contains("unit mismatch") && msg.contains("substance/time"),
        "{msg}"
    );
}

#[test]
fn a_model_in_seconds_is_refused() {
    // Level 2: a unit definition with id "time" redefines the model's time unit
    let text = one_compartment().replace(
        "</listOfUnitDefinitions>",
        r#"<unitDefinition id="time"><listOfUnits><unit kind="second"/></listOfUnits></unitDefinition></listOfUnitDefinitions>"#,
    );
    let msg = error_of(&text).to_string();
    assert!(
        msg.contains("unit mismatch") && msg.contains("not the minute"),
        "{msg}"
    );
}

#[test]
fn division_by_zero_at_t0_names_the_divisor() {
    // clearance written per volume of a compartment whose size is 0
    let text = one_compartment()
        .replace(r#"<compartment id="Blood" size="1" units="litre"/>"#, r#"<compartment id="Blood" size="1" units="litre"/><compartment id="Dead" size="0" units="litre"/>"#)
        .replace(
            "<apply><times/><ci>k_el</ci><ci>Hot</ci></apply>",
            "<apply><divide/><apply><times/><ci>k_el</ci><ci>Hot</ci><ci>Dead</ci></apply><ci>Dead</ci></apply>",
        );
    let e = error_of(&text);
    let msg = e.to_string();
    assert!(matches!(e, PbpkError::NonFinite { .. }), "{msg}");
    assert!(
        msg.contains("reaction 'clear'")
            && msg.contains("division by zero")
            && msg.contains("Dead = 0"),
        "{msg}"
    );
    assert_eq!(voxdose::Error::from(e).exit_code(), 53);
}

#[test]
fn unsupported_elements_are_refused_with_name_and_line() {
    let text =
        one_compartment().replace("</listOfReactions>", "</listOfReactions>\n<listOfEvents/>");
    let e = error_of(&text);
    assert!(
        matches!(&e, PbpkError::Unsupported { element, .. } if element == "listOfEvents"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("line {}", line_of(&text, "<listOfEvents/>"))),
        "{e}"
    );
    assert_eq!(voxdose::Error::from(e).exit_code(), 51);

    let text = one_compartment().replace(
        "<apply><times/><ci>k_el</ci><ci>Hot</ci></apply>",
        "<piecewise><piece><ci>k_el</ci><ci>Hot</ci></piece></piecewise>",
    );
    let e = error_of(&text);
    assert!(
        matches!(&e, PbpkError::Unsupported { element, .. } if element == "piecewise"),
        "{e}"
    );
}

#[test]
fn cyclic_initial_assignments_are_refused() {
    // k_el from lambdaPhys, lambdaPhys from k_el
    let text = one_compartment()
        .replace(
            "<apply><ln/><cn>2</cn></apply><ci>T_bio</ci>",
            "<apply><ln/><cn>2</cn></apply><ci>lambdaPhys</ci>",
        )
        .replace("<ci>lam_in</ci><cn>2</cn>", "<ci>k_el</ci><cn>2</cn>");
    let msg = error_of(&text).to_string();
    assert!(
        msg.contains("cycle") && msg.contains("k_el") && msg.contains("lambdaPhys"),
        "{msg}"
    );
}

#[test]
fn a_parameter_set_by_an_initial_assignment_cannot_be_overridden() {
    let m = model(&one_compartment());
    let msg = m
        .overrides(&[("k_el".into(), 1.0)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("initial assignment") && msg.contains("T_bio"),
        "{msg}"
    );
    assert!(m.overrides(&[("T_bio".into(), 100.0)]).is_ok());
}

#[test]
fn unknown_dose_target_lists_the_species() {
    let m = model(&one_compartment());
    let e =
        simulate::simulate(&m, &scenario(&[("Vein.Hot", 10.0, 0.0)], vec![0.0, 10.0])).unwrap_err();
    assert!(e.to_string().contains("Blood.Hot"), "{e}");
}

/// PyCNO's models, when present (`VOXDOSE_PYCNO_MODELS` = folder with PSMA.sbml and
/// reduced.sbml, from github.com/qurit/PyCNO `src/pycno/models/`): the published scenario
/// (10 nmol hot + 100 nmol cold into the vein) runs for 14 days, and the organ TIAs agree
/// with libroadrunner/CVODE (abs 1e-12, rel 1e-10; `scripts/pbpk_roadrunner_compare.py`)
/// to 0.1 %: the reference numbers are in `tests/data/pbpk_pycno_roadrunner.json`.
#[test]
fn pycno_models_agree_with_libroadrunner() {
    let Ok(dir) = std::env::var("VOXDOSE_PYCNO_MODELS") else {
        eprintln!("skipped: set VOXDOSE_PYCNO_MODELS to a folder with PyCNO's PSMA.sbml and reduced.sbml (README, section pbpk)");
        return;
    };
    let refs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pbpk_pycno_roadrunner.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (file, vein) in [("PSMA.sbml", "Vein"), ("reduced.sbml", "Blood")] {
        let m = Model::load(&std::path::Path::new(&dir).join(file)).unwrap();
        let grid: Vec<f64> = (0..=2016).map(|k| k as f64 * 10.0).collect();
        let sc = Scenario {
            solve: SolveOptions {
                rtol: 1e-9,
                atol_nmol: 1e-13,
                ..SolveOptions::default()
            },
            ..scenario(
                &[
                    (&format!("{vein}.Hot"), 10.0, 0.0),
                    (&format!("{vein}.Cold"), 100.0, 0.0),
                ],
                grid,
            )
        };
        let r = simulate::simulate(&m, &sc).unwrap();
        let want = &refs[file]["organ_hot_integral_nmol_min"];
        for (k, organ) in r.organs.iter().enumerate() {
            let w = want[organ].as_f64().unwrap();
            let got = r.tia_window_mbq_h[k] / r.molar_activity_mbq_per_nmol * 60.0;
            if w.abs() > 1e-9 {
                assert_rel(got, w, 1e-3, &format!("{file} {organ} ∫Hot dt"));
            }
        }
    }
}

/// A patient fit on noise-free synthetic data recovers the parameter that made it: the
/// two-compartment model with k12 = 0.01/min is measured at 1, 4, 24, 72 and 168 h as two
/// regions summed by `--map`, and k12 is fitted from a start (prior median) of 0.004/min
/// with a prior so weak (σ(ln) = 1000) that its pull, ≈ ln(0.01/0.004)/σ² / ΣJ², is below
/// 1e-8 relative: the fit must land on the truth within the solver's accuracy.
#[test]
fn map_fit_recovers_the_parameter_of_synthetic_data() {
    use voxdose::pbpk::fit::{self, FitProblem};
    use voxdose::pbpk::priors::{Distribution, Population};
    let m = model(&two_compartment());
    let times_h = [1.0, 4.0, 24.0, 72.0, 168.0];
    let grid: Vec<f64> = std::iter::once(0.0)
        .chain(times_h.iter().map(|h| h * 60.0))
        .collect();
    let truth = simulate::simulate(&m, &scenario(&[("Blood.Hot", 10.0, 0.0)], grid)).unwrap();
    let organ_bq: Vec<f64> = truth.activity_mbq[1..]
        .iter()
        .map(|row| row[1] * 1e6)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let regions = serde_json::json!({"cycles": [{"cycle": 1, "regions": [
        {"name": "left", "time_h": times_h, "activity_bq": organ_bq.iter().map(|a| a * 0.4).collect::<Vec<_>>()},
        {"name": "right", "time_h": times_h, "activity_bq": organ_bq.iter().map(|a| a * 0.6).collect::<Vec<_>>()},
    ]}]});
    std::fs::write(dir.path().join("regions.json"), regions.to_string()).unwrap();
    let data = fit::read_measured(dir.path(), 1, "Organ=left+right").unwrap();
    assert_rel(
        data[0].activity_mbq[2],
        organ_bq[2] * 1e-6,
        1e-12,
        "regions summed by --map",
    );
    let problem = FitProblem {
        boluses: vec![Bolus {
            target: "Blood.Hot".into(),
            amount_nmol: 10.0,
            time_min: 0.0,
        }],
        fixed: Vec::new(),
        fit: vec!["k12".into()],
        priors: Population {
            parameters: vec![(
                "k12".into(),
                Distribution::LogNormal {
                    median: 0.004,
                    sigma_ln: 1000.0,
                },
            )],
            ..Population::default()
        },
        data,
        activity_rel_sigma: 0.1,
        half_life_s: HALF_LIFE_S,
        solve: SolveOptions {
            rtol: 1e-10,
            atol_nmol: 1e-14,
            ..SolveOptions::default()
        },
    };
    let p = fit::fit(&m, &problem).unwrap();
    assert!(p.converged, "{p:?}");
    assert_rel(p.fitted_parameters[0].value, 0.01, 1e-6, "fitted k12");
    assert!(p.fitted_parameters[0].sigma > 0.0 && p.fitted_parameters[0].sigma < 0.01);
    assert!(
        p.residuals.iter().all(|r| r.normalized.abs() < 1e-2),
        "{:?}",
        p.residuals
    );
}

/// A virtual trial on the one-compartment model with a log-normal biological half-life:
/// TIA decreases monotonically with the clearance, so with an odd number of patients the
/// median TIA is exactly the analytic TIA of the median sampled T_bio; the dose is
/// S·Ã; and the same seed gives the same patients on 1 and on 2 threads.
#[test]
fn trial_is_reproducible_and_its_median_is_the_analytic_one() {
    use voxdose::pbpk::priors::{Distribution, Population};
    use voxdose::pbpk::trial::{self, SValues, TrialConfig};
    let m = model(&one_compartment());
    let s_gy_per_decay = 1e-13;
    let cfg = TrialConfig {
        boluses: vec![Bolus {
            target: "Blood.Hot".into(),
            amount_nmol: 10.0,
            time_min: 0.0,
        }],
        fixed: Vec::new(),
        population: Population {
            parameters: vec![(
                "T_bio".into(),
                Distribution::LogNormal {
                    median: 300.0,
                    sigma_ln: 0.4,
                },
            )],
            ..Population::default()
        },
        s_values: Some(SValues {
            source: None,
            gy_per_decay: [(
                "Blood".to_string(),
                [("Blood".to_string(), s_gy_per_decay)].into(),
            )]
            .into(),
        }),
        patients: 21,
        seed: 7,
        window_min: None,
        half_life_s: HALF_LIFE_S,
        solve: SolveOptions {
            rtol: 1e-10,
            atol_nmol: 1e-14,
            ..SolveOptions::default()
        },
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| trial::run(&m, &cfg, &|| {})).unwrap()
    };
    let (one, two) = (run(1), run(2));
    for (a, b) in one.patients.iter().zip(&two.patients) {
        assert_eq!(a.parameters, b.parameters);
        assert_eq!(a.tia_mbq_h, b.tia_mbq_h);
    }
    let mut t_bio: Vec<f64> = one.patients.iter().map(|p| p.parameters[0]).collect();
    t_bio.sort_by(f64::total_cmp);
    let a = std::f64::consts::LN_2 / t_bio[10] + 7.2e-5;
    let tia_median = 10.0 / a * molar() / 60.0;
    let tias: Vec<f64> = one.patients.iter().map(|p| p.tia_mbq_h[0]).collect();
    let p = trial::percentiles(&tias).unwrap();
    assert_rel(p.p["p50"], tia_median, 1e-6, "median TIA");
    for pt in &one.patients {
        assert_rel(
            pt.dose_gy[0],
            s_gy_per_decay * pt.tia_mbq_h[0] * 3.6e9,
            1e-12,
            "dose = S·Ã",
        );
    }
}

/// `voxdose pbpk simulate` writes `tacs.csv` (`time_min`, one MBq column per organ) and
/// `tia.json` (per organ `tia_mbq_h`, `tia_to_infinity_mbq_h`); a bad model exits 40.
#[test]
fn cli_simulate_writes_tacs_and_tia_and_refuses_bad_models() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("two.sbml");
    std::fs::write(&model_path, two_compartment()).unwrap();
    let out = dir.path().join("sim");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_voxdose"))
        .args(["pbpk", "simulate", "--model"])
        .arg(&model_path)
        .args(["--dose", "Blood.Hot=10", "--minutes", "0:600:60", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let csv = std::fs::read_to_string(out.join("tacs.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "time_min,Blood,Organ");
    assert_eq!(csv.lines().count(), 12);
    let tia: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tia.json")).unwrap()).unwrap();
    assert!(tia["organs"]["Organ"]["tia_mbq_h"].as_f64().unwrap() > 0.0);
    assert!(
        tia["organs"]["Organ"]["tia_to_infinity_mbq_h"]
            .as_f64()
            .unwrap()
            > tia["organs"]["Organ"]["tia_mbq_h"].as_f64().unwrap()
    );

    let bad = dir.path().join("bad.sbml");
    std::fs::write(
        &bad,
        two_compartment().replace("<ci>k21</ci>", "<ci>k99</ci>"),
    )
    .unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_voxdose"))
        .args(["pbpk", "simulate", "--model"])
        .arg(&bad)
        .args(["--dose", "Blood.Hot=10", "--minutes", "0:600:60", "--out"])
        .arg(dir.path().join("sim2"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(52));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("undefined symbol 'k99'") && err.contains("bad.sbml") && err.contains("line "),
        "{err}"
    );
}
