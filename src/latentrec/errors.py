"""The small family of errors a user of latentrec can meet.

Every error a user can cause derives from :class:`LatentrecError`, so a face (the command
line, the HTTP service) can catch that one class and turn it into an exit code or a 4xx.
"""

from __future__ import annotations


class LatentrecError(Exception):
    """Base class of every error a user of latentrec can cause."""


class DataError(LatentrecError, ValueError):
    """Input data that cannot be used: a malformed line, a NaN rating, an empty file.

    ``path``, ``line``, ``column`` and ``value`` say where, when they are known; ``line`` is
    1-based and counts every physical line of the file, header included.
    """

    def __init__(self, message: str, *, path=None, line=None, column=None, value=None):
        self.reason = message
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = self.reason
        if self.value is not None:
            text += f" (value: {self.value!r})"
        return f"{', '.join(where)}: {text}" if where else text


class UnknownIdError(LatentrecError, KeyError):
    """An id (user or item) that the model or data set has never seen."""

    def __init__(self, kind: str, raw_id):
        self.kind = kind
        self.raw_id = raw_id = raw_id.item() if hasattr(raw_id, "item") else raw_id
        text = repr(raw_id)
        if len(text) > 200:  # a 300-digit number: named, not echoed whole
            text = f"{text[:60]}... ({len(text):,} characters)"
        super().__init__(f"unknown {kind} id {text}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ModelFileError(LatentrecError, ValueError):
    """A model file that cannot be trusted: truncated, corrupted, tampered, or too new."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: cannot load model: {reason}")


class NotFittedError(LatentrecError, AttributeError):
    """A model used before ``fit``."""

    def __init__(self, model_name: str):
        super().__init__(
            f"this {model_name} is not fitted yet; call fit(ratings) before using it"
        )


class TrainingDivergedError(LatentrecError, FloatingPointError):
    """Training blew up (NaN, inf or an exploding loss); the model was left unfitted."""


class ParameterError(LatentrecError, ValueError):
    """A hyperparameter or argument outside what it accepts; the message names both."""
