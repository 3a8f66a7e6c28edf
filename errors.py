"""Exceptions raised by intent-mediator.

Every error names what was wrong (the record, file, field or flag) so a user can fix the input without
reading a traceback.
"""


class IntentMediatorError(Exception):
    """Base class for the library's own errors."""


class TranscriptError(IntentMediatorError, ValueError):
    """A transcript is empty, malformed, or ends in a way the Mediator cannot answer."""


class ModelConfigError(IntentMediatorError, ValueError):
    """A model string, role name or engine setting cannot be turned into a working LM."""


class ModelNotFoundError(IntentMediatorError, FileNotFoundError):
    """The embedded model's weights are not installed or fail their checksum."""
