"""The data set of ``./taskw demo`` (scripts/demo.sh), built in-process without Prefect.

The demo runs the import flows through their deployments; this runs the same steps the flows
run (``tests.helpers.load.load_dataset``: split → align chunk → annotate → load → metadata)
and the services the flows call for the reference and the lineage table, with the demo's files,
properties and column mappings. The README's examples are written against this data, so a
change here must follow a change of scripts/demo.sh.

Left out: the demo's other bundled references (mpox, influenza, …): no README example queries
them, and they take most of the demo's import time.
"""

from __future__ import annotations

from pathlib import Path

from analyses.services.lineages import import_lineages
from analyses.services.references import import_reference
from ena_like.services.properties import add_property
from tests.helpers.load import load_dataset

REFERENCE = "MN908947.3"
SC2 = Path("sars-cov-2")
GENBANK = SC2 / "MN908947.nextclade.gb"
SC2_12_FASTA = SC2 / "SARS-CoV-2_12.fasta.xz"
SC2_12_TSV = SC2 / "SARS-CoV-2_12.tsv.xz"
LINEAGES = SC2 / "lineages/lineages_full_2025_09.tsv.xz"
GB1000 = Path("peers/sars-cov-2/genbank_open_1000")
GB1000_FASTA = GB1000 / "sequences.fasta.xz"
GB1000_TSV = GB1000 / "metadata.tsv"
#: the demo's custom properties of SARS-CoV-2_12, typed as sonar's tests type them
SC2_12_PROPERTIES = {
    "age": "integer",
    "euro": "float",
    "sample_type": "varchar",
    "comments": "text",
}
#: the demo's column mapping of genbank_open_1000 (property: TSV column)
GB1000_COLS = {
    "name": "genbankAccession",
    "collection_date": "date",
    "country": "country",
    "host": "host",
    "lineage": "pangoLineage",
    "lab": "originatingLab",
}


def build_demo_data(shared_data: Path, *, jobs: int = 2) -> None:
    """Import what scripts/demo.sh imports for MN908947.3, in the demo's order."""
    for name, datatype in SC2_12_PROPERTIES.items():
        add_property(name, datatype)
    import_reference([shared_data / GENBANK])
    load_dataset(
        REFERENCE,
        shared_data / SC2_12_FASTA,
        shared_data / SC2_12_TSV,
        {"name": "name"},
        auto_link=True,
        jobs=jobs,
    )
    import_lineages(REFERENCE, lineages_tsv=shared_data / LINEAGES)
    load_dataset(
        REFERENCE,
        shared_data / GB1000_FASTA,
        shared_data / GB1000_TSV,
        GB1000_COLS,
        skip_invalid_rows=True,
        chunk_size=500,
        jobs=jobs,
    )
