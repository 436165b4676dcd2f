"""The one error type of the analysis package.

Every problem with the input (an unreadable file, a missing column or metadata field,
duplicate runs) raises :class:`AnalysisError` with a message that names the file and
the field, so ``python -m analysis`` can print it and exit non-zero. It is a
``hmgray.errors.DataError``: the results table does not follow docs/contracts.md §5.
"""

from hmgray.errors import DataError


class AnalysisError(DataError, ValueError):
    """Bad or unusable results; the message names the file and the field."""
