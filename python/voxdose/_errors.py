"""voxdose's exceptions: one class per family of exit codes of the command line.

Every error the library reports is a :class:`VoxdoseError` whose message is the one the
``voxdose`` command prints (without its ``voxdose: error:`` prefix) and whose ``exit_code`` is
the code the command would exit with (README, "Exit codes"). Ctrl-C during a run raises
Python's own ``KeyboardInterrupt`` (the library's code for a cancelled run is 130).
"""

from __future__ import annotations


class VoxdoseError(Exception):
    """An error of the voxdose library; ``exit_code`` is the command line's exit code."""

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The message, as the command line prints it."""
        return str(self.args[0]) if self.args else ""


class InternalError(VoxdoseError):
    """A bug in voxdose (exit code 1): please report it with what you ran."""


class InvalidOptionError(VoxdoseError, ValueError):
    """An option value out of its range (exit code 3)."""


class UnknownNameError(VoxdoseError, ValueError):
    """An unknown nuclide, phantom, material or device name (exit code 4)."""


class OutputExistsError(VoxdoseError, FileExistsError):
    """An output that already exists (exit code 5); pass ``force=True`` or another folder."""


class OutputNotWritableError(VoxdoseError, OSError):
    """An output that cannot be written (exit code 6)."""


class DeviceError(VoxdoseError, RuntimeError):
    """The compute device is unavailable, too small or failed during the run (exit code 7)."""


class InputError(VoxdoseError):
    """An input file unreadable, malformed or inconsistent (exit codes 8, 9 and 11–30)."""


class KineticsError(VoxdoseError):
    """A kinetics fit is impossible (exit code 10)."""


class RadiobiologyError(VoxdoseError, ValueError):
    """BED cannot be computed from the inputs given (exit codes 31–34)."""


class PartialVolumeError(VoxdoseError):
    """Partial-volume correction or a recovery measurement failed (exit codes 35–38)."""


class MaterialsError(VoxdoseError, ValueError):
    """A materials table or material label map is unusable (exit code 39)."""


class KernelError(VoxdoseError):
    """A cached dose-voxel kernel is unusable (exit code 40)."""


class TwinError(VoxdoseError):
    """The twin folder cannot be used as asked (exit codes 47–50)."""


class PbpkError(VoxdoseError):
    """A PBRPK model cannot be read, checked, simulated or fitted (exit codes 51–56)."""


def _class_for(code: int) -> type[VoxdoseError]:
    fixed = {
        1: InternalError,
        3: InvalidOptionError,
        4: UnknownNameError,
        5: OutputExistsError,
        6: OutputNotWritableError,
        7: DeviceError,
        10: KineticsError,
        39: MaterialsError,
        40: KernelError,
    }
    ranges = [
        (8, 9, InputError),
        (11, 30, InputError),
        (31, 34, RadiobiologyError),
        (35, 38, PartialVolumeError),
        (47, 50, TwinError),
        (51, 56, PbpkError),
    ]
    if code in fixed:
        return fixed[code]
    for low, high, cls in ranges:
        if low <= code <= high:
            return cls
    return VoxdoseError


def error_for(code: int, message: str) -> BaseException:
    """The exception for a library error with exit code ``code`` (used by ``_native``)."""
    if code == 130:
        return KeyboardInterrupt(message)
    return _class_for(code)(message, code)
