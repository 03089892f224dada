"""netsolve: ionic current in polycrystalline solid electrolytes from voxel resistor networks.

Pipeline: case -> microstructure -> properties -> network -> solve -> fields -> analysis ->
export.
"""

__version__ = "0.1.0"

from .api import classify, solve  # noqa: E402
from .case import Case, case_from_dict, load_case  # noqa: E402
from .errors import CaseError  # noqa: E402
from .result import Result  # noqa: E402

__all__ = ["Case", "CaseError", "Result", "__version__", "case_from_dict", "classify", "load_case",
           "solve"]
