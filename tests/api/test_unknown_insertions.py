"""Insertions holding N are unknown sequence: the engine never calls them, so a query for one
answers an empty result (not a 400 for a label that is merely never stored)."""

import pytest

from tests.api.test_filters import names, one

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["A29903NNNN", "A29903ANNNN", "G21608GTCANNNNNNGT"])
@pytest.mark.parametrize("label", ["DNA/AA Profile", "Ins Nt"])
def test_insertion_with_n_matches_nothing(client, synthetic, label: str, value: str) -> None:
    assert names(client, one(label, value=value)) == set()
    assert names(client, one(label, value=value, exclude=True)) == {
        "S1", "S2", "S3", "S4", "S5", "S6"
    }  # fmt: skip
