"""The exceptions sparkw2v raises for bad input and failed training.

Every message names the problem and the fix; tests check the messages.
"""


class SparkW2VError(Exception):
    """Base class of every error sparkw2v raises on purpose."""


class ConfigError(SparkW2VError, ValueError):
    """A configuration key is unknown or its value is out of range."""


class InputError(SparkW2VError, ValueError):
    """The training input is missing, malformed or yields nothing to train on."""


class OutputExistsError(SparkW2VError, FileExistsError):
    """The output directory already holds a complete result and ``overwrite`` was not given."""


class IncompleteModelError(SparkW2VError, FileNotFoundError):
    """A model directory has no ``_SUCCESS`` marker: it is missing or was left by a failed run."""


class ModelFormatError(SparkW2VError, ValueError):
    """A directory given as a model is not one, or is damaged."""


class TrainingDivergedError(SparkW2VError, FloatingPointError):
    """NaN or Inf appeared in the parameters after a round."""


class OutputWriteError(SparkW2VError, OSError):
    """Writing a result or a checkpoint failed; nothing was marked complete."""


class TrainingFailedError(SparkW2VError, RuntimeError):
    """An epoch failed on every attempt (tasks that crashed, e.g. out of memory)."""


class CheckpointError(SparkW2VError, ValueError):
    """A checkpoint (a state of the block store) is damaged: a block file differs from the size,
    shape or checksum recorded when it was written, or its ``state.json`` is not a valid record.
    Deterministic: training it again would fail the same way, so it is never retried."""
