#!/usr/bin/env bash
# A deploy in the blue/green style, driven through canary-proxy's admin API.
# Use it by hand, deploy.sh <git-ref>, or from a git post-receive hook (see
# post-receive beside it).
#
# It finds the idle release, updates and restarts it, checks it answers,
# switches all traffic to it, waits until the old release is drained and
# only then stops the old gunicorn. Any failure stops it with a one-line
# reason and a non-zero exit. Up to the switch, the release that served
# before still serves; after it, a drain that does not end in time leaves the
# new release serving and the old gunicorn running, as the reason says.
#
# Environment: ADMIN (or CANARY_PROXY_ADMIN_URL), default http://127.0.0.1:9901;
# CANARY_PROXY_TOKEN (or CANARY_PROXY_ADMIN_TOKEN, as the proxy reads it) when
# admin.token is set; APP_ROOT, default /srv/app, holding blue/ and green/;
# DRAIN_TIMEOUT, default 60s: how long requests on the old release may take;
# DEPLOY_LOCK, default $APP_ROOT/deploy.lock: held while it runs (one file for
# every account that deploys, so not under a per-user TMPDIR);
# SUPERVISORCTL, default supervisorctl (e.g. "supervisorctl -c /etc/app.conf").
set -euo pipefail
# A git hook runs with GIT_DIR set to the repository pushed to: the git
# commands below must act on the release's own checkout instead.
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES \
  GIT_QUARANTINE_PATH

ADMIN=${ADMIN:-${CANARY_PROXY_ADMIN_URL:-http://127.0.0.1:9901}}
TOKEN=${CANARY_PROXY_TOKEN:-${CANARY_PROXY_ADMIN_TOKEN:-}}
APP_ROOT=${APP_ROOT:-/srv/app}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60s}
SUPERVISORCTL=${SUPERVISORCTL:-supervisorctl}
REF=${1:-main}
AUTH=()
if [ -n "$TOKEN" ]; then AUTH=(-H "Authorization: Bearer $TOKEN"); fi

fail() { echo "deploy: $*" >&2; exit 1; }

# One deploy at a time: a second one started while the first drains would take
# the release being drained for the idle one. A second push waits its turn.
LOCK=${DEPLOY_LOCK:-$APP_ROOT/deploy.lock}
# Opened for reading, which is all flock needs: the file stays the account's
# that first made it, readable by all, and every other account that deploys
# can open it so. Beside the checkouts, not in a world-writable directory,
# where any local user could make or hold it.
[ -e "$LOCK" ] || (umask 022; : >>"$LOCK") 2>/dev/null || true
exec 9<"$LOCK" || fail "cannot open the lock file $LOCK"
flock -w 900 9 || fail "another deploy has held $LOCK for 15 minutes; nothing was changed"
# An answer's body on one line, cut short: a wrong address may answer a page.
short() { tr -s '\n' ' ' <<<"$1" | cut -c1-300; }

# admin METHOD PATH: sets $code and $body. curl -f would drop the body, which
# says why the proxy refused; curl's own failure means the API is not there.
admin() {
  local out
  # ${AUTH[@]+"${AUTH[@]}"}: an empty array under set -u, also with bash before 4.4
  out=$(curl -sS ${AUTH[@]+"${AUTH[@]}"} -X "$1" -w '\n%{http_code}' "$ADMIN$2") \
    || fail "cannot reach canary-proxy's admin API at $ADMIN"
  code=${out##*$'\n'}
  body=${out%$'\n'*}
}

admin GET /status
[ "$code" = 200 ] || fail "GET $ADMIN/status answered $code (is that the admin address?): $(short "$body")"
read -r stable canary < <(python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
    print(s["stable"], s.get("canary") or "-")
except (ValueError, KeyError, TypeError):
    print("- -")' <<<"$body")
[ "$stable" != - ] || fail "$ADMIN does not answer as canary-proxy's admin API: $(short "$body")"
# The idle release is the one that is not stable; during a canary it serves users.
[ "$canary" = - ] || fail "$canary is canary; promote or roll it back before a deploy"
if [ "$stable" = blue ]; then next=green; else next=blue; fi
echo "stable is $stable; deploying $REF to $next"

cd "$APP_ROOT/$next" || fail "no checkout of $next at $APP_ROOT/$next"
# What origin has now under that name (a branch or a tag): a local branch of
# the same name would be the last deploy's.
git fetch --quiet origin "$REF" || fail "cannot fetch $REF from origin in $APP_ROOT/$next"
git checkout --quiet --force --detach FETCH_HEAD || fail "cannot check out $REF in $APP_ROOT/$next"
./venv/bin/pip install --quiet -r requirements.txt || fail "pip install failed for $next; $stable still serves"
./venv/bin/python manage.py migrate --noinput || fail "migrate failed for $next; $stable still serves"
./venv/bin/python manage.py collectstatic --noinput --clear >/dev/null \
  || fail "collectstatic failed for $next; $stable still serves"
$SUPERVISORCTL restart "gunicorn-$next" || fail "cannot restart gunicorn-$next; $stable still serves"

# The switch is refused (409) while none of the new release's endpoints
# answers its health check when asked, so a gunicorn that did not come up (or
# is still starting) is never given traffic; the loop waits for it. Any other
# answer (a wrong token, an unknown release) will not change by waiting.
for attempt in $(seq 1 30); do
  admin POST "/switch?release=$next"
  [ "$code" = 409 ] && [ "$attempt" -lt 30 ] || break
  sleep 1
done
# e.g. {"error":"release 'green' has no healthy endpoint (...)"}
[ "$code" = 200 ] || fail "not switched to $next ($code), $stable still serves: $(short "$body")"

# 200 once no request is in flight and no connection is open to the old
# release; 503 says what is still open (a long download, a WebSocket).
admin GET "/drain?release=$stable&timeout=$DRAIN_TIMEOUT"
if [ "$code" != 200 ]; then
  open=$(python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    line = "%d requests in flight, %d connections open (%d upgraded)" % (d["inflight"], d["connections"], d["upgraded"])
    for r in d.get("requests", [])[:3]:
        line += "; %s %s from %s, %.1f s, %s%s" % (r["method"], r["path"], r["client"], r["ageMs"] / 1000,
                                                  r["stage"], " (%s)" % r["status"] if r.get("status") else "")
    print(line)
except (ValueError, KeyError, TypeError):
    print("")' <<<"$body")
  fail "$next serves, but $stable is not drained ($code): ${open:-$(short "$body")}; gunicorn-$stable left running"
fi
$SUPERVISORCTL stop "gunicorn-$stable" || fail "$next serves, but gunicorn-$stable could not be stopped"
echo "deployed $REF on $next; $stable stopped"
