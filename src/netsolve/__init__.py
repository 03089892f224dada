"""netsolve: ionic current in polycrystalline solid electrolytes from voxel resistor networks.

Pipeline: case -> microstructure -> properties -> network -> solve -> fields -> analysis ->
export.

The names below are imported on first use, so that ``import netsolve.cli`` stays light: the
command line installs its signal handlers before NumPy and SciPy are loaded.
"""

__version__ = "0.1.0"

import sys as _sys
import types as _types

_LAZY = {"classify": ".api", "Case": ".case", "case_from_dict": ".case", "load_case": ".case",
         "CaseError": ".errors", "Result": ".result", "explain": ".analysis.explain",
         "read_gb_table": ".analysis.explain"}

__all__ = ["Case", "CaseError", "Result", "__version__", "case_from_dict", "classify", "explain",
           "load_case", "read_gb_table", "solve"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'netsolve' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """``netsolve.solve`` is always the function :func:`netsolve.api.solve`: importing the
    submodule of the same name (``netsolve/solve.py``) must not bind it over the function."""

    @property
    def solve(self):
        from .api import solve

        return solve

    @solve.setter
    def solve(self, _submodule) -> None:
        pass


_sys.modules[__name__].__class__ = _Package
