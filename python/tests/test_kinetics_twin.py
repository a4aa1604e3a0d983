"""Kinetics, BED and the twin from Python, on the synthetic patient of conftest.py."""

from __future__ import annotations

import numpy as np
import pytest

import voxdose
from conftest import AFFINE, GRID, ORGANS, expected_tia_bq_s


def test_bed_of_a_uniform_dose_is_the_readme_check_value():
    # README / TWIN.md §1: 10 Gy, T_eff 50 h, kidney → BED 12.0396 Gy, EQD2 6.8050 Gy.
    dose = np.full((4, 4, 4), 10.0, dtype=np.float32)
    r = voxdose.bed(dose, np.eye(4), effective_half_life_h=50, tissue="kidney")
    assert r.bed.shape == (4, 4, 4)
    assert np.allclose(r.bed, 12.0396, atol=2e-4)
    assert np.allclose(r.eqd2, 6.8050, atol=2e-4)
    assert isinstance(r.summary, dict)


def test_bed_refuses_a_dose_per_decay():
    r = voxdose.run_phantom("water-sphere", decays=2000, device="cpu", progress=False,
                            radius_mm=10, voxel_mm=4, grid=16)
    with pytest.raises(voxdose.RadiobiologyError) as err:
        voxdose.bed(r, effective_half_life_h=50, tissue="kidney")
    assert err.value.exit_code == 31


def test_fit_gives_the_tia_of_mono_exponential_organs(study):
    fit = voxdose.fit(study)
    assert fit.tia.shape == GRID and fit.tia.dtype == np.float32
    assert np.allclose(fit.affine, AFFINE)
    for label, (name, *_rest) in ORGANS.items():
        row = next(r for r in fit.regions if r["name"] == name)
        # Noise-free mono-exponential scans: the fit recovers Ã (4 points, 4 h to 7 d).
        assert row["tia_bq_s"] == pytest.approx(expected_tia_bq_s(label), rel=0.01), name
    total = sum(expected_tia_bq_s(k) for k in ORGANS)
    assert float(fit.tia.sum(dtype=np.float64)) == pytest.approx(total, rel=0.01)


def test_fit_of_a_missing_study_raises_an_input_error(tmp_path):
    with pytest.raises(voxdose.VoxdoseError) as err:
        voxdose.fit(tmp_path / "no-such-study.json")
    assert err.value.exit_code in range(8, 31)


def test_twin_init_predict_plan_status(study, tmp_path):
    twin = voxdose.Twin.init(tmp_path / "twin", study, decays=2e4, smatrix_decays=2e4,
                             device="cpu", patient_id="synthetic", progress=False)
    status = twin.status()
    assert status["patient"] == "synthetic"
    assert len(status["cycles"]) == 1
    p = twin.predict(6.0)
    kidney = next(o for o in p["organs"] if o["name"] == "kidney_left")
    assert kidney["dose_gy_p2_5"] <= kidney["dose_gy"] <= kidney["dose_gy_p97_5"]
    assert kidney["dose_gy"] > 0
    # Dose is linear in activity: 12 GBq predicts twice 6 GBq's median dose (same draws).
    p12 = twin.predict(12.0)
    k12 = next(o for o in p12["organs"] if o["name"] == "kidney_left")
    assert k12["dose_gy"] == pytest.approx(2 * kidney["dose_gy"], rel=1e-6)
    plan = twin.plan({"kidney_left": {"dose": 20.0}}, confidence=0.95)
    assert plan["activity_gbq"] > 0
    assert plan["limiting_organ"] == "kidney_left"
    # Nothing new in the same study: sync changes nothing.
    report = twin.sync(study, progress=False)
    assert report["new_cycles"] == [] and report["updated_cycles"] == []


def test_a_folder_that_is_no_twin_raises_a_twin_error(tmp_path):
    with pytest.raises(voxdose.TwinError) as err:
        voxdose.Twin(tmp_path).status()
    assert err.value.exit_code == 48


def test_a_study_run_gives_the_cli_dose_in_gy(study, cli, tmp_path):
    config = {"input": {"kind": "study", "study": str(study)},
              "transport": {"stop": {"decays": 20000}, "seed": 3, "device": "cpu"}}
    r = voxdose.run(config, progress=False)
    assert r.dose_unit == "Gy" and r.dose.shape == GRID
    assert np.allclose(r.affine, AFFINE)
    assert set(r.region_names) >= {v[0] for v in ORGANS.values()}
    done = cli("run", "--study", study, "--decays", "20000", "--seed", "3", "--device", "cpu",
               "--quiet", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    cli_dose, _ = voxdose.read_nifti(tmp_path / "out" / "dose.nii.gz")
    assert np.array_equal(cli_dose.view(np.uint32), r.dose.view(np.uint32))
