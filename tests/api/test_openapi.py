"""The OpenAPI document is a committed snapshot: any API change shows up in review.

Regenerate intentionally with ``EMGSONAR_UPDATE_OPENAPI=1 pytest tests/api/test_openapi.py``.
"""

import json
import os
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "openapi.json"

#: every path of api.md (canonical and sonar's aliases) must be in the schema
CONTRACT_PATHS = [
    "samples/",
    "samples/genomes/",
    "samples/statistics/",
    "statistics/statistics/",
    "samples/filtered_statistics/",
    "statistics/filtered_statistics/",
    "samples/distinct_lineages/",
    "samples/full_lineages/",
    *[
        f"{p}/plot_{n}/"
        for p in ("samples", "plots")
        for n in (
            "metadata_coverage",
            "samples_per_week",
            "grouped_lineages_per_week",
            "custom",
            "custom_xy",
        )
    ],
    "samples/get_sequence_data/",
    "samples/get_bulk_sequence_data/",
    "samples/delete_sample_data/",
    "samples/delete_sequence_data/",
    "sample_genomes/match/",
    "database/get_database_tables_status/",
    "database/get_database_info/",
    "references/",
    "replicons/",
    "alignments/",
    "properties/",
    "genes/",
    "lineages/",
    "lineages/{pk}/get_sublineages/",
    "properties/distinct_property_names/",
    "properties/distinct_properties/",
    "properties/add_property/",
    # what sonar's web frontend calls besides the above (src/api/API.ts)
    "status/",
    "references/dataset_options/",
    "lineages/distinct_lineages/",
    "lineages/full_lineages/",
    "properties/get_all_properties/",
    "genes/distinct_gene_symbols/",
    "replicons/distinct_accessions/",
    "mutations/distinct_mutations_count/",
    # what sonar's CLI and scripts call
    "references/get_all_references/",
    "references/distinct_accessions/",
    "replicons/get_molecule_data/",
    "genes/get_gene_data/",
    "resources/get_translation_table/",
    "alignments/get_alignment_data/{seqhash}/{replicon_id}/",
    "properties/delete_property/",
]


@pytest.mark.django_db
def test_openapi_snapshot(client):
    schema = client.get("/api/openapi.json").json()
    for path in CONTRACT_PATHS:
        assert f"/api/{path}" in schema["paths"], path
    # every operation declares its error responses
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/api/status"):
                continue
            assert "404" in operation["responses"] or "422" in operation["responses"], (
                path,
                method,
            )
    text = json.dumps(schema, indent=1, sort_keys=True) + "\n"
    if os.environ.get("EMGSONAR_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), (
        f"no OpenAPI snapshot at {SNAPSHOT}: generate it with "
        "EMGSONAR_UPDATE_OPENAPI=1 pytest tests/api/test_openapi.py, review it and commit it"
    )
    assert json.loads(SNAPSHOT.read_text()) == schema, (
        "the API changed: review the diff, then regenerate with EMGSONAR_UPDATE_OPENAPI=1"
    )
