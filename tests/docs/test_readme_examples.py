"""Every query example of README.md answers on the demo data what the README shows.

Convention (README.md, bash blocks): a ``curl`` command, then its answer on the data of
``./taskw demo``, one line per ``# → `` marker right below it::

    curl -G http://127.0.0.1:8000/api/samples/filtered_statistics/ \\
      --data-urlencode reference=MN908947.3 --data-urlencode 'filters={...}'
    # → {"filtered_total_count": 2}

- A JSON answer (the marker lines joined) is compared as JSON: equal, except that ``"…"``
  stands for what is left out: an object with the key ``"…"`` may have more keys, a list item
  ``"…"`` stands for any number of items, a value ``"…"`` for any value.
- Otherwise (or when the command pipes into ``| head -N``) the answer is the output's first
  lines as text, each compared exactly (a CSV line's ``\\r`` is not shown).
- Every ``curl`` without ``-X``/``-H`` (a public read) must show its answer; writes and
  token-holders' reads are documented only.

The commands are split as bash splits them and sent as curl sends them
(``tests/docs/examples.py``) to Django's test client, on the demo's data built in-process
(``tests/docs/demo_data.py``, about 12 s). The flagship count is also derived without the
application: codons from the input FASTA through ``tests.helpers.oracle`` (Biopython), dates
from the metadata TSVs through ``csv``.
"""

from __future__ import annotations

import csv
import itertools
import json
import lzma
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from Bio import SeqIO
from django.test import Client

from tests.conftest import REPO_ROOT
from tests.docs import demo_data
from tests.docs.examples import (
    BASE_URL,
    NOT_RUN,
    Example,
    Request,
    bash_words,
    curl_request,
    json_mismatches,
    read_examples,
)
from tests.helpers import oracle

README = REPO_ROOT / "README.md"
DEMO_SCRIPT = REPO_ROOT / "scripts/demo.sh"
EXAMPLES = read_examples(README)
RUN = [e for e in EXAMPLES if not NOT_RUN & set(bash_words(e.text))]

#: the README's flagship question, written here from the question, not copied from the README
FLAGSHIP = {
    "andFilter": [
        {"label": "SNP AA", "value": "S:L452R"},
        {"label": "Del AA", "value": "ORF1a:del:3675-3677", "exclude": True},
        {
            "label": "Property",
            "property_name": "collection_date",
            "filter_type": "gte",
            "value": "2021-06-01",
        },
    ]
}


def test_the_readme_has_examples_and_each_read_shows_its_answer() -> None:
    assert len(RUN) >= 5, [e.where for e in EXAMPLES]
    missing = [e.where for e in RUN if not e.answer]
    assert not missing, f"curl examples without a `# → ` answer: {missing}"


def _output(client: Client, request: Request) -> tuple[int, str, str]:
    """Status, content type and body (streamed or not) of the request."""
    response = client.get(request.path_and_query)
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    return response.status_code, response.get("Content-Type", ""), body


@pytest.mark.django_db
@pytest.mark.parametrize("example", RUN, ids=[f"README.md:{e.line}" for e in RUN])
def test_readme_example_answers_as_shown(demo_data, client: Client, example: Example) -> None:
    request = curl_request(example.text)
    status, content_type, body = _output(client, request)
    shown = "\n".join(example.answer)
    if request.head is None and content_type.startswith("application/json"):
        problems = json_mismatches(json.loads(shown), json.loads(body))
        assert not problems, f"{example.where} (HTTP {status}):\n" + "\n".join(problems)
        return
    lines = [line.removesuffix("\r") for line in body.split("\n")]
    if request.head is not None:
        lines = lines[: request.head]
    assert lines == example.answer, f"{example.where} (HTTP {status}): the output is\n" + "\n".join(
        lines[:20]
    )


def _flagship_example() -> Example:
    """The README example asking :data:`FLAGSHIP` of filtered_statistics."""
    for example in RUN:
        query = urlsplit(curl_request(example.text).path_and_query)
        params = parse_qs(query.query)
        if query.path == "/api/samples/filtered_statistics/" and [
            json.loads(f) for f in params.get("filters", [])
        ] == [FLAGSHIP]:
            return example
    raise AssertionError("README.md has no filtered_statistics example of the flagship filter")


def _genomes_and_dates(shared_data: Path) -> list[tuple[str, str]]:
    """(genome, collection date) of every demo sample of MN908947.3, read with Biopython and
    csv: SARS-CoV-2_12 (``collection_date``) and genbank_open_1000 (``date``)."""
    sources = [
        (demo_data.SC2_12_FASTA, demo_data.SC2_12_TSV, "name", "collection_date"),
        (demo_data.GB1000_FASTA, demo_data.GB1000_TSV, "genbankAccession", "date"),
    ]
    samples = []
    for fasta, tsv, name_column, date_column in sources:
        with lzma.open(shared_data / fasta, "rt") as handle:
            genomes = {record.id: str(record.seq) for record in SeqIO.parse(handle, "fasta")}
        opener = lzma.open if tsv.suffix == ".xz" else open
        with opener(shared_data / tsv, "rt") as handle:
            dates = {
                row[name_column]: row[date_column] for row in csv.DictReader(handle, delimiter="\t")
            }
        assert set(genomes) == set(dates), fasta
        samples += [(genome, dates[name]) for name, genome in genomes.items()]
    return samples


def test_the_flagship_count_is_what_the_genomes_and_dates_give(shared_data: Path) -> None:
    """S:L452R = codon 452 of S translates to R; ORF1a:del:3675-3677 = the 9 bases of those
    codons deleted (codon c of a CDS starting at 0-based s: bases s+3(c-1)+1 … s+3c)."""
    ref = oracle.read_reference(shared_data / demo_data.GENBANK)
    orf1a = ref.cds_start["ORF1a"]
    first, last = orf1a + 3 * 3674 + 1, orf1a + 3 * 3677
    expected = sum(
        1
        for genome, date in _genomes_and_dates(shared_data)
        if date >= "2021-06-01"
        and oracle.residue(ref, genome, "S", 452) == "R"
        and not oracle.has_deletion(ref, genome, first, last)
    )
    assert expected > 0
    example = _flagship_example()
    assert json.loads("\n".join(example.answer)) == {"filtered_total_count": expected}, (
        example.where
    )


def test_the_demo_prints_a_readme_example() -> None:
    """The demo's last message shows one query and its answer (``→ `` on the next line); the
    query must be a README example (run above) with that answer."""
    message = DEMO_SCRIPT.read_text(encoding="utf-8").split("\ncat <<EOF\n")[-1]
    lines = [line.strip().replace("$APP", BASE_URL) for line in message.splitlines()]
    printed = [
        (line, after) for line, after in itertools.pairwise(lines) if line.startswith("curl ")
    ]
    assert printed, "scripts/demo.sh prints no curl example"
    readme = {json.dumps(bash_words(e.text)): e for e in RUN}
    for command, answer in printed:
        example = readme.get(json.dumps(bash_words(command)))
        assert example is not None, f"not a README example: {command}"
        assert answer == "→ " + "\n".join(example.answer), (answer, example.where)
