"""User-facing errors.

Anything the user can fix by editing a case file or an input file raises :class:`CaseError`.
The CLI turns it into one line on stderr and exit status 2; programming errors keep their
traceback.
"""

from __future__ import annotations


class CaseError(ValueError):
    """A problem with a case file, an input file or the physical setup it describes.

    The message names the file and key (or electrode, grain id, ...) and says what was expected.
    """


class NoConductingPathError(CaseError):
    """Electrodes that should drive a current are not connected by any conducting path."""


class SolveError(CaseError):
    """A solve whose result cannot be trusted: a residual, current balance or power balance
    beyond its tolerance, or a non-finite value. Nothing is written; the message names the
    quantity, its value, the tolerance and a remedy."""


class NetsolveWarning(UserWarning):
    """Something the user should look at that does not stop the run (e.g. a large part of an
    orientation map filled from neighbouring pixels); it is also recorded in the result."""
