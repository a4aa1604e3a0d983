//! The theranostic digital twin (issue "The theranostic digital twin"), on a synthetic
//! two-cycle patient made here from analytic time–activity curves: init on cycle 1, predict
//! cycle 2, sync it and compare; plan against limits; the S-matrix against a direct Monte
//! Carlo run; a sync that finds nothing; kills at every stage of a sync; the lock.

mod common;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::process::Command;
use voxdose::geometry::Volume;
use voxdose::io::nifti::write_volume_f32;
use voxdose::phantoms::twin_patient::{grid, write_patient as write};
use voxdose::run::{Stop, TransportConfig};
use voxdose::transport::{DeviceChoice, Silent};
use voxdose::twin::{self, InitOptions, SyncOptions};

fn write_patient(dir: &Path, name: &str, cycles: &[f64], extra: bool) -> PathBuf {
    write(dir, name, cycles, extra).unwrap()
}

/// Transport of the cycles: `decays` per run.
fn transport(decays: f64) -> TransportConfig {
    TransportConfig {
        stop: Stop::Decays(decays),
        device: DeviceChoice::Cpu,
        seed: 3,
        ..Default::default()
    }
}

/// Init options; `decays` per cycle run (the prediction test needs 2e6, so that the
/// smallest region's measured dose has σ < 1 %: its 3 % comparison is about the model, not
/// Monte Carlo noise; the other tests need only a dose).
fn init_opts(study: PathBuf, limits: Option<PathBuf>, decays: f64) -> InitOptions {
    InitOptions {
        study,
        ct: None,
        limits,
        transport: transport(decays),
        smatrix_decays: 2e5,
        patient_id: Some("synthetic".into()),
        baseline_pet: None,
    }
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every file of the twin (but the lock and staging) and its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if [".lock", ".txn", ".commit"]
                .iter()
                .any(|x| rel.starts_with(x))
            {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn organ<'a>(p: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    p["organs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap()
}

/// Issue "twin", what it must show, first point: after `init` on cycle 1, `predict` at cycle
/// 2's activity matches the dose `sync` then measures within the stated interval, and within
/// 3 % since cycle 2's kinetics per GBq equal cycle 1's; the recorded `prediction_error` is
/// predicted/measured − 1 from the twin's own files. Then `plan` (second point) and a sync
/// that finds nothing new (fourth point).
#[test]
fn a_two_cycle_patient_is_predicted_synced_and_planned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("twin");
    let (a1, a2) = (7.4e9, 6.0e9);
    let study1 = write_patient(dir.path(), "study1.json", &[a1], false);
    let limits = dir.path().join("limits.json");
    std::fs::write(&limits, r#"{"limits": [{"organ": "kidney", "quantity": "bed", "value_gy": 28}, {"organ": "red_marrow", "quantity": "dose", "value_gy": 8}]}"#).unwrap();
    twin::init(&root, &init_opts(study1, Some(limits), 2e6), &mut Silent).unwrap();
    let manifest = read(&root.join("twin.json"));
    assert_eq!(manifest["cycles"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["regions"][0]["tissue"], "kidney");
    let prediction = twin::predict(&root, a2, 1, &mut Silent).unwrap();
    let study2 = write_patient(dir.path(), "study2.json", &[a1, a2], false);
    let report = twin::sync(
        &root,
        &SyncOptions {
            study: study2.clone(),
            resync_cycle: None,
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(report.new_cycles, vec![2]);
    let record = read(&root.join("cycles/2/record.json"));
    let kept = read(&root.join("cycles/2/prediction.json"));
    // Region rows (a limit on a tissue adds an organ row of its regions together).
    for p in prediction.organs.iter().filter(|o| o.members.is_none()) {
        let m = record["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == p.name.as_str())
            .unwrap();
        let measured = m["dose_gy"].as_f64().unwrap();
        assert!(
            p.dose_gy_p2_5 <= measured && measured <= p.dose_gy_p97_5,
            "{}: measured {measured} outside [{}, {}]",
            p.name,
            p.dose_gy_p2_5,
            p.dose_gy_p97_5
        );
        let rel = m["dose_rel_sigma"].as_f64().unwrap();
        assert!(
            (p.dose_gy / measured - 1.0).abs() < 0.03,
            "{}: predicted {} measured {measured} (MC σ {:.2} %)",
            p.name,
            p.dose_gy,
            100.0 * rel
        );
        let err = record["prediction_error"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == p.name.as_str())
            .unwrap();
        let predicted = organ(&kept["prediction"], &p.name)["dose_gy"]
            .as_f64()
            .unwrap();
        assert!((err["dose"].as_f64().unwrap() - (predicted / measured - 1.0)).abs() < 1e-12);
        if let (Some(pb), Some(mb)) = (
            organ(&kept["prediction"], &p.name)["bed_gy"].as_f64(),
            m["bed_gy"].as_f64(),
        ) {
            assert!((err["bed"].as_f64().unwrap() - (pb / mb - 1.0)).abs() < 1e-12);
        }
    }
    plan_meets_its_limits(&root);
    unchanged_sync_changes_nothing(&root, &study2);
    smatrix_route_matches_a_direct_run(&root);
}

/// `plan` at confidence 0.5 puts the median cumulative kidney BED on the limit; at 0.95 the
/// activity is lower, the limiting organ's quantile is on the limit and its median below it.
fn plan_meets_its_limits(root: &Path) {
    let limits = [
        twin::OrganLimit::parse("kidney:bed=28").unwrap(),
        twin::OrganLimit::parse("red_marrow:dose=8").unwrap(),
    ];
    let half = twin::plan(root, &limits, 1, 0.5, &mut Silent).unwrap();
    let summary: Vec<String> = half
        .organs
        .iter()
        .map(|o| {
            format!(
                "{} dose {:.3} cum dose {:.3} cum BED {:?}",
                o.name, o.dose_gy, o.cumulative_dose_gy, o.cumulative_bed_gy
            )
        })
        .collect();
    assert!(
        half.limiting_organ.as_deref() == Some("kidney"),
        "{:?} at {} GBq: {summary:#?}",
        half.limiting_organ,
        half.activity_gbq
    );
    let at_half = twin::predict(root, half.activity_bq, 1, &mut Silent).unwrap();
    // The kidneys: the mass-weighted mean of both, as the renal limit is stated.
    let kidney = |p: &twin::Prediction| {
        let k = p.organs.iter().find(|o| o.name == "kidney").unwrap();
        assert_eq!(k.members.as_ref().unwrap().len(), 2);
        k.cumulative_bed_gy.unwrap()
    };
    assert!(
        (kidney(&at_half) / 28.0 - 1.0).abs() < 0.01,
        "median {} at {} GBq",
        kidney(&at_half),
        half.activity_gbq
    );
    let sure = twin::plan(root, &limits, 1, 0.95, &mut Silent).unwrap();
    assert!(
        sure.activity_bq < half.activity_bq,
        "{} vs {}",
        sure.activity_bq,
        half.activity_bq
    );
    let limiting = sure
        .organs
        .iter()
        .find(|o| Some(&o.name) == sure.limiting_organ.as_ref())
        .unwrap();
    let q = limiting.cumulative_bed_gy_quantile.unwrap();
    assert!((q / 28.0 - 1.0).abs() < 0.01, "95 % quantile {q}");
    let at_sure = twin::predict(root, sure.activity_bq, 1, &mut Silent).unwrap();
    assert!(kidney(&at_sure) < 28.0);
    // A limit already reached: activity 0, said plainly.
    let reached = twin::plan(
        root,
        &[twin::OrganLimit::parse("kidney:bed=0.1").unwrap()],
        1,
        0.95,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(reached.activity_bq, 0.0);
    assert!(reached.note.contains("already reached"), "{}", reached.note);
}

/// A second sync with the same study changes no file but adds one history line.
fn unchanged_sync_changes_nothing(root: &Path, study: &Path) {
    let before = snapshot(root);
    let report = twin::sync(
        root,
        &SyncOptions {
            study: study.to_path_buf(),
            resync_cycle: None,
        },
        &mut Silent,
    )
    .unwrap();
    assert!(report.new_cycles.is_empty() && report.updated_cycles.is_empty());
    let after = snapshot(root);
    let history = PathBuf::from("history.jsonl");
    for (path, bytes) in &before {
        if path != &history {
            assert_eq!(after.get(path), Some(bytes), "{} changed", path.display());
        }
    }
    assert_eq!(before.len(), after.len());
    let (b, a) = (
        String::from_utf8_lossy(&before[&history]),
        String::from_utf8_lossy(&after[&history]),
    );
    assert!(a.starts_with(b.as_ref()));
    assert_eq!(a.lines().count(), b.lines().count() + 1);
    assert!(
        a.lines().last().unwrap().contains("\"changed\":false"),
        "{a}"
    );
}

/// The S-matrix route (Σ_s S[t][s]·Ã_s) equals a direct transport of the TIA map scaled to
/// the predicted TIA of each region, within 2σ (σ of both: the direct run's batch σ and the
/// S-values' MC σ; α = 0.046 per region, two-sided).
fn smatrix_route_matches_a_direct_run(root: &Path) {
    use voxdose::run::{Clock, Engine, Problem, RunConfig};
    use voxdose::source::SourceSpec;
    let twin = voxdose::twin::Twin::open(root, &mut Silent).unwrap();
    let model = voxdose::twin::predict::model_of(&twin).unwrap();
    let a = 7.0e9;
    let tia: Vec<f64> = model
        .sources
        .iter()
        .map(|s| a * s.tia_per_injected_s)
        .collect();
    let by_s = model.smatrix.dose_gy(&tia);
    let sig_s = model.smatrix.dose_sigma_gy(&tia);
    // The latest cycle's problem, its map scaled region by region to the predicted Ã.
    let mut config = RunConfig::phantom("vsv");
    config.input = serde_json::from_value(
        serde_json::json!({"kind": "study", "study": root.join("cycles/2/study.json")}),
    )
    .unwrap();
    config.transport = transport(2e6);
    config.transport.seed = 99;
    let scratch = tempfile::tempdir().unwrap();
    let mut problem = Problem::build_in(
        &config,
        scratch.path(),
        false,
        &mut Clock::start(),
        &mut Silent,
    )
    .unwrap();
    let SourceSpec::Voxels { weights } = &mut problem.source else {
        panic!("a voxel source")
    };
    let mut region_of = vec![model.smatrix.sources.len() - 1; weights.len()];
    for (s, r) in problem.model.regions.iter().enumerate() {
        for &v in &r.voxels {
            region_of[v as usize] = s;
        }
    }
    for (v, w) in weights.iter_mut().enumerate() {
        let s = region_of[v];
        *w = (f64::from(*w) * tia[s] / model.smatrix.source_tia_bq_s[s]) as f32;
    }
    let total: f64 = tia.iter().sum();
    problem.tia_bq_s = Some(total);
    let engine = Engine::new(&config.transport).unwrap();
    let direct = engine.execute(&problem, &mut Silent).unwrap();
    for (t, r) in direct.transport.regions.iter().enumerate() {
        let d = r.mean_gy_per_decay * total;
        let sigma = ((d * r.rel_sigma).powi(2) + sig_s[t].powi(2)).sqrt();
        assert!(
            (d - by_s[t]).abs() < 2.0 * sigma,
            "{}: direct {d} S-route {} (σ {sigma})",
            r.name,
            by_s[t]
        );
    }
}

/// A new time point in the last cycle is an update; a changed earlier scan is refused
/// unless `--resync-cycle` names the cycle; a second writer is refused while the lock is held.
#[test]
fn changes_are_refused_or_resynced_and_the_lock_holds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("twin");
    let study = write_patient(dir.path(), "study.json", &[7.4e9], false);
    twin::init(&root, &init_opts(study, None, 2e5), &mut Silent).unwrap();
    let longer = write_patient(dir.path(), "longer.json", &[7.4e9], true);
    let r = twin::sync(
        &root,
        &SyncOptions {
            study: longer.clone(),
            resync_cycle: None,
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(r.updated_cycles, vec![1]);
    assert_eq!(read(&root.join("twin.json"))["cycles"][0]["time_points"], 5);
    // An earlier scan edited: refused, then resynced on request.
    let g = grid();
    write_volume_f32(
        &dir.path().join("c1_024h.nii.gz"),
        &Volume::filled(g, 1.0),
        "Bq/mL",
    )
    .unwrap();
    let e = twin::sync(
        &root,
        &SyncOptions {
            study: longer.clone(),
            resync_cycle: None,
        },
        &mut Silent,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 49, "{e}");
    assert!(e.to_string().contains("--resync-cycle 1"), "{e}");
    let r = twin::sync(
        &root,
        &SyncOptions {
            study: longer,
            resync_cycle: Some(1),
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(r.resynced_cycles, vec![1]);
    let history = std::fs::read_to_string(root.join("history.jsonl")).unwrap();
    assert!(
        history
            .lines()
            .last()
            .unwrap()
            .contains("\"resynced_cycles\":[1]"),
        "{history}"
    );
    // A writer holding the lock (this process is alive) refuses a second one.
    std::fs::write(
        root.join(".lock"),
        format!("{}\n2026-12-06T00:00:00Z\n", std::process::id()),
    )
    .unwrap();
    let e = twin::predict(&root, 7e9, 1, &mut Silent).unwrap_err();
    assert_eq!(e.exit_code(), 47, "{e}");
    std::fs::remove_file(root.join(".lock")).unwrap();
}

/// A sync killed at any point before its commit leaves the twin as it was; killed after the
/// commit point, the next command finishes it, so the twin is never a mix. The kills are
/// aborts at named failpoints (what SIGKILL does there) and one real SIGKILL.
#[test]
fn a_killed_sync_leaves_the_twin_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("twin");
    let study1 = write_patient(dir.path(), "study1.json", &[7.4e9], false);
    twin::init(&root, &init_opts(study1, None, 2e5), &mut Silent).unwrap();
    let study2 = write_patient(dir.path(), "study2.json", &[7.4e9, 6e9], false);
    let pristine = dir.path().join("pristine");
    copy_dir(&root, &pristine);
    let before = snapshot(&root);
    let sync = |failpoint: Option<&str>| {
        let mut c = Command::new(common::voxdose_bin());
        c.args(["twin", "sync"])
            .arg(&root)
            .arg("--study")
            .arg(&study2);
        if let Some(f) = failpoint {
            c.env("VOXDOSE_TWIN_FAILPOINT", f);
        }
        c
    };
    for point in [
        "after-fit",
        "after-smatrix",
        "before-commit-staged",
        "before-commit",
    ] {
        let o = sync(Some(point)).output().unwrap();
        assert!(
            !o.status.success(),
            "{point}: the sync should have been killed"
        );
        twin::status::status(&root).unwrap();
        assert_eq!(
            snapshot(&root),
            before,
            "killed at {point}: the twin changed"
        );
    }
    // A real SIGKILL a moment into the sync.
    let mut child = sync(None)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // Opening the twin finishes or discards what the kill left: the old twin or the new.
    twin::predict(&root, 7e9, 1, &mut Silent).unwrap();
    let synced = read(&root.join("twin.json"))["cycles"]
        .as_array()
        .unwrap()
        .len();
    assert!(synced == 1 || synced == 2, "{synced}");
    for point in ["after-commit", "mid-replay"] {
        let fresh = dir.path().join(format!("twin-{point}"));
        copy_dir(&pristine, &fresh);
        let o = Command::new(common::voxdose_bin())
            .args(["twin", "sync"])
            .arg(&fresh)
            .arg("--study")
            .arg(&study2)
            .env("VOXDOSE_TWIN_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}");
        // Committed: the next command completes it.
        let s = twin::status::status(&fresh).unwrap();
        twin::predict(&fresh, 7e9, 1, &mut Silent).unwrap();
        let s2 = twin::status::status(&fresh).unwrap();
        assert_eq!(s2.cycles.len(), 2, "{point}: {:?}", s.cycles.len());
        assert!(fresh.join("cycles/2/record.json").exists());
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// `twin predict --model pbpk` (issue "PBRPK", item 6)
// ---------------------------------------------------------------------------------------

/// A receptor-binding PBRPK model in SBML, written here: peptide injected into `Blood`
/// (species named Hot and Cold) is cleared from blood (k_cl) and binds a finite pool of
/// receptors in two organs (k_on·L·(R − bound hot − bound cold), so hot and cold peptide
/// compete for them), from which it is released (k_rel); Hot decays to Cold in every
/// compartment (λ of 177Lu, 6.647 d). `organs` names the two receptor organs.
fn receptor_sbml(organs: [&str; 2]) -> String {
    let [a, b] = organs;
    let lam = std::f64::consts::LN_2 / (6.647 * 1440.0);
    let ci = |x: &str| format!("<ci>{x}</ci>");
    let times = |xs: &[String]| format!("<apply><times/>{}</apply>", xs.concat());
    let minus = |xs: &[String]| format!("<apply><minus/>{}</apply>", xs.concat());
    let reaction = |id: &str, from: &str, to: Option<&str>, law: String| {
        let to = to.map_or(String::new(), |p| {
            format!(r#"<listOfProducts><speciesReference species="{p}" stoichiometry="1"/></listOfProducts>"#)
        });
        format!(
            r#"<reaction id="{id}" reversible="false"><listOfReactants><speciesReference species="{from}" stoichiometry="1"/></listOfReactants>{to}<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">{law}</math></kineticLaw></reaction>"#
        )
    };
    let species = |id: &str, name: &str, comp: &str| {
        format!(
            r#"<species id="{id}" name="{name}" compartment="{comp}" initialAmount="0" substanceUnits="nmol" hasOnlySubstanceUnits="true"/>"#
        )
    };
    let mut reactions = vec![
        reaction("clearH", "HotB", None, times(&[ci("k_cl"), ci("HotB")])),
        reaction("clearC", "ColdB", None, times(&[ci("k_cl"), ci("ColdB")])),
        reaction(
            "decayB",
            "HotB",
            Some("ColdB"),
            times(&[ci("lambdaPhys"), ci("HotB")]),
        ),
    ];
    let mut list_species = vec![
        species("HotB", "Hot", "Blood"),
        species("ColdB", "Cold", "Blood"),
    ];
    for (o, x) in [(a, "K"), (b, "T")] {
        let (hot, cold) = (format!("Hot{x}"), format!("Cold{x}"));
        list_species.push(species(&hot, "Hot", o));
        list_species.push(species(&cold, "Cold", o));
        let free = minus(&[minus(&[ci(&format!("R_{x}")), ci(&hot)]), ci(&cold)]);
        let kon = ci(&format!("kon_{x}"));
        let krel = ci(&format!("krel_{x}"));
        reactions.push(reaction(
            &format!("bindH{x}"),
            "HotB",
            Some(&hot),
            times(&[kon.clone(), ci("HotB"), free.clone()]),
        ));
        reactions.push(reaction(
            &format!("bindC{x}"),
            "ColdB",
            Some(&cold),
            times(&[kon, ci("ColdB"), free]),
        ));
        reactions.push(reaction(
            &format!("relH{x}"),
            &hot,
            None,
            times(&[krel.clone(), ci(&hot)]),
        ));
        reactions.push(reaction(
            &format!("relC{x}"),
            &cold,
            None,
            times(&[krel, ci(&cold)]),
        ));
        reactions.push(reaction(
            &format!("decay{x}"),
            &hot,
            Some(&cold),
            times(&[ci("lambdaPhys"), ci(&hot)]),
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4">
  <model id="receptor">
    <listOfUnitDefinitions>
      <unitDefinition id="nmol"><listOfUnits><unit kind="mole" scale="-9"/></listOfUnits></unitDefinition>
      <unitDefinition id="per_min"><listOfUnits><unit kind="second" exponent="-1" multiplier="0.0166666666666667"/></listOfUnits></unitDefinition>
      <unitDefinition id="per_nmol_min"><listOfUnits><unit kind="mole" exponent="-1" scale="-9"/><unit kind="second" exponent="-1" multiplier="0.0166666666666667"/></listOfUnits></unitDefinition>
    </listOfUnitDefinitions>
    <listOfCompartments>
      <compartment id="Blood" size="5" units="litre"/>
      <compartment id="{a}" size="0.3" units="litre"/>
      <compartment id="{b}" size="0.05" units="litre"/>
    </listOfCompartments>
    <listOfSpecies>{}</listOfSpecies>
    <listOfParameters>
      <parameter id="k_cl" value="0.03" units="per_min"/>
      <parameter id="lambdaPhys" value="{lam}" units="per_min"/>
      <parameter id="kon_K" value="1.5e-4" units="per_nmol_min"/>
      <parameter id="R_K" value="0.3" units="nmol"/>
      <parameter id="krel_K" value="2e-4" units="per_min"/>
      <parameter id="kon_T" value="1.5e-4" units="per_nmol_min"/>
      <parameter id="R_T" value="0.3" units="nmol"/>
      <parameter id="krel_T" value="1e-4" units="per_min"/>
    </listOfParameters>
    <listOfReactions>{}</listOfReactions>
  </model>
</sbml>"#,
        list_species.concat(),
        reactions.concat()
    )
}

/// Source `name` of the model of a stored prediction (`predictions/cycleN.json`).
fn source_of(stored: &serde_json::Value, name: &str) -> serde_json::Value {
    stored["model"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
        .clone()
}

/// Runs the binary's `twin predict DIR --activity-gbq GBQ` with `extra` flags.
fn cli_predict(root: &Path, gbq: f64, extra: &[&str]) -> std::process::Output {
    Command::new(common::voxdose_bin())
        .args(["twin", "predict"])
        .arg(root)
        .args(["--activity-gbq", &gbq.to_string()])
        .args(extra)
        .output()
        .unwrap()
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Issue "PBRPK", item 6: on a one-cycle twin (7.4 GBq and 100 nmol of cold peptide), the
/// CLI's `twin predict --model pbpk` fits the receptor model to the twin's measured region
/// activities (stored as `pbpk/patient.json`) and predicts with intervals; the kinetic
/// default is unchanged. At the measured cold amount the PBRPK prediction of every receptor
/// region lies within the kinetic model's interval; more cold peptide saturates the
/// receptors, so the kidney and tumour TIA and dose fall monotonically.
#[test]
fn pbpk_model_predicts_the_next_cycle_and_its_cold_peptide() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("twin");
    let a1 = 7.4e9;
    let study = write_patient(dir.path(), "study.json", &[a1], false);
    twin::init(&root, &init_opts(study, None, 2e5), &mut Silent).unwrap();
    let sbml = dir.path().join("receptor.sbml");
    std::fs::write(&sbml, receptor_sbml(["Kidney", "Tumor"])).unwrap();
    let sbml_arg = sbml.to_str().unwrap();
    // The default model, with and without --model kinetics: the same prediction.
    let kinetic = json_of(&cli_predict(&root, 7.4, &["--json"]));
    assert_eq!(kinetic["model"], "kinetic");
    assert!(kinetic.get("pbpk").is_none() && kinetic.get("cold_nmol").is_none());
    let named = json_of(&cli_predict(&root, 7.4, &["--json", "--model", "kinetics"]));
    assert_eq!(named["organs"], kinetic["organs"]);
    let kinetic_stored = read(&root.join("predictions/cycle2.json"));
    assert!(source_of(&kinetic_stored, "kidney_left")
        .get("tia_draws")
        .is_none());
    // The PBRPK model, fitted now.
    let fit_flags = [
        "--json",
        "--model",
        "pbpk",
        "--pbpk-model",
        sbml_arg,
        "--params",
        "R_K,krel_K,R_T,krel_T",
        "--measured-cold-nmol",
        "100",
        "--pbpk-samples",
        "100",
    ];
    let p = json_of(&cli_predict(&root, 7.4, &fit_flags));
    assert_eq!(p["model"], "pbpk");
    assert_eq!(
        p["cold_nmol"], 100.0,
        "the measured cycle's cold amount is the default"
    );
    assert_eq!(p["pbpk"]["fitted_now"], true);
    assert_eq!(p["pbpk"]["fitted_cycles"], serde_json::json!([1]));
    let names: Vec<&str> = p["pbpk"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["R_K", "krel_K", "R_T", "krel_T"]);
    let mapped: Vec<(String, serde_json::Value)> = p["pbpk"]["organs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["organ"].as_str().unwrap().to_string(),
                o["regions"].clone(),
            )
        })
        .collect();
    assert_eq!(
        mapped,
        [
            (
                "Kidney".to_string(),
                serde_json::json!(["kidney_left", "kidney_right"])
            ),
            ("Tumor".to_string(), serde_json::json!(["tumour_1"]))
        ]
    );
    let patient = read(&root.join("pbpk/patient.json"));
    assert_eq!(patient["format"], "voxdose-pbpk-patient/1");
    for name in ["kidney_left", "kidney_right", "tumour_1"] {
        let (o, k) = (organ(&p, name), organ(&kinetic, name));
        let f = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
        assert!(
            f(o, "dose_gy_p2_5") < f(o, "dose_gy") && f(o, "dose_gy") < f(o, "dose_gy_p97_5"),
            "{name}: {o}"
        );
        assert!(
            o["bed_gy"].as_f64().is_some() || o["tissue"].is_null(),
            "{name}: {o}"
        );
        assert!(
            f(k, "dose_gy_p2_5") <= f(o, "dose_gy") && f(o, "dose_gy") <= f(k, "dose_gy_p97_5"),
            "{name}: PBRPK {} Gy outside the kinetic interval [{}, {}] Gy",
            f(o, "dose_gy"),
            f(k, "dose_gy_p2_5"),
            f(k, "dose_gy_p97_5")
        );
    }
    // Regions the model has no organ for keep the kinetic model's τ; the mapped ones take
    // the PBRPK samples (the stored model, which `sync` re-evaluates).
    let source = source_of;
    let stored = read(&root.join("predictions/cycle2.json"));
    for name in ["red_marrow", "remainder"] {
        assert_eq!(
            source(&stored, name),
            source(&kinetic_stored, name),
            "{name}"
        );
    }
    for name in ["kidney_left", "kidney_right", "tumour_1"] {
        let draws = source(&stored, name)["tia_draws"].as_array().unwrap().len();
        assert_eq!(draws, 100, "{name}");
    }
    // The stored patient is reused for what-ifs of the cold amount (no fit flags).
    let mut last: Option<(f64, f64, f64, f64)> = None;
    for cold in ["0", "100", "400", "1600"] {
        let q = json_of(&cli_predict(
            &root,
            7.4,
            &[
                "--json",
                "--model",
                "pbpk",
                "--pbpk-model",
                sbml_arg,
                "--pbpk-samples",
                "100",
                "--cold-nmol",
                cold,
            ],
        ));
        assert_eq!(q["pbpk"]["fitted_now"], false);
        let tia = |o: usize| q["pbpk"]["organs"][o]["tia_mbq_h"].as_f64().unwrap();
        let now = (
            tia(0),
            tia(1),
            organ(&q, "kidney_left")["dose_gy"].as_f64().unwrap(),
            organ(&q, "tumour_1")["dose_gy"].as_f64().unwrap(),
        );
        if cold == "100" {
            assert_eq!(q["organs"], p["organs"], "the same patient and cold amount");
        }
        if let Some(before) = last {
            assert!(
                now.0 < before.0 && now.1 < before.1 && now.2 < before.2 && now.3 < before.3,
                "cold {cold} nmol: (kidney TIA, tumour TIA, kidney dose, tumour dose) {now:?} not below {before:?}"
            );
        }
        last = Some(now);
    }
    let history = std::fs::read_to_string(root.join("history.jsonl")).unwrap();
    assert_eq!(history.matches("\"pbpk-fit\"").count(), 1, "{history}");
    // A patient model file (as `voxdose pbpk fit` writes) instead of the twin's own fit; it
    // must have been fitted with the SBML file given.
    let outside = dir.path().join("patient.json");
    std::fs::copy(root.join("pbpk/patient.json"), &outside).unwrap();
    let with_file = [
        "--json",
        "--model",
        "pbpk",
        "--pbpk-model",
        sbml_arg,
        "--pbpk-samples",
        "100",
        "--patient-model",
        outside.to_str().unwrap(),
    ];
    let q = json_of(&cli_predict(&root, 7.4, &with_file));
    assert_eq!(q["organs"], p["organs"]);
    assert_eq!(q["pbpk"]["patient_model"], outside.to_str().unwrap());
    let edited = dir.path().join("edited.sbml");
    std::fs::write(&edited, receptor_sbml(["Kidney", "Tumor"]) + "\n").unwrap();
    let mut args = with_file.to_vec();
    args[4] = edited.to_str().unwrap();
    let o = cli_predict(&root, 7.4, &args);
    assert_eq!(o.status.code(), Some(56));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another SBML file"));
    pbpk_prediction_is_compared_and_refitted(dir.path(), &root, sbml_arg);
}

/// Cycle 2 (the same kinetics per GBq, given with the measured cold amount) is synced after
/// a PBRPK prediction at 100 nmol: the stored prediction is compared with it (within the MC
/// noise of 2e5 decays and the fit: 5 %). The stored patient no longer covers every cycle:
/// without the new cycle's cold amount the refit is refused; with it, both cycles are fitted.
fn pbpk_prediction_is_compared_and_refitted(dir: &Path, root: &Path, sbml: &str) {
    let flags = [
        "--json",
        "--model",
        "pbpk",
        "--pbpk-model",
        sbml,
        "--pbpk-samples",
        "100",
    ];
    json_of(&cli_predict(root, 7.4, &flags));
    let study2 = write_patient(dir, "study2.json", &[7.4e9, 7.4e9], false);
    let report = twin::sync(
        root,
        &SyncOptions {
            study: study2,
            resync_cycle: None,
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(report.new_cycles, vec![2]);
    let kept = read(&root.join("cycles/2/prediction.json"));
    assert_eq!(kept["as_made"]["model"], "pbpk");
    for e in &report.prediction_errors[0].1 {
        if ["kidney_left", "kidney_right", "tumour_1"].contains(&e.name.as_str()) {
            assert!(
                e.dose.abs() < 0.05,
                "{}: predicted/measured − 1 = {}",
                e.name,
                e.dose
            );
        }
    }
    let o = cli_predict(root, 7.4, &flags);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--measured-cold-nmol") && err.contains("cycle 2"),
        "{err}"
    );
    let mut refit = flags.to_vec();
    refit.extend(["--measured-cold-nmol", "100,100"]);
    let p = json_of(&cli_predict(root, 7.4, &refit));
    assert_eq!(p["cycle"], 3);
    assert_eq!(p["pbpk"]["fitted_now"], true);
    assert_eq!(p["pbpk"]["fitted_cycles"], serde_json::json!([1, 2]));
    let patient = read(&root.join("pbpk/patient.json"));
    assert_eq!(patient["earlier_cycles"][0]["cycle"], 1);
    assert_eq!(
        patient["residuals"].as_array().unwrap().len(),
        16,
        "2 cycles × 2 organs × 4 scans"
    );
}

/// Bad input to `twin predict --model pbpk`: a missing model file flag, an SBML model whose
/// organs are none of the twin's regions, a negative cold amount, and PBRPK flags without
/// `--model pbpk`: each a clear message and its own exit code.
#[test]
fn pbpk_model_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("twin");
    let study = write_patient(dir.path(), "study.json", &[7.4e9], false);
    twin::init(&root, &init_opts(study, None, 2e5), &mut Silent).unwrap();
    let good = dir.path().join("receptor.sbml");
    std::fs::write(&good, receptor_sbml(["Kidney", "Tumor"])).unwrap();
    let foreign = dir.path().join("liver.sbml");
    std::fs::write(&foreign, receptor_sbml(["Liver", "Spleen"])).unwrap();
    let fit = [
        "--params",
        "R_K,krel_K",
        "--measured-cold-nmol",
        "100",
        "--pbpk-samples",
        "20",
    ];
    let run = |extra: &[&str]| {
        let o = cli_predict(&root, 7.4, extra);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--model", "pbpk"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--pbpk-model"), "{err}");
    let mut args = vec!["--model", "pbpk", "--pbpk-model", foreign.to_str().unwrap()];
    args.extend(fit);
    let (code, err) = run(&args);
    assert_eq!(code, Some(63), "{err}");
    assert!(
        err.contains("Liver") && err.contains("kidney_left") && err.contains("--map"),
        "{err}"
    );
    let mut args = vec![
        "--model",
        "pbpk",
        "--pbpk-model",
        good.to_str().unwrap(),
        "--cold-nmol",
        "-5",
    ];
    args.extend(fit);
    let (code, err) = run(&args);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("--cold-nmol") && err.contains("≥ 0"), "{err}");
    let (code, err) = run(&["--cold-nmol", "50"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("--model pbpk"), "{err}");
    // An explicit map naming a region the twin lacks: the mapping error too.
    let mut args = vec![
        "--model",
        "pbpk",
        "--pbpk-model",
        good.to_str().unwrap(),
        "--map",
        "Kidney=liver",
    ];
    args.extend(fit);
    let (code, err) = run(&args);
    assert_eq!(code, Some(63), "{err}");
    // Nothing of these refused runs was written into the twin.
    assert!(!root.join("pbpk").exists());
}
