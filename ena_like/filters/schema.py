"""The JSON Schema of the ``filters`` JSON, built from the condition models of tree.py.

Documentation only (the parser in tree.py reads the JSON, with errors naming the item): each
label's model is one component, so Swagger lists every label with its keys and filter types,
and schemathesis generates filters the parser accepts. Nesting is documented on groups only
(the form sonar's clients send: conditions inside ``andFilter``/``orFilter`` of groups); the
parser also takes ``andFilter``/``orFilter`` beside a label. One recursive path (group → group)
keeps schema tools that inline references fast: nesting keys on all 14 conditions made
schemathesis take minutes to load the document.
"""

from typing import Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

from ena_like.filters.tree import CONDITIONS


class FilterGroup(BaseModel):
    """An item without a label: (every andFilter item) OR each orFilter item."""

    model_config = ConfigDict(extra="forbid")

    label: None = Field(None, description="absent or null: a group")
    and_filter: list["Filter"] = Field(
        [], alias="andFilter", description="Items that must all hold"
    )
    or_filter: list["Filter"] = Field(
        [], alias="orFilter", description="Alternatives: the group holds if any of them holds"
    )


#: what an item may be: a group or one of the labelled conditions
FilterItem = Union[(FilterGroup, *CONDITIONS)]  # type: ignore[valid-type]


class Filter(RootModel[FilterItem]):  # type: ignore[valid-type]
    """sonar's ``filters`` JSON: a group of labelled conditions and groups, or one condition."""


FilterGroup.model_rebuild()
