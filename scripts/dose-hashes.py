#!/usr/bin/env python3
"""Runs a fixed set of voxdose runs and prints one SHA-256 per output map (the voxel data
only, not the NIfTI header, so a changed description does not count), to check that a
refactor leaves doses bit for bit the same.

    python3 scripts/dose-hashes.py --voxdose target/release/voxdose > now.txt
    python3 scripts/dose-hashes.py --voxdose target/release/voxdose --check scripts/dose-hashes.txt

Cases: the built-in phantoms (water-sphere, nema-iec, slab, vsv, patient15), a DICOM patient
(CT + PET + RTSTRUCT from tests/data) and two synthetic studies (no registration with a
reference CT; rigid registration), each on the CPU reference and on the wgpu device
(lavapipe without a GPU), seed 7. Inputs are generated with numpy and nibabel
(`pip install numpy nibabel`). The GPU hashes hold for one device and driver: the stored
file names the machine it came from.
"""
import argparse, gzip, hashlib, json, os, struct, subprocess, sys, tempfile

import numpy as np
import nibabel as nib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def voxel_hash(path):
    raw = gzip.open(path, "rb").read()
    offset = int(struct.unpack("<f", raw[108:112])[0])
    return hashlib.sha256(raw[offset:]).hexdigest()[:16]


def write_nii(path, data, spacing=4.0, origin=(-20.0, -24.0, -16.0)):
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = origin
    img = nib.Nifti1Image(data.astype(np.float32), aff)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)


def make_studies(d):
    shape = (12, 14, 10)
    i, j, k = np.indices(shape)
    hot = (abs(i - 5) <= 2) & (abs(j - 7) <= 3) & (abs(k - 4) <= 2)
    warm = (abs(i - 9) <= 1) & (abs(j - 3) <= 1) & (abs(k - 6) <= 1)
    ct = np.where(hot, 60.0, np.where(warm, 900.0, np.where(i < 2, -700.0, 0.0)))
    write_nii(f"{d}/ct.nii.gz", ct)
    labels = np.where(hot, 1, np.where(warm, 2, 0))
    write_nii(f"{d}/labels.nii.gz", labels)
    pts = []
    for h in (4.0, 24.0, 72.0, 168.0):
        a = 2e5 * np.exp(-np.log(2) / 60 * h) * hot + 5e4 * np.exp(-np.log(2) / 30 * h) * warm
        name = f"spect_{int(h):03d}h.nii.gz"
        # The rigid study's later scans are shifted by one voxel along x (no background,
        # so nothing is cut at the grid's edge).
        write_nii(f"{d}/shifted_{name}", np.roll(a, 1 if h > 4 else 0, axis=0))
        write_nii(f"{d}/{name}", a + 500.0 * np.exp(-np.log(2) / 20 * h))
        pts.append((name, h))
    def study(name, reg, prefix, ref):
        tps = ", ".join(f'{{"image": "{prefix}{n}", "hours": {h}}}' for n, h in pts)
        rc = '"reference_ct": "ct.nii.gz",' if ref else ""
        with open(f"{d}/{name}", "w") as f:
            f.write(f'{{"nuclide": "Lu-177", "units": "Bq/mL", {rc} "labels": "labels.nii.gz", '
                    f'"region_names": {{"1": "hot", "2": "warm"}}, "registration": "{reg}", '
                    f'"cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{tps}]}}]}}')
    study("study_none.json", "none", "", True)
    study("study_rigid.json", "rigid", "shifted_", False)


def cases(d):
    dcm = os.environ.get("VOXDOSE_TESTDATA", f"{ROOT}/../shared/testdata") + "/dicom/sts002_ct_pet_rtstruct"
    yield "water-sphere", ["--phantom", "water-sphere", "--decays", "2e5"]
    yield "nema-iec", ["--phantom", "nema-iec", "--decays", "2e5"]
    yield "slab", ["--phantom", "slab", "--decays", "1e5"]
    yield "slab-dose-to-water", ["--phantom", "slab", "--decays", "1e5", "--dose-to", "water"]
    yield "vsv", ["--phantom", "vsv", "--decays", "1e5"]
    yield "water-sphere-target", ["--phantom", "water-sphere", "--target-uncertainty", "5",
                                  "--max-decays", "3e5"]
    yield "patient15", ["--phantom", "patient15", "--decays", "2e5"]
    yield "patient-dicom", ["--ct", f"{dcm}/CT", "--spect", f"{dcm}/PET", "--rtstruct",
                            f"{dcm}/RS_CT.dcm", "--nuclide", "Lu-177",
                            "--tia-from-single-scan", "physical-decay", "--decays", "2e5"]
    yield "study-none", ["--study", f"{d}/study_none.json", "--decays", "1e5"]
    yield "study-rigid", ["--study", f"{d}/study_rigid.json", "--decays", "1e5"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxdose", default=f"{ROOT}/target/release/voxdose")
    ap.add_argument("--devices", default="cpu,gpu")
    ap.add_argument("--check", help="a stored hash file to compare with")
    ap.add_argument("--only", help="comma-separated case names")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        make_studies(d)
        for name, args in cases(d):
            if a.only and name not in a.only.split(","):
                continue
            for dev in a.devices.split(","):
                out = f"{d}/out-{name}-{dev}"
                cmd = [a.voxdose, "run", *args, "--seed", "7", "--device", dev, "--quiet",
                       "--out", out]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    rows.append(f"{name} {dev} FAILED({p.returncode})")
                    print(p.stderr, file=sys.stderr)
                    continue
                for f in ("dose.nii.gz", "uncertainty.nii.gz", "tia.nii.gz"):
                    if os.path.exists(f"{out}/{f}"):
                        rows.append(f"{name} {dev} {f} {voxel_hash(f'{out}/{f}')}")
                print(rows[-1], file=sys.stderr)
    if a.check:
        stored = {" ".join(l.split()[:3]): l.split()[3] for l in open(a.check)
                  if l.strip() and not l.startswith("#")}
        bad = 0
        for r in rows:
            key, h = " ".join(r.split()[:3]), r.split()[-1]
            if stored.get(key) != h:
                bad += 1
                print(f"DIFFERS: {r} (stored {stored.get(key)})")
            else:
                print(f"same:    {r}")
        sys.exit(1 if bad else 0)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
