"""voxdose from Python: voxel Monte Carlo dosimetry for radiopharmaceutical therapy.

Dose runs, kinetics fits, BED and the theranostic digital twin, with numpy arrays in and out.
The work is done by the voxdose library (Rust) with the GIL released, so other Python threads
run meanwhile; Ctrl-C stops a transport after the batch in flight and raises
``KeyboardInterrupt``.

Arrays follow nibabel: a volume has shape ``(nx, ny, nz)`` and is indexed ``[i, j, k]``;
``affine`` maps ``(i, j, k, 1)`` to RAS millimetres, as a NIfTI file's sform, so
``nibabel.Nifti1Image(result.dose, result.affine)`` is the ``dose.nii.gz`` the command line
writes.

>>> import voxdose
>>> r = voxdose.run_phantom("water-sphere", decays=1e5, device="cpu")  # doctest: +SKIP
>>> r.dose.shape, r.summary["dose_unit"]  # doctest: +SKIP
((64, 64, 64), 'Gy per decay')
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._errors import (
    DeviceError,
    InputError,
    InternalError,
    InvalidOptionError,
    KernelError,
    KineticsError,
    MaterialsError,
    OutputExistsError,
    OutputNotWritableError,
    PartialVolumeError,
    PbpkError,
    RadiobiologyError,
    TwinError,
    UnknownNameError,
    VoxdoseError,
)

__version__ = _native.__version__

__all__ = [
    "Result",
    "FitResult",
    "BedResult",
    "Twin",
    "run",
    "run_phantom",
    "run_patient",
    "fit",
    "bed",
    "read_nifti",
    "write_nifti",
    "VoxdoseError",
    "InternalError",
    "InvalidOptionError",
    "UnknownNameError",
    "OutputExistsError",
    "OutputNotWritableError",
    "DeviceError",
    "InputError",
    "KineticsError",
    "RadiobiologyError",
    "PartialVolumeError",
    "MaterialsError",
    "KernelError",
    "TwinError",
    "PbpkError",
]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[bool, Callable[[int, int], Any], None]

# ---------------------------------------------------------------------------------------------
# Volumes


def _volume(flat: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """A flat array in voxdose's linear order (i fastest) as shape (nx, ny, nz)."""
    nx, ny, nz = (int(d) for d in dims)
    return flat.reshape((nz, ny, nx)).transpose(2, 1, 0)


def _flat(array: np.ndarray, dtype: Any) -> np.ndarray:
    """An (nx, ny, nz) array as voxdose's flat linear order."""
    a = np.asarray(array)
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if a.ndim != 3:
        raise InvalidOptionError(
            f"invalid value for array: shape {a.shape}; give a 3-D volume of shape (nx, ny, nz)",
            3,
        )
    return np.ascontiguousarray(a.astype(dtype, copy=False).transpose(2, 1, 0)).ravel()


def _affine(affine: Any) -> List[List[float]]:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InvalidOptionError(
            f"invalid value for affine: {a.shape} array; give the 4×4 voxel → RAS mm matrix (nibabel's img.affine)",
            3,
        )
    return a.tolist()


def read_nifti(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """Reads a NIfTI file with voxdose's reader: ``(data, affine)``, data float32 (nx, ny, nz)."""
    d = _native.read_volume(os.fspath(path))
    return _volume(d["data"], d["dims"]), np.array(d["affine"])


def write_nifti(
    path: PathLike, data: np.ndarray, affine: Any, description: str = "", labels: bool = False
) -> None:
    """Writes ``data`` (nx, ny, nz) on ``affine`` as NIfTI-1 (float32, or uint16 with
    ``labels=True``) with voxdose's writer."""
    a = np.asarray(data)
    dims = list(a.shape[:3])
    if labels:
        if a.size and (a.min() < 0 or a.max() > 65535 or not np.all(np.mod(a, 1) == 0)):
            raise InvalidOptionError(
                "invalid value for labels: give whole numbers from 0 to 65535", 3
            )
        _native.write_labels(os.fspath(path), _flat(a, np.uint16), dims, _affine(affine), description)
    else:
        _native.write_volume(os.fspath(path), _flat(a, np.float32), dims, _affine(affine), description)


def _as_path(
    value: Any, name: str, folder: str, affine: Any = None, labels: bool = False, description: str = ""
) -> Optional[str]:
    """A path for an input given as a path, a nibabel image, an ``(array, affine)`` pair or an
    array with ``affine``; arrays are written as NIfTI into ``folder``."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if hasattr(value, "affine") and hasattr(value, "get_fdata"):
        value, affine = np.asanyarray(value.dataobj), value.affine
    elif isinstance(value, tuple) and len(value) == 2:
        value, affine = value
    if affine is None:
        raise InvalidOptionError(
            f"invalid value for {name}: an array needs its affine; give ({name}_array, affine) or affine=",
            3,
        )
    path = os.path.join(folder, f"{name}.nii.gz")
    write_nifti(path, value, affine, description or f"{name} from Python", labels=labels)
    return path


# ---------------------------------------------------------------------------------------------
# Progress


def _progress(progress: Progress, what: str = "transport") -> Tuple[Optional[Callable[[int, int], Any]], Callable[[], None]]:
    """The callable the library calls after each batch, and how to close it."""
    if callable(progress):
        return progress, lambda: None
    if progress is False:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm  # type: ignore
    except ImportError:
        return None, lambda: None
    bar: Dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="decays", unit_scale=True, desc=what, leave=False)
        b = bar["bar"]
        if done < b.n or total != b.total:  # the next transport of a twin's cycle
            b.reset(total=total)
        b.update(done - b.n)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _warn(warnings_list: Sequence[str]) -> None:
    import warnings

    for w in warnings_list:
        warnings.warn(w, RuntimeWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# Dose runs


class Result:
    """A dose run's results.

    - ``dose``: float32 (nx, ny, nz), in ``summary["dose_unit"]`` (Gy per decay, or Gy with a
      TIA); the values of the command line's ``dose.nii.gz``, bit for bit.
    - ``sigma``: float32 (nx, ny, nz), the relative standard uncertainty per voxel
      (``uncertainty.nii.gz``); ``sigma_gy`` is it in the dose's unit.
    - ``affine``: 4×4 voxel → RAS mm (the NIfTI sform).
    - ``summary``: what ``summary.json`` holds.
    - ``labels``, ``region_names``: the model's regions (label n + 1 is ``region_names[n]``).
    - ``config``: the configuration run (``run.json``); ``notes``, ``warnings``: the log
      (the notes hold the time estimate the command line prints before the transport,
      ``estimate: about …``; ``summary["estimate"]`` has its figures).
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        dims = raw["dims"]
        self.dose: np.ndarray = _volume(raw["data"], dims)
        self.sigma: np.ndarray = _volume(raw["sigma"], dims)
        self.labels: np.ndarray = _volume(raw["labels"], dims)
        self.region_names: List[str] = list(raw["region_names"])
        self.affine: np.ndarray = np.array(raw["affine"], dtype=np.float64)
        self.summary: Dict[str, Any] = json.loads(raw["summary_json"])
        self.config: Dict[str, Any] = json.loads(raw["config_json"])
        self.notes: List[str] = list(raw["notes"])
        self.warnings: List[str] = list(raw["warnings"])

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(nx, ny, nz)."""
        return tuple(self.dose.shape)  # type: ignore[return-value]

    @property
    def dose_unit(self) -> str:
        """"Gy per decay" or "Gy"."""
        return str(self.summary["dose_unit"])

    @property
    def sigma_gy(self) -> np.ndarray:
        """The one-σ uncertainty of the dose, in the dose's unit."""
        return self.dose * self.sigma

    def to_nifti(self, folder: PathLike) -> None:
        """Writes ``dose.nii.gz`` and ``uncertainty.nii.gz`` into ``folder``."""
        os.makedirs(folder, exist_ok=True)
        q = self.summary.get("dose_quantity", "")
        write_nifti(os.path.join(folder, "dose.nii.gz"), self.dose, self.affine,
                    f"voxdose absorbed dose in {self.dose_unit}: {q}")
        write_nifti(os.path.join(folder, "uncertainty.nii.gz"), self.sigma, self.affine,
                    "voxdose relative standard uncertainty of dose")

    def __repr__(self) -> str:
        s = self.summary
        return (f"<voxdose.Result {s.get('phantom')} {self.shape} {s.get('decays')} decays, "
                f"dose in {self.dose_unit}>")


def run(
    config: Union[Mapping[str, Any], PathLike],
    *,
    progress: Progress = True,
    study_dir: Optional[PathLike] = None,
) -> Result:
    """Runs a configuration: a dict with the keys of ``run.json``, or the path of a
    ``run.json`` (every run of the command line writes one). A study configuration writes its
    kinetics fit into ``study_dir`` (a temporary folder, removed afterwards, when not given).
    ``progress``: True for a tqdm bar when tqdm is installed, False for none, or a callable
    ``progress(decays_done, decays_expected)`` called after each batch (from another thread;
    an exception it raises stops the run and is raised).
    """
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as f:
            text = f.read()
    else:
        text = json.dumps(config)
    callback, close = _progress(progress)
    try:
        kind = json.loads(text).get("input", {}).get("kind")
    except (ValueError, AttributeError):
        kind = None  # the library says what is wrong with it
    needs_dir = study_dir is None and kind == "study"
    tmp = tempfile.mkdtemp(prefix="voxdose-study-") if needs_dir else None
    try:
        raw = _native.run(text, os.fspath(study_dir) if study_dir else tmp, callback)
    finally:
        close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    result = Result(raw)
    _warn(result.warnings)
    return result


_PHANTOM_KEYS = ("radius_mm", "voxel_mm", "grid", "material", "layers", "source_layer")
_TRANSPORT_KEYS = ("batches", "electron_cutoff_kev", "photon_cutoff_kev", "threads",
                   "decays_per_block", "method", "density_scaling")


def _transport(nuclide: Optional[str], decays: Optional[float], seed: int, device: str,
               opts: Dict[str, Any]) -> Dict[str, Any]:
    """The ``transport`` object of run.json from keyword options (consumed from ``opts``)."""
    t: Dict[str, Any] = {"seed": int(seed), "device": device}
    if nuclide is not None:
        t["nuclide"] = nuclide
    target = opts.pop("target_uncertainty", None)
    max_decays = opts.pop("max_decays", None)
    if target is not None:
        t["stop"] = {"target_uncertainty": {"percent": float(target),
                                            "max_decays": float(max_decays or 1e9)}}
    elif decays is not None:
        t["stop"] = {"decays": float(decays)}
    for k in _TRANSPORT_KEYS:
        if k in opts:
            t[k] = opts.pop(k)
    return t


def _refuse_unknown(opts: Mapping[str, Any], known: Sequence[str]) -> None:
    if opts:
        raise InvalidOptionError(
            f"invalid value for {', '.join(sorted(opts))}: unknown option; known: {', '.join(known)}",
            3,
        )


def run_phantom(
    name: str,
    nuclide: str = "Lu-177",
    decays: float = 1e6,
    seed: int = 1,
    device: str = "auto",
    *,
    progress: Progress = True,
    **opts: Any,
) -> Result:
    """Runs a built-in phantom (``voxdose run --phantom NAME``; ``voxdose phantoms`` lists
    them) and returns its :class:`Result`.

    Options, as the command line's flags: phantom ``radius_mm``, ``voxel_mm``, ``grid``,
    ``material``, ``layers``, ``source_layer``; transport ``target_uncertainty`` (%, instead of
    ``decays``), ``max_decays``, ``batches``, ``electron_cutoff_kev``, ``photon_cutoff_kev``,
    ``threads``, ``decays_per_block``, ``method`` ("mc", "dvk", "ldm"), ``density_scaling``;
    ``tia_bq_s`` (dose in Gy for that many decays), ``dose_to`` ("medium" or "water").
    The same seed on the same device gives the command line's dose bit for bit.
    """
    opts = dict(opts)
    phantom: Dict[str, Any] = {"name": name}
    for k in _PHANTOM_KEYS:
        if k in opts:
            phantom[k] = opts.pop(k)
    inp: Dict[str, Any] = {"kind": "phantom", "phantom": phantom}
    if "tia_bq_s" in opts:
        inp["tia_bq_s"] = float(opts.pop("tia_bq_s"))
    dose_to = opts.pop("dose_to", "medium")
    transport = _transport(nuclide, decays, seed, device, opts)
    _refuse_unknown(opts, _PHANTOM_KEYS + _TRANSPORT_KEYS +
                    ("target_uncertainty", "max_decays", "tia_bq_s", "dose_to"))
    return run({"input": inp, "transport": transport, "dose_to": dose_to}, progress=progress)


def run_patient(
    ct: Any,
    activity: Any,
    labels: Any = None,
    tia: Any = None,
    *,
    affine: Any = None,
    nuclide: Optional[str] = None,
    decays: float = 1e6,
    seed: int = 1,
    device: str = "auto",
    progress: Progress = True,
    **opts: Any,
) -> Result:
    """Runs a patient (``voxdose run --ct --spect``): CT in HU, activity (quantitative
    SPECT/PET) in Bq/mL, optional label map (regions) and TIA map (Bq·s per voxel: the dose is
    then in Gy).

    Each input is a path (DICOM folder or NIfTI file, as for the command line), a nibabel
    image, an ``(array, affine)`` pair, or an (nx, ny, nz) array with the shared ``affine=``
    (4×4 voxel → RAS mm). Arrays are written to temporary NIfTI files that the library reads
    (there is no in-memory route into the patient pipeline; the files are removed afterwards).

    Options: ``rtstruct`` (path), ``tia_from_single_scan`` ("physical-decay", "hanscheid"),
    ``scan_hours``, ``calibration_bq_ml_per_count``, ``voxel_mm``, ``dose_to``, and the
    transport options of :func:`run_phantom`.
    """
    opts = dict(opts)
    tmp = tempfile.mkdtemp(prefix="voxdose-patient-")
    try:
        inp: Dict[str, Any] = {
            "kind": "patient",
            "ct": _as_path(ct, "ct", tmp, affine, description="CT in HU from Python"),
            "spect": _as_path(activity, "activity", tmp, affine,
                              description="activity concentration in Bq/mL from Python"),
        }
        lab = _as_path(labels, "labels", tmp, affine, labels=True, description="labels from Python")
        if lab:
            inp["labels"] = lab
        t = _as_path(tia, "tia", tmp, affine, description="TIA in Bq s per voxel from Python")
        if t:
            inp["tia"] = t
        for k in ("rtstruct", "tia_from_single_scan", "scan_hours",
                  "calibration_bq_ml_per_count", "voxel_mm"):
            if k in opts:
                v = opts.pop(k)
                inp[k] = os.fspath(v) if k == "rtstruct" else v
        dose_to = opts.pop("dose_to", "medium")
        transport = _transport(nuclide, decays, seed, device, opts)
        _refuse_unknown(opts, _TRANSPORT_KEYS + ("rtstruct", "tia_from_single_scan", "scan_hours",
                                                 "calibration_bq_ml_per_count", "voxel_mm",
                                                 "target_uncertainty", "max_decays", "dose_to"))
        return run({"input": inp, "transport": transport, "dose_to": dose_to}, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Kinetics and BED


class FitResult:
    """A kinetics fit (``voxdose fit``).

    - ``tia``, ``tia_sigma``: float32 (nx, ny, nz), Bq·s per voxel, summed over cycles, and σ;
      ``cycle_tia``: one map per cycle; ``affine``: 4×4 voxel → RAS mm.
    - ``regions``: the region table (``regions.json``: one dict per region and cycle: name,
      model, tia_bq_s, tia_sigma_bq_s, effective_half_life_h, …); ``cycles``: per-cycle fits.
    - ``folder``: where the fit's files are (``bed(fit=...)`` reads them).
    """

    def __init__(self, raw: Mapping[str, Any], folder: str, tmp: Any = None) -> None:
        dims = raw["dims"]
        self.tia: np.ndarray = _volume(raw["data"], dims)
        self.tia_sigma: np.ndarray = _volume(raw["sigma"], dims)
        self.cycle_tia: List[np.ndarray] = [_volume(c, dims) for c in raw["cycle_tia"]]
        self.affine: np.ndarray = np.array(raw["affine"], dtype=np.float64)
        self.regions: List[Dict[str, Any]] = json.loads(raw["regions_json"])
        self.cycles: List[Dict[str, Any]] = json.loads(raw["cycles_json"])
        self.notes: List[str] = list(raw["notes"])
        self.folder: str = folder
        self._tmp = tmp  # keeps a temporary folder alive as long as the result

    def __repr__(self) -> str:
        return f"<voxdose.FitResult {len(self.cycles)} cycle(s), {len(self.regions)} region rows>"


def fit(
    study: PathLike,
    out: Optional[PathLike] = None,
    *,
    force: bool = False,
    pvc: Optional[str] = None,
    psf_fwhm_mm: Union[float, Sequence[float], None] = None,
    rc_curve: Optional[PathLike] = None,
) -> FitResult:
    """Fits a study's kinetics (``voxdose fit STUDY --out OUT``; the study file format is
    docs/study-file.md): the TIA map and the region table. Without ``out`` the files go to a
    temporary folder that lives as long as the result. ``pvc`` ("gtm", "rc-curve", "none"),
    ``psf_fwhm_mm`` and ``rc_curve`` override the study's partial-volume correction. The GIL
    is released while fitting; Ctrl-C raises ``KeyboardInterrupt`` once the fit returns.
    """
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="voxdose-fit-")
        out = tmp.name
    fwhm: List[float] = []
    if psf_fwhm_mm is not None:
        fwhm = [float(psf_fwhm_mm)] if np.isscalar(psf_fwhm_mm) else [float(x) for x in psf_fwhm_mm]  # type: ignore[union-attr]
    raw = _native.fit_study(os.fspath(study), os.fspath(out), force, pvc, fwhm,
                            os.fspath(rc_curve) if rc_curve else None)
    return FitResult(raw, os.fspath(out), tmp)


class BedResult:
    """BED, EQD2 and the summary of ``voxdose bed``: ``bed``, ``eqd2`` float32 (nx, ny, nz)
    in Gy, ``affine``, ``summary`` (``bed_summary.json``: per region BED, EQD2, EUBED, limits),
    ``folder`` (the files)."""

    def __init__(self, folder: str, summary: Dict[str, Any], tmp: Any = None) -> None:
        self.bed, self.affine = read_nifti(os.path.join(folder, "bed.nii.gz"))
        self.eqd2, _ = read_nifti(os.path.join(folder, "eqd2.nii.gz"))
        self.summary = summary
        self.folder = folder
        self._tmp = tmp

    def __repr__(self) -> str:
        return f"<voxdose.BedResult {self.bed.shape}, max BED {float(self.bed.max()):.4g} Gy>"


def bed(
    dose: Any,
    affine: Any = None,
    *,
    effective_half_life_h: Optional[float] = None,
    fit: Union[FitResult, PathLike, None] = None,
    cycle: Optional[int] = None,
    tissue: Optional[str] = None,
    alpha_beta_gy: Optional[float] = None,
    repair_half_time_h: Optional[float] = None,
    alpha_per_gy: Optional[float] = None,
    labels: Any = None,
    tissue_map: Union[str, Mapping[int, str], None] = None,
    dose_uncertainty: Any = None,
    out: Optional[PathLike] = None,
    force: bool = False,
) -> BedResult:
    """BED, EQD2 and EUBED of a dose in Gy (``voxdose bed``; formulas in README).

    ``dose``: a :class:`Result` of a run in Gy (with a TIA), a path (NIfTI or RT Dose), a
    nibabel image, an ``(array, affine)`` pair or an array with ``affine``; a dose per decay
    is refused (:class:`RadiobiologyError`, exit 31). Kinetics: ``effective_half_life_h`` or
    ``fit`` (a :class:`FitResult` or a fit folder). Tissue: ``tissue`` (name), or
    ``alpha_beta_gy`` + ``repair_half_time_h``, or ``labels`` + ``tissue_map``
    (``{1: "kidney", 3: "tumour"}`` or ``"1=kidney,3=tumour"``). Arrays go through temporary
    NIfTI files; without ``out`` the outputs go to a temporary folder kept with the result.
    """
    tmp = tempfile.TemporaryDirectory(prefix="voxdose-bed-")
    inputs = os.path.join(tmp.name, "inputs")
    os.makedirs(inputs)
    if isinstance(dose, Result):
        desc = f"voxdose absorbed dose in {dose.dose_unit}: {dose.summary.get('dose_quantity', '')}"
        if dose_uncertainty is None:
            dose_uncertainty = (dose.sigma_gy, dose.affine)
        dose = _as_path((dose.dose, dose.affine), "dose", inputs, description=desc[:79])
    else:
        dose = _as_path(dose, "dose", inputs, affine, description="absorbed dose in Gy from Python")
    sigma = _as_path(dose_uncertainty, "dose_sigma", inputs, affine,
                     description="one sigma of dose in Gy from Python")
    lab = _as_path(labels, "labels", inputs, affine, labels=True)
    if isinstance(tissue_map, Mapping):
        tissue_map = ",".join(f"{k}={v}" for k, v in tissue_map.items())
    fit_dir = fit.folder if isinstance(fit, FitResult) else (os.fspath(fit) if fit else None)
    folder = os.fspath(out) if out is not None else os.path.join(tmp.name, "out")
    summary = _native.bed(dose, folder, force, sigma, effective_half_life_h, fit_dir, cycle,
                          tissue, alpha_beta_gy, repair_half_time_h, alpha_per_gy, lab,
                          tissue_map)
    return BedResult(folder, json.loads(summary), tmp)


# ---------------------------------------------------------------------------------------------
# The twin


class Twin:
    """A patient's theranostic digital twin: the folder of ``voxdose twin`` (README, "The
    theranostic digital twin"). Every method returns the dict the command's ``--json`` prints.

    >>> twin = voxdose.Twin.init("twin", study="study_cycle1.json", limits="limits.json")  # doctest: +SKIP
    >>> twin.predict(6.0)["organs"][0]["dose_gy"]  # doctest: +SKIP
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)

    @classmethod
    def init(
        cls,
        path: PathLike,
        study: PathLike,
        *,
        ct: Optional[PathLike] = None,
        limits: Optional[PathLike] = None,
        patient_id: Optional[str] = None,
        smatrix_decays: float = 2e5,
        nuclide: Optional[str] = None,
        decays: Optional[float] = None,
        seed: int = 1,
        device: str = "auto",
        progress: Progress = True,
        **opts: Any,
    ) -> "Twin":
        """Creates the twin in ``path`` from a study (``voxdose twin init``): fit, dose,
        S-matrix and BED of every cycle. Transport options as for :func:`run_phantom`."""
        opts = dict(opts)
        transport = _transport(nuclide, decays, seed, device, opts)
        _refuse_unknown(opts, _TRANSPORT_KEYS + ("target_uncertainty", "max_decays"))
        callback, close = _progress(progress, "twin init")
        try:
            _native.twin_init(os.fspath(path), os.fspath(study), json.dumps(transport),
                              float(smatrix_decays), os.fspath(ct) if ct else None,
                              os.fspath(limits) if limits else None, patient_id, callback)
        finally:
            close()
        return cls(path)

    def sync(self, study: PathLike, *, resync_cycle: Optional[int] = None,
             progress: Progress = True) -> Dict[str, Any]:
        """Brings in a new cycle or new time points (``voxdose twin sync``); returns the
        report (new, updated, resynced cycles, prediction errors)."""
        callback, close = _progress(progress, "twin sync")
        try:
            return json.loads(_native.twin_sync(self.path, os.fspath(study), resync_cycle, callback))
        finally:
            close()

    def predict(self, activity_gbq: float, cycles: int = 1) -> Dict[str, Any]:
        """Per region the next cycle's dose, BED and cumulative BED/EQD2 with 95 % intervals
        for ``activity_gbq`` GBq per cycle (``voxdose twin predict --json``)."""
        return json.loads(_native.twin_predict(self.path, float(activity_gbq) * 1e9, int(cycles)))

    def plan(
        self,
        limits: Union[Sequence[str], Mapping[str, Mapping[str, float]], None] = None,
        confidence: float = 0.95,
        cycles_left: int = 1,
    ) -> Dict[str, Any]:
        """The largest activity per cycle keeping every limit with probability
        ``confidence`` (``voxdose twin plan --json``). ``limits``: ``["kidney:bed=28"]`` or
        ``{"kidney": {"bed": 28}}``; none: the twin's own limits."""
        texts: List[str] = []
        if isinstance(limits, Mapping):
            for organ, quantities in limits.items():
                texts += [f"{organ}:{q}={v}" for q, v in quantities.items()]
        elif limits is not None:
            texts = [str(x) for x in limits]
        return json.loads(_native.twin_plan(self.path, texts, int(cycles_left), float(confidence)))

    def status(self) -> Dict[str, Any]:
        """Cycles, per-organ dose/BED, cumulative BED vs limits, prediction errors
        (``voxdose twin status --json``)."""
        return json.loads(_native.twin_status(self.path))

    def __repr__(self) -> str:
        return f"<voxdose.Twin {self.path!r}>"
