#!/usr/bin/env bash
# Set everything up, then create the sample tenants, ingest their documents and search each one.
# The demo's home is .demo-home/ (override with TENANTCTL_HOME); run it again and nothing is re-embedded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
export TENANTCTL_HOME=${TENANTCTL_HOME:-$PWD/.demo-home}
tenantctl=.venv/bin/tenantctl

run() { printf '\n\033[1m$ tenantctl %s\033[0m\n' "$*"; "$tenantctl" "$@"; }

run init
for tenant in acme-hr nordwerk-maint huaxin-bank; do
  "$tenantctl" tenant show "$tenant" >/dev/null 2>&1 || run create "$tenant"
  run ingest "$tenant" "sample_tenants/$tenant" --prune
done
run tenant list
for tenant in acme-hr nordwerk-maint huaxin-bank; do
  phrase=$(.venv/bin/python -c 'import json,sys; print(json.load(open("sample_tenants/demo.json"))[sys.argv[1]]["search"])' "$tenant")
  run search "$tenant" "$phrase" -k 2
done
for tenant in acme-hr nordwerk-maint huaxin-bank; do
  question=$(.venv/bin/python -c 'import json,sys; print(json.load(open("sample_tenants/demo.json"))[sys.argv[1]]["question"])' "$tenant")
  run query "$tenant" "$question"
done
# Answer quality on the tenant's own labelled questions (an empty answers list: not in the documents).
run eval acme-hr --answers sample_tenants/acme-hr.answers.jsonl

# Tools: acme-hr looks a leave balance up in a CSV in its folder (sql); nordwerk-maint asks a (stand-in)
# purchasing system over HTTP, with a token from the environment. huaxin-bank has none.
port=${DEMO_SERVICE_PORT:-8089}
export NORDWERK_ERP_TOKEN=${NORDWERK_ERP_TOKEN:-demo-erp-token}
.venv/bin/python scripts/demo_service.py "$port" 2>/dev/null &
service=$!
trap 'kill "$service" 2>/dev/null || true' EXIT
sleep 1
kill -0 "$service" 2>/dev/null || { echo "Error: the demo service cannot listen on port $port (set DEMO_SERVICE_PORT)" >&2; exit 1; }
.venv/bin/python scripts/demo_tools.py "$port"
run tool list acme-hr
for tenant in acme-hr nordwerk-maint; do
  question=$(.venv/bin/python -c 'import json,sys; print(json.load(open("sample_tenants/demo.json"))[sys.argv[1]]["tool_question"])' "$tenant")
  run query "$tenant" "$question"
done
