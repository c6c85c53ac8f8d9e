"""CSV export: columns as in api.md, streamed in constant memory (100k rows)."""

import csv
import io
import tracemalloc

import pytest
from Bio import SeqIO
from django.db import connection

from ena_like.models import Sample
from tests.api.synthetic import Synthetic
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db

REF = "MN908947.3"


def _genbank_cds_genes() -> list[str]:
    """The gene qualifier of every CDS in the reference the synthetic data uses."""
    path = SHARED_DATA / "sars-cov-2" / "MN908947.nextclade.gb"
    return [
        feature.qualifiers["gene"][0]
        for record in SeqIO.parse(path, "genbank")
        for feature in record.features
        if feature.type == "CDS"
    ]


def csv_rows(client, **params) -> list[list[str]]:
    response = client.get(
        "/api/samples/genomes/", {"reference": REF, "csv_stream": "true", **params}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_csv_columns(client, synthetic: Synthetic):
    rows = csv_rows(
        client,
        columns="name,lineage,age,collection_date,genomic_profiles,proteomic_profiles",
        filename="x.csv",
        ordering="name",
    )
    assert rows[0] == [
        "name",
        "lineage",
        "age",
        "collection_date",
        f"genomic_profiles: {REF}",
        # one column per CDS, named by its symbol (the gene qualifiers of the GenBank file,
        # read with Biopython: protein ids would mix QHD43416.1 with ORF1a)
        *[f"proteomic_profiles: {REF}: {gene}" for gene in sorted(_genbank_cds_genes())],
    ]
    s_column = rows[0].index(f"proteomic_profiles: {REF}: S")
    assert rows[1][:5] == ["S1", "BA.1", "48", "2022-01-03", "C241T, del:21765-21770, A23403G"]
    assert rows[1][s_column] == "S:del:69-70, S:D614G"
    assert rows[4][:5] == ["S4", "BA.2", "60", "", "C241T"]
    assert len(rows) == 7
    # one profile column chosen by name, and the file name header
    response = client.get(
        "/api/samples/genomes/",
        {
            "reference": REF,
            "csv_stream": "true",
            "filename": "x.csv",
            "columns": f"name,proteomic_profiles: {REF}: S",
            "ordering": "name",
        },
    )
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    text = b"".join(response.streaming_content).decode().splitlines()
    assert text[1] == "S1;S:del:69-70, S:D614G"


def test_csv_quotes_cells_that_need_it(client, synthetic: Synthetic):
    """Lines are joined directly unless a cell holds the delimiter, a quote or a line break;
    those lines (and only those) come out exactly as the csv module writes them."""
    Sample.objects.filter(name="S2").update(lab='Lab; "North"\nsite')
    Sample.objects.filter(name="S3").update(lab="")
    response = client.get(
        "/api/samples/genomes/",
        {
            "reference": REF,
            "csv_stream": "true",
            "columns": "name,lab,genomic_profiles",
            "ordering": "name",
        },
    )
    text = b"".join(response.streaming_content).decode()
    expected = io.StringIO()
    writer = csv.writer(expected, delimiter=";")
    for row in csv.reader(io.StringIO(text), delimiter=";"):
        writer.writerow(row)
    assert text == expected.getvalue()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[2][:2] == ["S2", 'Lab; "North"\nsite']
    assert rows[3][:2] == ["S3", ""]
    assert '"Lab; ""North""\nsite"' in text


def _bulk_samples(synthetic: Synthetic, n: int) -> None:
    """``n`` more samples with three mutations each, written with COPY."""
    ids = sorted(synthetic.nt.values())[:3]
    columns = "name, reference_id, lineage, collection_date, nt_mutation_ids, aa_mutation_ids, init_upload_date, last_update_date"  # noqa: E501
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY ena_like_sample ({columns}) FROM STDIN") as copy,
    ):
        for i in range(n):
            copy.write_row(
                (
                    f"bulk-{i:06d}",
                    synthetic.reference.pk,
                    "BA.2",
                    f"2023-01-{1 + i % 28:02d}",
                    ids,
                    [],
                    "2024-01-01T00:00:00Z",
                    "2024-01-01T00:00:00Z",
                )
            )


def test_csv_streams_100k_rows_in_constant_memory(client, synthetic):
    _bulk_samples(synthetic, 100_000)
    assert Sample.objects.count() == 100_006
    response = client.get(
        "/api/samples/genomes/",
        {
            "reference": REF,
            "csv_stream": "true",
            "columns": "name,collection_date,genomic_profiles",
        },
    )
    tracemalloc.start()
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert lines == 100_007  # header + rows
    # a whole result in memory would take hundreds of MB; batches of 1000 stay small
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
