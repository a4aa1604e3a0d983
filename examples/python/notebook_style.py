"""voxdose from Python, cell by cell as in a notebook.

Install the package first (from the repository root):

    pip install ./python nibabel        # nibabel only for the last cell; tqdm for progress bars

then run this file (`python examples/python/notebook_style.py [decays]`) or paste the cells
into a notebook. Every array is (nx, ny, nz), indexed [i, j, k] like nibabel, with a 4×4
voxel → RAS mm affine.
"""

# %% A dose kernel in water: 177Lu in a 10 mm sphere, Gy per decay
import sys
import tempfile
import threading

import numpy as np

import voxdose

decays = float(sys.argv[1]) if len(sys.argv) > 1 else 2e5
r = voxdose.run_phantom("water-sphere", nuclide="Lu-177", decays=decays, seed=1, device="auto",
                        radius_mm=10, voxel_mm=2, grid=32)
print(r)
print(f"device {r.summary['device']['kind']}, {r.summary['decays_per_second']:.3g} decays/s")
centre = tuple(s // 2 for s in r.shape)
profile = r.dose[:, centre[1], centre[2]]
print("dose profile along x (Gy/decay):", np.array2string(profile[::4], precision=2))
print(f"σ at the centre {100 * r.sigma[centre]:.2f} %")

# %% The same sphere as a lesion in Gy: 0.1 % of 7.4 GBq, 60 h effective half-life
# (Ã = A0 · T_eff / ln 2, in Bq·s)
tia_bq_s = 0.001 * 7.4e9 * 60 * 3600 / np.log(2)
gy = voxdose.run_phantom("water-sphere", decays=decays, radius_mm=10, voxel_mm=2, grid=32,
                         tia_bq_s=tia_bq_s, progress=False)
print(f"mean dose in the sphere {gy.summary['regions'][0]['mean_dose']:.2f} {gy.dose_unit}")

# %% BED of that dose, kidney parameters, mono-exponential kinetics
b = voxdose.bed(gy, effective_half_life_h=60, tissue="kidney")
hot = gy.dose > 0.5 * gy.dose.max()
print(f"voxels above half the maximum: dose {gy.dose[hot].mean():.2f} Gy, "
      f"BED {b.bed[hot].mean():.2f} Gy, EQD2 {b.eqd2[hot].mean():.2f} Gy")

# %% A patient from numpy arrays: a water block in air, a hot cube inside
shape, affine = (24, 24, 16), np.diag([-3.0, -3.0, 3.0, 1.0])
ct = np.full(shape, -1000.0, dtype=np.float32)
ct[3:21, 3:21, 2:14] = 0.0                        # HU
activity = np.zeros(shape, dtype=np.float32)
activity[9:15, 9:15, 6:10] = 5e4                  # Bq/mL
labels = (activity > 0).astype(np.uint16)         # region 1: the hot cube
p = voxdose.run_patient(ct, activity, labels, affine=affine, nuclide="Lu-177", decays=decays,
                        progress=False)
print(f"patient grid {p.shape}, regions {p.region_names}, "
      f"mean dose {p.summary['regions'][0]['mean_dose']:.3e} {p.dose_unit}")

# %% Progress to your own callable, the run in a thread while Python goes on
seen = []
worker = threading.Thread(target=lambda: voxdose.run_phantom(
    "water-sphere", decays=decays, device="cpu", progress=lambda done, total: seen.append(done)))
worker.start()
turns = 0
while worker.is_alive():   # the GIL is released during transport: this loop keeps running
    turns += 1
worker.join()
print(f"{len(seen)} progress calls; the main thread turned {turns} times meanwhile")

# %% Errors carry the command line's message and exit code
try:
    voxdose.run_phantom("no-such-phantom", decays=100)
except voxdose.UnknownNameError as e:
    print(f"exit code {e.exit_code}: {e}")

# %% Save as NIfTI (nibabel) next to the command line's own files
try:
    import nibabel as nib
except ImportError:
    nib = None
if nib is not None:
    folder = tempfile.mkdtemp()
    nib.save(nib.Nifti1Image(r.dose, r.affine), f"{folder}/dose_nibabel.nii.gz")
    r.to_nifti(folder)  # dose.nii.gz and uncertainty.nii.gz as voxdose writes them
    print("wrote", folder)
