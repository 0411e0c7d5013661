#!/usr/bin/env bash
# A deploy in the blue/green style, driven through canary-proxy's admin API.
# Use it from a git post-receive hook or by hand: deploy.sh <git-ref>
#
# It finds the idle release, updates and restarts it, checks it answers,
# switches all traffic to it, waits until the old release is drained and
# only then stops the old gunicorn.
set -euo pipefail

ADMIN=${ADMIN:-http://127.0.0.1:9901}
REF=${1:-main}
AUTH=()
if [ -n "${CANARY_PROXY_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $CANARY_PROXY_TOKEN"); fi
# ${AUTH[@]+"${AUTH[@]}"}: an empty array under set -u, also with bash before 4.4

stable=$(curl -fsS "$ADMIN/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stable"])')
if [ "$stable" = blue ]; then next=green; else next=blue; fi
echo "stable is $stable; deploying $REF to $next"

cd "/srv/app/$next"
git fetch --quiet origin && git checkout --quiet --force "$REF"
./venv/bin/pip install --quiet -r requirements.txt
./venv/bin/python manage.py migrate --noinput
./venv/bin/python manage.py collectstatic --noinput --clear >/dev/null
supervisorctl restart "gunicorn-$next"

# The switch refuses (409) a release none of whose endpoints answers its
# health check when asked, so a gunicorn that did not come up (or is still
# starting) is never given traffic; the loop waits for it.
switched=no
for _ in $(seq 1 30); do
  answer=$(curl -sS ${AUTH[@]+"${AUTH[@]}"} -X POST -w '\n%{http_code}' "$ADMIN/switch?release=$next")
  if [ "${answer##*$'\n'}" = 200 ]; then switched=yes; break; fi
  sleep 1
done
if [ "$switched" != yes ]; then
  # The proxy's answer says why, e.g. {"error":"release 'green' has no healthy endpoint (...)"}.
  echo "not switched to $next, $stable still serves: ${answer%$'\n'*}" >&2
  exit 1
fi

# 200 once no request is in flight and no connection is open to the old release.
curl -fsS "$ADMIN/drain?release=$stable&timeout=60s"
supervisorctl stop "gunicorn-$stable"
echo "deployed $REF on $next; $stable stopped"
