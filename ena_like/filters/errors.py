"""Errors of the filter engine: all are the client's mistake (HTTP 400), each naming the problem."""

from typing import ClassVar

from emgsonar.errors import EmgsonarError


class FilterError(EmgsonarError):
    """A ``filters`` value that cannot be understood (bad JSON, wrong shape, bad value)."""

    code: ClassVar[str] = "invalid_filter"


class UnknownLabelError(FilterError):
    code: ClassVar[str] = "unknown_label"


class UnknownKeyError(FilterError):
    """A key the item's label (or a filter group) does not take: a typo must not widen the
    answer to every sample."""

    code: ClassVar[str] = "unknown_filter_key"


class UnknownPropertyError(FilterError):
    code: ClassVar[str] = "unknown_property"


class UnknownLineageError(FilterError):
    code: ClassVar[str] = "unknown_lineage"


class BadMutationError(FilterError):
    code: ClassVar[str] = "bad_mutation"


class RepliconRequiredError(FilterError):
    code: ClassVar[str] = "replicon_required"
