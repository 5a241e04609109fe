#!/usr/bin/env bash
# Re-index every tenant from its sources; alert when something failed. Meant for cron:
#   15 2 * * *  TENANTCTL_HOME=/srv/tenantctl /opt/tenantctl/scripts/reindex-all.sh
# Alerts go to $ALERT_CMD (a command reading the report on stdin), else to `mail $ALERT_EMAIL`,
# else to stderr (which cron mails to the crontab's owner). $TENANTCTL names the tenantctl to run
# (default: this checkout's .venv/bin/tenantctl).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tenantctl=${TENANTCTL:-$here/.venv/bin/tenantctl}
report=$(mktemp)
trap 'rm -f "$report" "$report.err"' EXIT  # also when cron's job is killed midway

"$tenantctl" reindex --all --json >"$report" 2>>"$report.err"
code=$?
if [ "$code" -eq 75 ]; then  # some tenant was busy (a person ingesting): give it ten minutes
  "$tenantctl" reindex --all --json --wait 600 >"$report" 2>>"$report.err"
  code=$?
fi
if [ "$code" -ne 0 ]; then
  {
    echo "tenantctl reindex --all exited $code on $(hostname) at $(date -u +%FT%TZ)"
    python3 - "$report" <<'PY' 2>/dev/null || cat "$report"
import json, sys
data = json.load(open(sys.argv[1]))
for run in data["tenants"]:
    if run["status"] not in ("ok", "skipped"):
        print(f"- {run['tenant']}: {run['status']}: {run['error']}")
PY
    cat "$report.err" 2>/dev/null
  } | if [ -n "${ALERT_CMD:-}" ]; then sh -c "$ALERT_CMD"
      elif [ -n "${ALERT_EMAIL:-}" ]; then mail -s "tenantctl reindex failed" "$ALERT_EMAIL"
      else cat >&2; fi
fi
exit "$code"
