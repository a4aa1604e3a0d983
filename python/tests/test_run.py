"""Dose runs from Python against the command line: same seed, same dose bit for bit; arrays
with nibabel's shape, dtype and affine; errors with the command line's codes and messages;
the GIL released during transport; Ctrl-C stops a run."""

from __future__ import annotations

import _thread
import json
import threading
import time

import nibabel as nib
import numpy as np
import pytest

import voxdose

# A small, quick run: the water sphere of the README on a coarse grid, on the CPU.
PHANTOM = dict(radius_mm=10, voxel_mm=4, grid=16)
DECAYS = 20000
SEED = 7


def cli_args(out) -> list:
    return ["run", "--phantom", "water-sphere", "--radius-mm", "10", "--voxel-mm", "4",
            "--grid", "16", "--decays", str(DECAYS), "--seed", str(SEED), "--device", "cpu",
            "--quiet", "--out", str(out)]


@pytest.fixture(scope="module")
def cli_out(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "out"
    done = cli(*cli_args(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def py_run():
    return voxdose.run_phantom("water-sphere", decays=DECAYS, seed=SEED, device="cpu",
                               progress=False, **PHANTOM)


def test_same_seed_gives_the_cli_dose_bit_for_bit(cli_out, py_run):
    img = nib.load(str(cli_out / "dose.nii.gz"))
    cli_dose = np.asanyarray(img.dataobj)
    assert py_run.dose.dtype == cli_dose.dtype == np.float32
    assert py_run.dose.shape == cli_dose.shape == (16, 16, 16)
    assert np.array_equal(py_run.dose.view(np.uint32), cli_dose.view(np.uint32))
    assert py_run.dose.max() > 0
    sigma = np.asanyarray(nib.load(str(cli_out / "uncertainty.nii.gz")).dataobj)
    assert py_run.sigma.dtype == sigma.dtype
    assert np.array_equal(py_run.sigma.view(np.uint32), sigma.view(np.uint32))
    # The NIfTI affine holds f32 values.
    assert np.array_equal(py_run.affine.astype(np.float32).astype(np.float64), img.affine)
    assert np.allclose(py_run.affine, img.affine, atol=1e-5)
    summary = json.loads((cli_out / "summary.json").read_text())
    for key in ("decays", "seed", "batches", "dose_unit", "nuclide", "energy_balance_units"):
        assert py_run.summary[key] == summary[key], key
    assert py_run.dose_unit == "Gy per decay"


def test_the_time_estimate_is_a_note_and_in_the_summary(py_run):
    # As the command line prints it before the transport (`voxdose: estimate: …`).
    lines = [n for n in py_run.notes if n.startswith("estimate: about ")]
    assert len(lines) == 1, py_run.notes
    e = py_run.summary["estimate"]
    assert f"for {DECAYS} decays" in lines[0]
    assert e["planned_decays"] == DECAYS and 0 < e["pilot_decays"] < DECAYS
    assert e["decays_per_second"] > 0


def test_run_json_of_the_cli_runs_again_bit_for_bit(cli_out, py_run):
    again = voxdose.run(cli_out / "run.json", progress=False)
    assert np.array_equal(again.dose.view(np.uint32), py_run.dose.view(np.uint32))
    # The dict form, as Result.config holds it.
    third = voxdose.run(py_run.config, progress=False)
    assert np.array_equal(third.dose.view(np.uint32), py_run.dose.view(np.uint32))


def test_the_dose_is_where_the_source_is(py_run):
    # The sphere is centred: the hottest voxel is at the centre of the 16³ grid.
    i, j, k = np.unravel_index(np.argmax(py_run.dose), py_run.dose.shape)
    assert all(7 <= x <= 8 for x in (i, j, k))
    assert np.allclose(py_run.sigma_gy, py_run.dose * py_run.sigma)


def test_unknown_phantom_raises_the_cli_error(cli, tmp_path):
    with pytest.raises(voxdose.UnknownNameError) as err:
        voxdose.run_phantom("no-such-phantom", decays=100, device="cpu", progress=False)
    assert err.value.exit_code == 4
    assert isinstance(err.value, voxdose.VoxdoseError)
    done = cli("run", "--phantom", "no-such-phantom", "--decays", "100", "--device", "cpu",
               "--out", tmp_path / "x")
    assert done.returncode == 4
    assert f"voxdose: error: {err.value}" in done.stderr


def test_invalid_values_raise_invalid_option_errors():
    with pytest.raises(voxdose.InvalidOptionError) as err:
        voxdose.run_phantom("water-sphere", decays=-5, device="cpu", progress=False)
    assert err.value.exit_code == 3
    assert "--decays" in str(err.value)
    with pytest.raises(voxdose.InvalidOptionError) as err:
        voxdose.run_phantom("water-sphere", decays=100, no_such_option=1, progress=False)
    assert "no_such_option" in str(err.value)
    with pytest.raises(voxdose.InvalidOptionError):
        voxdose.run({"input": {"kind": "phantom"}}, progress=False)


def test_the_gil_is_released_during_transport():
    calls = []
    box = {}

    def work():
        box["result"] = voxdose.run_phantom(
            "water-sphere", decays=150000, seed=3, device="cpu", threads=1,
            progress=lambda done, total: calls.append((done, total)), **PHANTOM)

    t = threading.Thread(target=work)
    t.start()
    spins, start = 0, time.perf_counter()
    while t.is_alive():
        spins += 1  # pure Python: runs only while the transport thread has released the GIL
    elapsed = time.perf_counter() - start
    t.join()
    assert "result" in box
    assert elapsed > 0.05, "the run was too short to show anything"
    assert spins > 10000, f"only {spins} loop turns in {elapsed:.2f} s: the GIL was held"
    assert calls[0] == (0, 150000) and calls[-1] == (150000, 150000)
    assert len(calls) == 21  # the start and 20 batches


def test_ctrl_c_stops_a_run_with_keyboard_interrupt():
    # A run of ~minutes; a simulated Ctrl-C after 0.5 s must end it within a batch or two.
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        voxdose.run_phantom("water-sphere", decays=1e8, batches=10000, device="cpu",
                            progress=False, **PHANTOM)
    assert time.perf_counter() - start < 30


def test_an_exception_in_the_progress_callback_stops_the_run():
    def boom(done, total):
        if done > 0:
            raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        voxdose.run_phantom("water-sphere", decays=1e8, batches=10000, device="cpu",
                            progress=boom, **PHANTOM)


def test_patient_arrays_give_the_cli_dose_of_the_same_files(cli, tmp_path):
    # A water cube (0 HU) in air with a uniform source in its middle, 4 mm voxels.
    shape = (12, 10, 8)
    affine = np.diag([-4.0, -4.0, 4.0, 1.0])
    affine[:3, 3] = [20.0, 18.0, -14.0]
    ct = np.full(shape, -1000.0, dtype=np.float32)
    ct[2:10, 2:8, 1:7] = 0.0
    act = np.zeros(shape, dtype=np.float32)
    act[4:8, 3:7, 2:6] = 1e5
    labels = np.zeros(shape, dtype=np.uint16)
    labels[4:8, 3:7, 2:6] = 1
    r = voxdose.run_patient(ct, act, labels, affine=affine, decays=DECAYS, seed=SEED,
                            device="cpu", progress=False)
    assert r.dose.shape == shape and r.dose.dtype == np.float32
    assert np.allclose(r.affine, affine)
    assert r.labels.shape == shape and np.array_equal(r.labels > 0, labels > 0)
    # The same arrays as files, through the command line.
    voxdose.write_nifti(tmp_path / "ct.nii.gz", ct, affine, "CT")
    voxdose.write_nifti(tmp_path / "act.nii.gz", act, affine, "Bq/mL")
    voxdose.write_nifti(tmp_path / "labels.nii.gz", labels, affine, "labels", labels=True)
    done = cli("run", "--ct", tmp_path / "ct.nii.gz", "--spect", tmp_path / "act.nii.gz",
               "--labels", tmp_path / "labels.nii.gz", "--decays", str(DECAYS), "--seed",
               str(SEED), "--device", "cpu", "--quiet", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    img = nib.load(str(tmp_path / "out" / "dose.nii.gz"))
    assert np.array_equal(np.asanyarray(img.dataobj).view(np.uint32), r.dose.view(np.uint32))
    assert np.allclose(img.affine, r.affine, atol=1e-5)


def test_an_array_without_affine_is_refused():
    with pytest.raises(voxdose.InvalidOptionError, match="affine"):
        voxdose.run_patient(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), progress=False)


def test_progress_goes_to_a_tqdm_bar_when_tqdm_is_installed(capsys):
    pytest.importorskip("tqdm")
    r = voxdose.run_phantom("water-sphere", decays=2000, device="cpu", progress=True, **PHANTOM)
    assert r.summary["decays"] == 2000
    err = capsys.readouterr().err
    assert "transport" in err and "decays" in err
