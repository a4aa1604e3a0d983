#!/usr/bin/env python3
"""Reference organ TIAs of PyCNO's PBRPK models from libroadrunner (CVODE), and their
comparison with `voxdose pbpk simulate`.

The models are not part of voxdose (their licence is not stated): fetch them from
github.com/qurit/PyCNO (`src/pycno/models/PSMA.sbml`, `reduced.sbml`) into a folder and
point this script (and the tests, `VOXDOSE_PYCNO_MODELS`) at it.

Scenario (Fele-Paranj et al., EJNMMI Radiopharm Chem 2024;9:6, as PyCNO runs it): 10 nmol
Hot + 100 nmol Cold into the vein (`Vein` in PSMA.sbml, `Blood` in reduced.sbml) at t = 0,
14 days (20160 min). The time integral of the Hot amount per organ (top-level compartment:
Hot species in it and in its direct children, PyCNO's `get_tags`) is integrated by CVODE
itself: one extra parameter per organ with a rate rule d/dt = sum of its Hot species, so the
reference, like voxdose, does not integrate on the output grid. CVODE tolerances: absolute
1e-12, relative 1e-10.

Usage:
  pip install libroadrunner
  python3 scripts/pbpk_roadrunner_compare.py MODELS_DIR --write tests/data/pbpk_pycno_roadrunner.json
  python3 scripts/pbpk_roadrunner_compare.py MODELS_DIR --voxdose target/release/voxdose
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import roadrunner

SBML_NS = "http://www.sbml.org/sbml/level2/version4"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
END_MIN = 20160.0
SCENARIOS = {"PSMA.sbml": "Vein", "reduced.sbml": "Blood"}


def q(tag):
    return f"{{{SBML_NS}}}{tag}"


def organs(model):
    """Top-level compartment name -> ids of the Hot species in it and its direct children."""
    comps = list(model.find(q("listOfCompartments")))
    species = list(model.find(q("listOfSpecies")))
    out = {}
    for top in comps:
        if top.get("outside"):
            continue
        ids = {top.get("id")} | {c.get("id") for c in comps if c.get("outside") == top.get("id")}
        out[top.get("name")] = [
            s.get("id") for s in species if s.get("compartment") in ids and "Hot" in (s.get("name") or s.get("id"))
        ]
    return out


def species_id(model, comp_name, species_name):
    comp = [c.get("id") for c in model.find(q("listOfCompartments")) if c.get("name") == comp_name]
    hits = [s.get("id") for s in model.find(q("listOfSpecies")) if s.get("compartment") in comp and s.get("name") == species_name]
    assert len(hits) == 1, (comp_name, species_name, hits)
    return hits[0]


def with_integrals(path):
    """The SBML text with one rate-rule parameter per organ integrating its Hot amount."""
    ET.register_namespace("", SBML_NS)
    tree = ET.parse(path)
    model = tree.getroot().find(q("model"))
    org = organs(model)
    params = model.find(q("listOfParameters"))
    rules = model.find(q("listOfRules"))
    names = {}
    for k, (name, ids) in enumerate(org.items()):
        pid = f"voxdose_tia_{k}"
        names[pid] = name
        ET.SubElement(params, q("parameter"), {"id": pid, "value": "0", "constant": "false"})
        rr = ET.SubElement(rules, q("rateRule"), {"variable": pid})
        math = ET.SubElement(rr, f"{{{MATHML_NS}}}math")
        if ids:
            ap = ET.SubElement(math, f"{{{MATHML_NS}}}apply")
            ET.SubElement(ap, f"{{{MATHML_NS}}}plus")
            for i in ids:
                ET.SubElement(ap, f"{{{MATHML_NS}}}ci").text = i
        else:
            ET.SubElement(math, f"{{{MATHML_NS}}}cn").text = "0"
    return ET.tostring(tree.getroot(), encoding="unicode"), names, model


def reference(models_dir):
    out = {}
    for file, vein in SCENARIOS.items():
        path = os.path.join(models_dir, file)
        text, names, model = with_integrals(path)
        rr = roadrunner.RoadRunner(text)
        rr.integrator.absolute_tolerance = 1e-12
        rr.integrator.relative_tolerance = 1e-10
        rr.integrator.maximum_num_steps = 1_000_000
        rr[species_id(model, vein, "Hot")] += 10.0
        rr[species_id(model, vein, "Cold")] += 100.0
        rr.timeCourseSelections = ["time"] + list(names)
        t0 = time.perf_counter()
        res = rr.simulate(0.0, END_MIN, 2017)
        wall = time.perf_counter() - t0
        last = res[-1]
        out[file] = {
            "organ_hot_integral_nmol_min": {names[p]: float(last[1 + k]) for k, p in enumerate(names)},
            "scenario": f"10 nmol {vein}.Hot + 100 nmol {vein}.Cold at 0, integrated 0..{END_MIN} min",
            "solver": "libroadrunner %s, CVODE, absolute 1e-12, relative 1e-10" % roadrunner.__version__,
            "wall_s": wall,
        }
    return out


def compare(models_dir, ref, voxdose):
    worst = 0.0
    for file, vein in SCENARIOS.items():
        with tempfile.TemporaryDirectory() as out:
            cmd = [voxdose, "pbpk", "simulate", "--model", os.path.join(models_dir, file),
                   "--dose", f"{vein}.Hot=10,{vein}.Cold=100", "--minutes", f"0:{int(END_MIN)}:10",
                   "--rtol", "1e-9", "--atol-nmol", "1e-13", "--out", out]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            tia = json.load(open(os.path.join(out, "tia.json")))
        molar = tia["molar_activity_mbq_per_nmol"]
        print(f"{file}: organ, libroadrunner ∫Hot dt (nmol·min), voxdose, relative difference")
        for organ, want in ref[file]["organ_hot_integral_nmol_min"].items():
            got = tia["organs"][organ]["tia_mbq_h"] / molar * 60.0
            rel = (got - want) / want if want else 0.0
            worst = max(worst, abs(rel))
            print(f"  {organ:<12} {want:14.8e} {got:14.8e} {rel:+.2e}")
    print(f"largest relative difference: {worst:.2e}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models_dir")
    ap.add_argument("--write", help="write the reference JSON here")
    ap.add_argument("--voxdose", help="voxdose binary to compare against the reference")
    a = ap.parse_args()
    ref = reference(a.models_dir)
    if a.write:
        with open(a.write, "w") as f:
            json.dump(ref, f, indent=2)
            f.write("\n")
    if a.voxdose:
        worst = compare(a.models_dir, ref, a.voxdose)
        sys.exit(0 if worst <= 1e-3 else 1)
    if not a.write:
        json.dump(ref, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
