#!/usr/bin/env bash
# Import the references bundled in ../shared/data (idempotent: re-running changes nothing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA="${EMGSONAR_SHARED_DATA:-../shared/data}"
PY=.venv/bin/python
imp() { "$PY" manage.py import_reference --genbank "$@"; }
imp "$DATA/sars-cov-2/MN908947.nextclade.gb"
imp "$DATA/mpox/clade-IIb-NC_063383.1.gb"
imp "$DATA/mpox/clade_I-DQ011155.gb"
for flu in "$DATA"/influenza/influenza-A/* "$DATA"/influenza/influenza-B/*; do
    imp "$flu"/*.gb
done
imp "$DATA/rsv/RSV-B/OP975389.1.gb"
imp "$DATA/rsv/RSV-A/PP109421.gb"
imp "$DATA/hiv/NC_001802.1.gb"
for dengue in "$DATA"/dengue/type_*; do imp "$dengue"/*.gb; done
imp "$DATA/ebola/NC_002549.1.gb"
imp "$DATA/measles/NC_001498.gb"
imp "$DATA/human-metapneumovirus/NC_039199.gb"
imp "$DATA/yellow-fever-virus/AY640589.1.gb"
imp "$DATA/zika/NC_035889.gb"
