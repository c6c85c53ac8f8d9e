"""Schemas every app's API shares."""

from ninja import Schema


class ErrorOut(Schema):
    """A 4xx/5xx answer: a readable ``detail`` and a machine-readable ``code``."""

    detail: str
    code: str
