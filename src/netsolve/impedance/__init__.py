"""Impedance spectra of the two-point network (``netsolve impedance``, docs/impedance.md).

- :mod:`.options`: the ``[impedance]`` table;
- :mod:`.admittance`: every link as an exact series/parallel composition, Y(omega);
- :mod:`.system`: the nodal admittance system between two terminals (fixed pattern);
- :mod:`.krylov`: direct (SuperLU) and COCG with a real AMG preconditioner;
- :mod:`.response`: the frequency sweep, Z and its Tellegen shares per grain, GB, contact;
- :mod:`.spectrum`: arc summits, Lin-KK check, DRT (Tikhonov NNLS);
- :mod:`.pipeline`: case -> :class:`ImpedanceResult`; :mod:`.output` / :mod:`.figures`: files.
"""

from .options import ImpedanceOptions, default_options, frequencies
from .pipeline import ImpedanceResult, compute_impedance, spectrum_window

__all__ = ["ImpedanceOptions", "ImpedanceResult", "compute_impedance", "default_options",
           "frequencies", "spectrum_window", "write_impedance"]


def write_impedance(result, out_dir, *, figures: bool = True, overwrite: bool = False):
    """Write an impedance result directory atomically (:mod:`.output`)."""
    from .output import write_impedance as write

    return write(result, out_dir, figures=figures, overwrite=overwrite)
