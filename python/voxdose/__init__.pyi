"""Type stubs of the voxdose package (see __init__.py for the documentation)."""

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._errors import (
    DeviceError as DeviceError,
    InputError as InputError,
    InternalError as InternalError,
    InvalidOptionError as InvalidOptionError,
    KernelError as KernelError,
    KineticsError as KineticsError,
    MaterialsError as MaterialsError,
    OutputExistsError as OutputExistsError,
    OutputNotWritableError as OutputNotWritableError,
    PartialVolumeError as PartialVolumeError,
    PbpkError as PbpkError,
    RadiobiologyError as RadiobiologyError,
    TwinError as TwinError,
    UnknownNameError as UnknownNameError,
    VoxdoseError as VoxdoseError,
)

__version__: str

PathLike = Union[str, os.PathLike[str]]
Progress = Union[bool, Callable[[int, int], Any], None]
#: A volume input: a path, a nibabel image, an (array, affine) pair, or an array with affine=.
VolumeInput = Union[PathLike, Tuple[npt.ArrayLike, npt.ArrayLike], npt.ArrayLike, Any]

class Result:
    """A dose run: arrays of shape (nx, ny, nz), indexed [i, j, k] like nibabel."""

    dose: npt.NDArray[np.float32]
    sigma: npt.NDArray[np.float32]
    labels: npt.NDArray[np.uint16]
    region_names: List[str]
    affine: npt.NDArray[np.float64]
    summary: Dict[str, Any]
    config: Dict[str, Any]
    notes: List[str]
    warnings: List[str]
    @property
    def shape(self) -> Tuple[int, int, int]: ...
    @property
    def dose_unit(self) -> str: ...
    @property
    def sigma_gy(self) -> npt.NDArray[np.float32]: ...
    def to_nifti(self, folder: PathLike) -> None: ...

class FitResult:
    """A kinetics fit: TIA maps (Bq·s per voxel) and the region table."""

    tia: npt.NDArray[np.float32]
    tia_sigma: npt.NDArray[np.float32]
    cycle_tia: List[npt.NDArray[np.float32]]
    affine: npt.NDArray[np.float64]
    regions: List[Dict[str, Any]]
    cycles: List[Dict[str, Any]]
    notes: List[str]
    folder: str

class BedResult:
    """BED and EQD2 maps (Gy) and bed_summary.json."""

    bed: npt.NDArray[np.float32]
    eqd2: npt.NDArray[np.float32]
    affine: npt.NDArray[np.float64]
    summary: Dict[str, Any]
    folder: str

def run(
    config: Union[Mapping[str, Any], PathLike],
    *,
    progress: Progress = True,
    study_dir: Optional[PathLike] = None,
) -> Result: ...
def run_phantom(
    name: str,
    nuclide: str = "Lu-177",
    decays: float = 1e6,
    seed: int = 1,
    device: str = "auto",
    *,
    progress: Progress = True,
    **opts: Any,
) -> Result: ...
def run_patient(
    ct: VolumeInput,
    activity: VolumeInput,
    labels: Optional[VolumeInput] = None,
    tia: Optional[VolumeInput] = None,
    *,
    affine: Optional[npt.ArrayLike] = None,
    nuclide: Optional[str] = None,
    decays: float = 1e6,
    seed: int = 1,
    device: str = "auto",
    progress: Progress = True,
    **opts: Any,
) -> Result: ...
def fit(
    study: PathLike,
    out: Optional[PathLike] = None,
    *,
    force: bool = False,
    pvc: Optional[str] = None,
    psf_fwhm_mm: Union[float, Sequence[float], None] = None,
    rc_curve: Optional[PathLike] = None,
) -> FitResult: ...
def bed(
    dose: Union[Result, VolumeInput],
    affine: Optional[npt.ArrayLike] = None,
    *,
    effective_half_life_h: Optional[float] = None,
    fit: Union[FitResult, PathLike, None] = None,
    cycle: Optional[int] = None,
    tissue: Optional[str] = None,
    alpha_beta_gy: Optional[float] = None,
    repair_half_time_h: Optional[float] = None,
    alpha_per_gy: Optional[float] = None,
    labels: Optional[VolumeInput] = None,
    tissue_map: Union[str, Mapping[int, str], None] = None,
    dose_uncertainty: Optional[VolumeInput] = None,
    out: Optional[PathLike] = None,
    force: bool = False,
) -> BedResult: ...
def read_nifti(path: PathLike) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]: ...
def write_nifti(
    path: PathLike,
    data: npt.ArrayLike,
    affine: npt.ArrayLike,
    description: str = "",
    labels: bool = False,
) -> None: ...

class Twin:
    """A patient's theranostic digital twin (a voxdose twin folder)."""

    path: str
    def __init__(self, path: PathLike) -> None: ...
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
    ) -> Twin: ...
    def sync(
        self,
        study: PathLike,
        *,
        resync_cycle: Optional[int] = None,
        progress: Progress = True,
    ) -> Dict[str, Any]: ...
    def predict(self, activity_gbq: float, cycles: int = 1) -> Dict[str, Any]: ...
    def plan(
        self,
        limits: Union[Sequence[str], Mapping[str, Mapping[str, float]], None] = None,
        confidence: float = 0.95,
        cycles_left: int = 1,
    ) -> Dict[str, Any]: ...
    def status(self) -> Dict[str, Any]: ...
