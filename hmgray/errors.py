"""The exceptions hmgray raises on purpose.

Every message names the file or URI and the field it is about, so that a failure deep in a
Ray worker can be traced to one shard and one column without a debugger.

``HmgrayError`` is the common base: callers that only want "an hmgray problem, not a bug"
catch it. The subclasses say whose fault it is:

* ``DataError``: the data is wrong (schema, values, hashes, undecodable images).
* ``StorageError``: the storage layer failed (missing file, permission, network).
* ``ConfigError``: a configuration value is invalid.
* ``NumericalError``: a computed quantity went NaN or infinite (a diverged run).
"""


class HmgrayError(Exception):
    """Base class of the errors hmgray raises deliberately."""


class DataError(HmgrayError):
    """Data does not follow docs/contracts.md (schema, values, hashes, manifest, images)."""


class StorageError(HmgrayError):
    """A storage operation failed: missing object, unreachable endpoint, bad URI."""


class ConfigError(HmgrayError):
    """An invalid configuration value (wrong type, out of range, unknown name)."""


class NumericalError(HmgrayError, FloatingPointError):
    """A computed quantity went NaN or infinite (a diverged run); the message names it."""
