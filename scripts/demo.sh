#!/usr/bin/env bash
# ./taskw demo: the whole pipeline on the bundled data, through the Prefect deployments.
#
# Starts what is missing (Prefect server, worker, web app; Postgres and migrations are the
# Taskfile's `setup`), deploys the flows, then runs through the deployments — exactly what an
# operator does from the dashboard — and waits for each run:
#   1. the SARS-CoV-2 reference MN908947.3 (sonar's Nextclade-style GenBank);
#   2. SARS-CoV-2_12 with its metadata TSV;
#   3. sonar's full lineage table (Pango, 2025-09);
#   4. 1000 GenBank genomes (LAPIS "open" sample) with their metadata;
#   5. the other bundled references (import_reference flow runs reported to the same server).
# Everything is idempotent: a second `./taskw demo` re-runs the imports, which find nothing new.
# Data: EMGSONAR_SHARED_DATA (default: ../shared/data next to the checkout).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${EMGSONAR_SHARED_DATA:-$ROOT/../shared/data}"
PY="$ROOT/.venv/bin/python"
PREFECT="$ROOT/.venv/bin/prefect"
APP="http://127.0.0.1:${EMGSONAR_APP_PORT:-8000}"
DASHBOARD="http://127.0.0.1:${EMGSONAR_PREFECT_PORT:-4200}"

export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.data/prefect}"
export PREFECT_API_URL="$DASHBOARD/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DJANGO_SETTINGS_MODULE=emgsonar.settings

say() { printf '\ndemo: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ -d "$DATA/sars-cov-2" ] || die "test data not found at $DATA; set EMGSONAR_SHARED_DATA to shared/data"
SC2="$DATA/sars-cov-2"
GB1000="$DATA/peers/sars-cov-2/genbank_open_1000"

bash "$ROOT/scripts/stack.sh" start
say "deploying the flows (deployment/prefect.yaml)"
bash "$ROOT/scripts/deploy_flows.sh" >/dev/null

run_deployment() {
    # run_deployment FLOW PARAMS_JSON: one run of FLOW/emgsonar, waited for; fails the demo if
    # the run does not complete
    local flow="$1" params="$2"
    say "running $flow"
    "$PREFECT" deployment run "$flow/emgsonar" --params "$params" --watch --watch-timeout 1800 \
        || die "$flow did not complete; see the flow run in $DASHBOARD and .data/logs/worker.log"
}

# custom properties of the SARS-CoV-2_12 table, typed as sonar's tests type them
for prop in "age integer" "euro float" "sample_type varchar" "comments text"; do
    set -- $prop
    "$PY" "$ROOT/manage.py" add_property "$1" --type "$2" >/dev/null 2>&1 || true
done

run_deployment import_reference "$(cat <<JSON
{"genbank": ["$SC2/MN908947.nextclade.gb"]}
JSON
)"

run_deployment import_samples "$(cat <<JSON
{"reference": "MN908947.3", "fasta": "$SC2/SARS-CoV-2_12.fasta.xz",
 "metadata": "$SC2/SARS-CoV-2_12.tsv.xz", "cols": {"name": "name"}, "auto_link": true,
 "confirm_replace": true}
JSON
)"

run_deployment import_lineages "$(cat <<JSON
{"reference": "MN908947.3", "lineages": "$SC2/lineages/lineages_full_2025_09.tsv.xz"}
JSON
)"

run_deployment import_samples "$(cat <<JSON
{"reference": "MN908947.3", "fasta": "$GB1000/sequences.fasta.xz",
 "metadata": "$GB1000/metadata.tsv",
 "cols": {"name": "genbankAccession", "collection_date": "date", "country": "country",
          "host": "host", "lineage": "pangoLineage", "lab": "originatingLab"},
 "skip_invalid_rows": true, "confirm_replace": true}
JSON
)"

say "importing the other bundled references (mpox, influenza, RSV, HIV, dengue, …)"
EMGSONAR_SHARED_DATA="$DATA" bash "$ROOT/scripts/import_bundled_references.sh" \
    > "$ROOT/.data/logs/demo-references.log" 2>&1 \
    || die "importing the bundled references failed; see .data/logs/demo-references.log"

cat <<EOF

emgsonar demo is ready:
  Prefect dashboard   $DASHBOARD            (flow runs, progress and summary artifacts)
  API docs            $APP/api/docs
  samples             $APP/api/samples/
  admin               $APP/admin/
  stop everything     ./taskw stop

A login for the admin and an API token for writes (prints a generated password once, then
the token; run it again for another token):
  ./taskw manage -- create_user admin --admin --token

A query (README.md, "Querying", has more, each with its answer on this data):
  curl -G $APP/api/samples/filtered_statistics/ --data-urlencode reference=MN908947.3 --data-urlencode 'filters={"andFilter": [{"label": "SNP AA", "value": "S:L452R"}]}'
  → {"filtered_total_count": 8}
EOF
