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
