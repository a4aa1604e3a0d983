"""Shared fixtures: the command-line binary to compare with, and a synthetic study."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import voxdose

ROOT = Path(__file__).resolve().parents[2]


def _cli() -> str | None:
    """The `voxdose` binary built from the root crate: $VOXDOSE_BIN, else target/{debug,release}."""
    env = os.environ.get("VOXDOSE_BIN")
    if env:
        return env
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "voxdose"
        if p.exists():
            return str(p)
    return shutil.which("voxdose")


@pytest.fixture(scope="session")
def cli():
    """Runs the command line: cli(*args) → CompletedProcess (never raises on exit codes)."""
    exe = _cli()
    if exe is None:
        if os.environ.get("VOXDOSE_REQUIRE_CLI") == "1":
            pytest.fail("no voxdose binary: build it with `cargo build` or set VOXDOSE_BIN")
        pytest.skip("no voxdose binary (cargo build, or VOXDOSE_BIN)")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600)

    return run


# The synthetic two-organ patient of the twin tests (src/phantoms/twin_patient.rs), smaller:
# 4 mm voxels, mono-exponential kinetics, noise free.
GRID = (16, 16, 12)
AFFINE = np.array([[-4.0, 0, 0, 32.0], [0, -4.0, 0, 32.0], [0, 0, 4.0, -24.0], [0, 0, 0, 1]])
ORGANS = {  # label: (name, lo, hi, uptake fraction, biological half-life h)
    1: ("kidney_left", (3, 4, 3), (6, 9, 8), 0.0005, 80.0),
    2: ("kidney_right", (10, 4, 3), (13, 9, 8), 0.0005, 80.0),
    3: ("tumour_1", (7, 10, 4), (10, 13, 7), 0.001, 120.0),
}
LU177_HALF_LIFE_H = 6.647 * 24.0
INJECTED_BQ = 7.4e9
HOURS = (4.0, 24.0, 72.0, 168.0)


def expected_tia_bq_s(label: int) -> float:
    """Ã of an organ, Bq·s: A0 f / λ_eff with λ_eff = λ_phys + λ_bio."""
    _, _, _, f, t_bio = ORGANS[label]
    lam = math.log(2) / LU177_HALF_LIFE_H + math.log(2) / t_bio
    return INJECTED_BQ * f / lam * 3600.0


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """A one-cycle study of the synthetic patient (labels, four scans in Bq/mL)."""
    d = tmp_path_factory.mktemp("study")
    labels = np.zeros(GRID, dtype=np.uint16)
    for label, (_, lo, hi, _, _) in ORGANS.items():
        labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = label
    voxdose.write_nifti(d / "labels.nii.gz", labels, AFFINE, "labels", labels=True)
    ml = 4.0 ** 3 * 1e-3
    lam_phys = math.log(2) / LU177_HALF_LIFE_H
    points = []
    for t in HOURS:
        conc = np.zeros(GRID, dtype=np.float32)
        for label, (_, _, _, f, t_bio) in ORGANS.items():
            n = np.count_nonzero(labels == label)
            lam = lam_phys + math.log(2) / t_bio
            conc[labels == label] = INJECTED_BQ * f / n / ml * math.exp(-lam * t)
        name = f"c1_{int(t):03d}h.nii.gz"
        voxdose.write_nifti(d / name, conc, AFFINE, "Bq/mL")
        points.append({"image": name, "hours": t})
    study = {
        "nuclide": "Lu-177", "units": "Bq/mL", "labels": "labels.nii.gz",
        "region_names": {str(k): v[0] for k, v in ORGANS.items()},
        "registration": "none", "models": ["mono-exp"], "voxel_model": "mono-exp",
        "cycles": [{"injected_activity_bq": INJECTED_BQ, "date": "2026-03-01", "time_points": points}],
    }
    path = d / "study.json"
    path.write_text(json.dumps(study, indent=1))
    return path
