"""Errors a person can act on.

Every failure a user can cause (bad data, bad params, a missing file) is raised as a
:class:`TsforgeError` whose message names the thing at fault and says what to change.
Stage scripts print that message and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations


class TsforgeError(Exception):
    """A failure caused by input or configuration, with a message meant for a person."""


class DataSourceError(TsforgeError):
    """The configured data source cannot be read into a usable series."""


class ValidationError(TsforgeError):
    """The data broke the data contract; the message lists every failed check."""


class ConfigError(TsforgeError):
    """params.yaml holds a value the pipeline cannot use."""
