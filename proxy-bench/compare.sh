#!/usr/bin/env bash
# compare.sh: end-to-end throughput/latency of canary-proxy next to nginx and
# HAProxy, all in front of the same fixed fast backend, in one go.
#
# Usage: proxy-bench/compare.sh [--quick] [--keep]
#   --quick   smoke run: DURATION=3s, ROUNDS=1, WARMUP=5s, WARMUP_RUNS=1
#   --keep    keep the temporary directory (configs, logs, raw wrk output)
#
# What it does:
#   1. Builds proxy-admin/target/canary-proxy.jar if it is missing (mvn package,
#      tests skipped). Starts the backend: nginx with its own prefix, pid and log
#      files in a temporary directory, 1 worker, no access log, answering every
#      request with a fixed 200-byte body on 127.0.0.1:18001 and on a Unix
#      socket in the temporary directory ("blue"), and on 127.0.0.1:18002
#      ("green").
#   2. Starts the front proxies, each with 1 worker/thread and keep-alive
#      connections to the backend:
#        nginx      1 worker, upstream keepalive 64, HTTP/1.1 upstream,
#                   the forwarding headers canary-proxy sends too
#                   (X-Forwarded-For/-Proto/-Host, X-Request-Id)         :18081
#        nginx-bare the same nginx without those headers                 :18087
#        haproxy    nbthread 1, mode http, http-reuse always, the same
#                   forwarding headers                                  :18082
#        canary     canary-proxy, threads = 1, blue only                :18083
#        canary-50  canary-proxy, threads = 1, 50 % canary: blue on
#                   :18001, green on :18002                             :18084
#        canary-uring  canary-proxy as "canary", but on io_uring
#                   (proxy.transport = io_uring; left out, with a note,
#                   where io_uring cannot run)                          :18086
#      and measures "direct" (wrk straight at the backend) as well.
#      wrk sends no cookies: to canary-proxy every request is a new user, which
#      it routes by a hash of the client address (so all of wrk's requests go
#      to one release, the same each run) and answers with a Set-Cookie of a
#      new bucket. The target canary-50-split (the same proxy, wrk
#      with compare/random-bucket.lua) sends a bucket cookie instead, spread
#      over 0..9999, so that both releases get half of the requests; the
#      target canary-cookies sends the same cookies to "canary" (blue only),
#      so that the split is compared with stable only under the same client
#      load (the cookies also spare the proxy its Set-Cookie). The
#      configs are proxy-bench/compare/*; the script checks them with
#      `nginx -t` and `haproxy -c` before starting anything. canary-proxy gets
#      $JAVA_OPTS (default: none, so the JVM's default heap and GC) and a
#      warm-up before it is measured: $WARMUP_RUNS wrk runs of $WARMUP each,
#      so that opening and closing wrk's connections is warmed up too (after
#      one long run, the first rounds' new connections still make the JIT
#      discard and recompile hot methods while they are measured).
#      Before measuring, every target must answer 200 with the 200-byte body,
#      and canary-50 must send requests with random bucket cookies to both
#      blue and green (the backend names itself in an X-Backend header).
#   3. Runs `wrk -t1 -c64 -d$DURATION --latency` against every target in
#      $ROUNDS interleaved rounds (direct, nginx, nginx-bare, haproxy, canary, ...
#      direct, ...) and prints a Markdown table: per target the median
#      requests/s, median p50 and p99 latency, the ratios of its median rps to
#      nginx's and to direct's, and the errors wrk counted over all rounds
#      (responses with status >= 400, and socket errors: connect, read, write,
#      timeout), so a target that answers errors fast does not look fast: its
#      name is marked (ERRORS), or (died in round N) if it exited; and each
#      target's rps and p99 round by round. Then, for each canary-proxy
#      target, the rounds in which its p99 was at or below nginx's in the
#      same round, and canary-proxy's resident memory after the run (VmRSS
#      and the peak VmHWM from /proc/PID/status) and its JVM options. The
#      report goes to stdout, progress (with every round's numbers) to stderr.
#   4. Stops every process it started on exit, also on Ctrl-C or failure. Uses
#      only 127.0.0.1 and Unix sockets. Fails with a clear message if a binary
#      is missing, a port is taken, a server does not come up or the backend
#      dies. After a failure the temporary directory is kept for its logs.
#
# Environment (defaults in brackets):
#   DURATION [10s]  ROUNDS [3]  WARMUP [5s]  WARMUP_RUNS [4]  CONNECTIONS [64]
#   JAVA_OPTS []    options of canary-proxy's JVM, e.g. "-Xmx64m"
#   TARGETS ["direct nginx nginx-bare haproxy canary canary-cookies canary-uring canary-50 canary-50-split"]; also
#                   available: canary-unix
#                   (canary-proxy, blue on the backend's Unix socket, :18085)
#   NGINX, HAPROXY, WRK, JAVA, CURL, MVN   the binaries [found on PATH, then
#                   /usr/sbin for nginx and haproxy]
#   JAR [proxy-admin/target/canary-proxy.jar]
#   BACKEND_PORT [18001] GREEN_PORT [18002] NGINX_PORT [18081]
#   HAPROXY_PORT [18082] CANARY_PORT [18083] CANARY50_PORT [18084]
#   CANARY_UNIX_PORT [18085] CANARY_URING_PORT [18086] NGINX_BARE_PORT [18087]
#   ADMIN_PORT_BASE [19903]: admin APIs on ADMIN_PORT_BASE, +1, +2 and +3
#
# The machine is described at the top of the output (cores, CPU, load, versions):
# wrk, the backend and the proxy share its cores, so numbers from a small or
# busy machine are noisy; that is why rounds are interleaved and medians shown.

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) DURATION=3s; ROUNDS=1; WARMUP=${WARMUP:-5s}; WARMUP_RUNS=${WARMUP_RUNS:-1} ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-5s}
WARMUP_RUNS=${WARMUP_RUNS:-4}
CONNECTIONS=${CONNECTIONS:-64}
JAVA_OPTS=${JAVA_OPTS:-}
TARGETS=${TARGETS:-direct nginx nginx-bare haproxy canary canary-cookies canary-uring canary-50 canary-50-split}
BACKEND_PORT=${BACKEND_PORT:-18001}
GREEN_PORT=${GREEN_PORT:-18002}
NGINX_PORT=${NGINX_PORT:-18081}
NGINX_BARE_PORT=${NGINX_BARE_PORT:-18087}
HAPROXY_PORT=${HAPROXY_PORT:-18082}
CANARY_PORT=${CANARY_PORT:-18083}
CANARY50_PORT=${CANARY50_PORT:-18084}
CANARY_UNIX_PORT=${CANARY_UNIX_PORT:-18085}
CANARY_URING_PORT=${CANARY_URING_PORT:-18086}
ADMIN_PORT_BASE=${ADMIN_PORT_BASE:-19903}

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TEMPLATES=$SCRIPT_DIR/compare
JAR=${JAR:-$ROOT/proxy-admin/target/canary-proxy.jar}

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup

WORK=""
PIDS=()        # every process started, in start order
INTERRUPTED=0

stop_all() {
    local i pid waited
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "process $pid did not stop on SIGTERM within 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ "${#PIDS[@]}" -gt 0 ]; then
        log "stopping ${#PIDS[@]} process(es) started by this script"
        stop_all
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP" = 1 ] || { [ "$rc" -ne 0 ] && [ "$INTERRUPTED" = 0 ]; }; then
            log "configs, logs and wrk output kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'INTERRUPTED=1; log "interrupted"; exit 130' INT
trap 'INTERRUPTED=1; log "terminated"; exit 143' TERM
trap 'INTERRUPTED=1; log "hung up"; exit 129' HUP

# ---------------------------------------------------------------- checks

find_bin() { # VAR name [extra dir]
    local var=$1 name=$2 dir=${3:-} path
    path=${!var:-}
    if [ -z "$path" ]; then
        path=$(command -v "$name" 2>/dev/null || true)
        if [ -z "$path" ] && [ -n "$dir" ] && [ -x "$dir/$name" ]; then
            path=$dir/$name
        fi
    fi
    [ -n "$path" ] && [ -x "$path" ] || die "$name not found (install it, or set $var=/path/to/$name)"
    printf -v "$var" '%s' "$path"
}

has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Whether the canary-proxy instance NAME runs: canary-50-split measures canary-50's, canary-cookies canary's.
runs() {
    has_target "$1" || { [ "$1" = canary-50 ] && has_target canary-50-split; } \
        || { [ "$1" = canary ] && has_target canary-cookies; }
}

for t in $TARGETS; do
    case "$t" in
        direct|nginx|nginx-bare|haproxy|canary|canary-cookies|canary-uring|canary-50|canary-50-split|canary-unix) ;;
        *) die "unknown target in TARGETS: $t (known: direct nginx nginx-bare haproxy canary canary-cookies canary-uring canary-50 canary-50-split canary-unix)" ;;
    esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ "$WARMUP_RUNS" =~ ^[1-9][0-9]*$ ]] || die "WARMUP_RUNS must be a positive integer, not '$WARMUP_RUNS'"
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, not '$CONNECTIONS'"

find_bin NGINX nginx /usr/sbin
find_bin WRK wrk
find_bin CURL curl
find_bin JAVA java
has_target haproxy && find_bin HAPROXY haproxy /usr/sbin
USES_JAVA=0
for t in canary canary-uring canary-50 canary-unix; do runs "$t" && USES_JAVA=1; done

if [ "$USES_JAVA" = 1 ] && [ ! -f "$JAR" ]; then
    find_bin MVN mvn
    log "$JAR is missing: building it (mvn -DskipTests package)"
    (cd "$ROOT" && "$MVN" -B -q -DskipTests package) || die "the build failed"
    [ -f "$JAR" ] || die "the build did not produce $JAR"
fi

port_taken() { # port
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

ADMIN_CANARY=$ADMIN_PORT_BASE
ADMIN_CANARY50=$((ADMIN_PORT_BASE + 1))
ADMIN_CANARY_UNIX=$((ADMIN_PORT_BASE + 2))
ADMIN_CANARY_URING=$((ADMIN_PORT_BASE + 3))
NEEDED_PORTS="$BACKEND_PORT $GREEN_PORT"
if has_target nginx || has_target nginx-bare; then NEEDED_PORTS+=" $NGINX_PORT $NGINX_BARE_PORT"; fi
has_target haproxy && NEEDED_PORTS+=" $HAPROXY_PORT"
runs canary && NEEDED_PORTS+=" $CANARY_PORT $ADMIN_CANARY"
runs canary-50 && NEEDED_PORTS+=" $CANARY50_PORT $ADMIN_CANARY50"
has_target canary-unix && NEEDED_PORTS+=" $CANARY_UNIX_PORT $ADMIN_CANARY_UNIX"
has_target canary-uring && NEEDED_PORTS+=" $CANARY_URING_PORT $ADMIN_CANARY_URING"
for p in $NEEDED_PORTS; do
    port_taken "$p" && die "port 127.0.0.1:$p is already taken (by: $(ss -Hltnp "sport = :$p" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1)); stop that process or choose other ports (see --help)"
done
if [ "$(printf '%s\n' $NEEDED_PORTS | sort | uniq -d)" ]; then
    die "two of the ports are the same: $NEEDED_PORTS"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/canary-compare.XXXXXX")
chmod 755 "$WORK"   # nginx workers may run as another user
mkdir -p "$WORK/wrk" "$WORK/backend-nginx.tmp" "$WORK/front-nginx.tmp"
SOCKET=$WORK/backend.sock

render() { # template output [LISTEN_PORT ADMIN_PORT BLUE_ENDPOINT [TRANSPORT]]
    sed -e "s#@DIR@#$WORK#g" \
        -e "s#@BACKEND_PORT@#$BACKEND_PORT#g" \
        -e "s#@GREEN_PORT@#$GREEN_PORT#g" \
        -e "s#@NGINX_PORT@#$NGINX_PORT#g" \
        -e "s#@NGINX_BARE_PORT@#$NGINX_BARE_PORT#g" \
        -e "s#@HAPROXY_PORT@#$HAPROXY_PORT#g" \
        -e "s#@LISTEN_PORT@#${3:-}#g" \
        -e "s#@ADMIN_PORT@#${4:-}#g" \
        -e "s#@BLUE_ENDPOINT@#${5:-}#g" \
        -e "s#@TRANSPORT@#${6:-auto}#g" \
        "$TEMPLATES/$1" > "$WORK/$2"
    if grep -q '@[A-Z_]*@' "$WORK/$2"; then
        die "placeholder left in $WORK/$2: $(grep -o '@[A-Z_]*@' "$WORK/$2" | sort -u | tr '\n' ' ')"
    fi
}

render backend-nginx.conf backend-nginx.conf
FRONT_NGINX=0
if has_target nginx || has_target nginx-bare; then FRONT_NGINX=1; fi
[ "$FRONT_NGINX" = 1 ] && render front-nginx.conf front-nginx.conf
has_target haproxy && render haproxy.cfg haproxy.cfg
runs canary && render canary-proxy.conf canary.conf "$CANARY_PORT" "$ADMIN_CANARY" "127.0.0.1:$BACKEND_PORT"
runs canary-50 && render canary-proxy-50.conf canary-50.conf "$CANARY50_PORT" "$ADMIN_CANARY50" "127.0.0.1:$BACKEND_PORT"
has_target canary-uring && render canary-proxy.conf canary-uring.conf "$CANARY_URING_PORT" "$ADMIN_CANARY_URING" "127.0.0.1:$BACKEND_PORT" io_uring
has_target canary-unix && render canary-proxy.conf canary-unix.conf "$CANARY_UNIX_PORT" "$ADMIN_CANARY_UNIX" "unix:$SOCKET"

# Smoke check of the config files before anything is started.
nginx_test() { # config name
    "$NGINX" -t -q -p "$WORK" -e "$WORK/$2.test.log" -c "$WORK/$1" > "$WORK/$2.test.out" 2>&1 \
        || die "nginx -t rejects $WORK/$1: $(cat "$WORK/$2.test.out" "$WORK/$2.test.log" 2>/dev/null)"
}
nginx_test backend-nginx.conf backend-nginx
[ "$FRONT_NGINX" = 1 ] && nginx_test front-nginx.conf front-nginx
if has_target haproxy; then
    "$HAPROXY" -c -f "$WORK/haproxy.cfg" > "$WORK/haproxy.test.out" 2>&1 \
        || die "haproxy -c rejects $WORK/haproxy.cfg: $(cat "$WORK/haproxy.test.out")"
fi
log "config files pass nginx -t and haproxy -c"

# ---------------------------------------------------------------- machine

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
JAVA_VERSION=$("$JAVA" -version 2>&1 | tr '\n' ';' | sed 's/;$//; s/;/; /g')
echo "## canary-proxy compare: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- machine: $(nproc) CPU(s), ${CPU_MODEL:-unknown CPU}, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $("$NGINX" -v 2>&1)${HAPROXY:+; $("$HAPROXY" -v 2>&1 | head -1 | cut -d' ' -f1-3)}; $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "- java: $JAVA_VERSION"
echo "- wrk -t1 -c$CONNECTIONS -d$DURATION --latency, $ROUNDS interleaved round(s), canary-proxy warm-up ${WARMUP_RUNS}x $WARMUP; backend: nginx, 1 worker, 200-byte body"
echo

# ---------------------------------------------------------------- start

declare -A PID_OF URL_OF LOG_OF PORT_OF
PORT_OF=([direct]=$BACKEND_PORT [nginx]=$NGINX_PORT [nginx-bare]=$NGINX_BARE_PORT [haproxy]=$HAPROXY_PORT [canary]=$CANARY_PORT
         [canary-50]=$CANARY50_PORT [canary-50-split]=$CANARY50_PORT [canary-unix]=$CANARY_UNIX_PORT
         [canary-cookies]=$CANARY_PORT
         [canary-uring]=$CANARY_URING_PORT)
for t in $TARGETS canary canary-50; do URL_OF[$t]="http://127.0.0.1:${PORT_OF[$t]}/"; done

# Starts a server in the background, in a session of its own: a Ctrl-C in the
# terminal reaches only this script, whose EXIT trap stops the server. (A
# background child of a shell without job control never leads its process
# group, so setsid execs the command without forking and $! is its pid.)
start() { # name log command...
    local name=$1 logfile=$2
    shift 2
    setsid "$@" > "$logfile" 2>&1 < /dev/null &
    PIDS+=("$!")
    PID_OF[$name]=$!
    LOG_OF[$name]=$logfile
}

# Waits until URL answers 200 while the process is alive.
wait_up() { # name url [seconds]
    local name=$1 url=$2 limit=${3:-30} i code
    for ((i = 0; i < limit * 10; i++)); do
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            die "$name exited at start; end of ${LOG_OF[$name]}:
$(tail -n 20 "${LOG_OF[$name]}" 2>/dev/null)"
        fi
        code=$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not answer 200 at $url within $limit s (last status: ${code:-none}); end of ${LOG_OF[$name]}:
$(tail -n 20 "${LOG_OF[$name]}" 2>/dev/null)"
}

log "starting the backend (nginx) on :$BACKEND_PORT, :$GREEN_PORT and $SOCKET"
start backend "$WORK/backend-nginx.out" "$NGINX" -p "$WORK" -e "$WORK/backend-nginx.error.log" -c "$WORK/backend-nginx.conf"
PID_OF[direct]=${PID_OF[backend]}
LOG_OF[direct]=$WORK/backend-nginx.error.log
wait_up backend "http://127.0.0.1:$BACKEND_PORT/"
wait_up backend "http://127.0.0.1:$GREEN_PORT/"
"$CURL" -s -o /dev/null --max-time 2 --unix-socket "$SOCKET" http://localhost/ \
    || die "the backend does not answer on $SOCKET"

if [ "$FRONT_NGINX" = 1 ]; then
    log "starting nginx on :$NGINX_PORT (nginx) and :$NGINX_BARE_PORT (nginx-bare)"
    start nginx "$WORK/front-nginx.out" "$NGINX" -p "$WORK" -e "$WORK/front-nginx.error.log" -c "$WORK/front-nginx.conf"
    LOG_OF[nginx]=$WORK/front-nginx.error.log
    PID_OF[nginx-bare]=${PID_OF[nginx]}
    LOG_OF[nginx-bare]=${LOG_OF[nginx]}
    wait_up nginx "http://127.0.0.1:$NGINX_PORT/"
    wait_up nginx-bare "http://127.0.0.1:$NGINX_BARE_PORT/"
fi
if has_target haproxy; then
    log "starting haproxy on :$HAPROXY_PORT"
    start haproxy "$WORK/haproxy.log" "$HAPROXY" -db -f "$WORK/haproxy.cfg"
    wait_up haproxy "${URL_OF[haproxy]}"
fi
for t in canary canary-uring canary-50 canary-unix; do
    runs "$t" || continue
    log "starting canary-proxy ($t) on :${PORT_OF[$t]}${JAVA_OPTS:+ with JAVA_OPTS=$JAVA_OPTS}"
    # shellcheck disable=SC2086 # JAVA_OPTS is a list of options
    start "$t" "$WORK/$t.log" "$JAVA" $JAVA_OPTS -jar "$JAR" --config "$WORK/$t.conf"
done
URING_NOTE=""
if has_target canary-uring; then
    # Many kernels and container runtimes do not allow io_uring; the proxy then refuses to start, saying so.
    for ((i = 0; i < 100; i++)); do
        kill -0 "${PID_OF[canary-uring]}" 2>/dev/null || break
        grep -q 'listening on' "${LOG_OF[canary-uring]}" 2>/dev/null && break
        sleep 0.2
    done
    if ! kill -0 "${PID_OF[canary-uring]}" 2>/dev/null \
            && grep -q 'io_uring is not available' "${LOG_OF[canary-uring]}" 2>/dev/null; then
        URING_NOTE=$(grep -m1 -o 'native io_uring is not available.*' "${LOG_OF[canary-uring]}")
        log "canary-uring left out: $URING_NOTE"
        TARGETS=$(printf '%s\n' $TARGETS | grep -vx canary-uring | tr '\n' ' ')
    fi
fi
for t in canary canary-uring canary-50 canary-unix; do
    runs "$t" && wait_up "$t" "${URL_OF[$t]}" 60
done
if runs canary-50; then
    PID_OF[canary-50-split]=${PID_OF[canary-50]}
    LOG_OF[canary-50-split]=${LOG_OF[canary-50]}
fi
if runs canary; then
    PID_OF[canary-cookies]=${PID_OF[canary]}
    LOG_OF[canary-cookies]=${LOG_OF[canary]}
fi

# Every target must answer 200 with the backend's 200-byte body.
for t in $TARGETS; do
    result=$("$CURL" -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "${URL_OF[$t]}" || true)
    [ "$result" = "200 200" ] || die "$t at ${URL_OF[$t]} does not answer 200 with the 200-byte body (status and size: '${result:-no answer}')"
done

# ---------------------------------------------------------------- measure

# Runs wrk and sets WRK_RESULT to one line parsed from its output (kept in
# $WORK/wrk/NAME.txt): rps p50_ms p99_ms requests errors_status errors_socket
# (errors_socket -1: wrk could not connect at all). wrk runs in the background
# and the script waits for it with `wait`, which a trapped signal interrupts at
# once: Ctrl-C stops the script at once, and the EXIT trap stops wrk.
WRK_RESULT=""
run_wrk() { # target duration name
    local out=$WORK/wrk/$3.txt script=() pid
    case "$1" in canary-50-split|canary-cookies) script=(-s "$TEMPLATES/random-bucket.lua") ;; esac
    "$WRK" -t1 -c"$CONNECTIONS" -d"$2" --latency "${script[@]}" "${URL_OF[$1]}" > "$out" 2>&1 < /dev/null &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || true
    unset 'PIDS[${#PIDS[@]}-1]'
    WRK_RESULT=$(awk '
        function ms(v,  n) {
            n = v + 0
            if (v ~ /us$/) return n / 1000
            if (v ~ /ms$/) return n
            if (v ~ /m$/) return n * 60000
            if (v ~ /h$/) return n * 3600000
            if (v ~ /s$/) return n * 1000
            return n
        }
        BEGIN { rps = 0; p50 = "-"; p99 = "-"; req = 0; status = 0; sock = 0 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /requests in/ { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { sock = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { status = $NF }
        /unable to connect/ { sock = -1 }
        END {
            if (req == 0) { p50 = "-"; p99 = "-" }
            print rps, p50, p99, req, status, sock
        }
    ' "$out")
}

# The release (by the backend's X-Backend header) that answers requests with these curl options.
release_of() { # curl options...
    local port
    port=$("$CURL" -s -o /dev/null -D - --max-time 2 "$@" "${URL_OF[canary-50]}" | tr -d '\r' \
        | sed -n 's/^[Xx]-[Bb]ackend: //p')
    case "$port" in
        "$BACKEND_PORT") echo blue ;;
        "$GREEN_PORT") echo green ;;
        *) echo "unknown (X-Backend: '$port')" ;;
    esac
}

# The 50 % canary sends requests with random bucket cookies to both releases.
check_split() {
    local i j n=200 blue=0 green=0 headers
    for ((i = 0; i < 30; i++)); do
        headers=$(for ((j = 0; j < n; j++)); do
                "$CURL" -s -o /dev/null -D - --max-time 2 -H "Cookie: cp_bucket=$((RANDOM % 10000))" \
                    "${URL_OF[canary-50]}" || true
            done | tr -d '\r')
        blue=$(grep -ci "^x-backend: $BACKEND_PORT\$" <<< "$headers" || true)
        green=$(grep -ci "^x-backend: $GREEN_PORT\$" <<< "$headers" || true)
        if [ "$blue" -gt 0 ] && [ "$green" -gt 0 ]; then
            SPLIT="with random bucket cookies $blue of $n requests went to blue, $green to green"
            SPLIT+="; without a cookie (as wrk sends them) every request from 127.0.0.1 goes to $(release_of)"
            return 0
        fi
        sleep 1
    done
    die "canary-50 does not split: of $n requests with random bucket cookies $blue went to blue, $green to green; end of ${LOG_OF[canary-50]}:
$(tail -n 20 "${LOG_OF[canary-50]}")"
}

for t in canary canary-cookies canary-uring canary-50 canary-50-split canary-unix; do
    has_target "$t" || continue
    for w in $(seq "$WARMUP_RUNS"); do
        log "warm-up of $t ($w/$WARMUP_RUNS): wrk for $WARMUP"
        run_wrk "$t" "$WARMUP" "warmup-$t-$w"
        read -r rps _ _ _ es ek <<< "$WRK_RESULT"
        log "  warm-up of $t ($w/$WARMUP_RUNS): $rps req/s, errors: $es status, $ek socket"
    done
    kill -0 "${PID_OF[$t]}" 2>/dev/null || die "$t died during its warm-up; end of ${LOG_OF[$t]}:
$(tail -n 20 "${LOG_OF[$t]}")"
done
SPLIT=""
if runs canary-50; then
    check_split
    log "canary-50: $SPLIT"
fi

declare -A DEAD
for ((round = 1; round <= ROUNDS; round++)); do
    for t in $TARGETS; do
        if [ -n "${DEAD[$t]:-}" ]; then continue; fi
        log "round $round/$ROUNDS: $t (wrk -d$DURATION)"
        run_wrk "$t" "$DURATION" "$t.$round"
        line=$WRK_RESULT
        echo "$line" >> "$WORK/wrk/$t.results"
        log "  $t: $(awk '{printf "%s req/s, p50 %s ms, p99 %s ms, errors: %s status, %s socket", $1, $2, $3, $5, $6}' <<< "$line")"
        kill -0 "${PID_OF[backend]}" 2>/dev/null || die "the backend (nginx) died in round $round, so no number means anything; end of ${LOG_OF[direct]}:
$(tail -n 20 "${LOG_OF[direct]}")"
        if ! kill -0 "${PID_OF[$t]}" 2>/dev/null; then
            DEAD[$t]="died in round $round"
            log "  $t DIED in round $round; end of ${LOG_OF[$t]}:"
            tail -n 20 "${LOG_OF[$t]}" >&2 || true
        fi
    done
done

# ---------------------------------------------------------------- report

median() { # column file
    awk -v c="$1" '$c != "-" { print $c }' "$2" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "-"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

declare -A RPS
for t in $TARGETS; do RPS[$t]=$(median 1 "$WORK/wrk/$t.results"); done

ratio() { # rps reference-target
    local ref=${RPS[$2]:-}
    if [ -z "$ref" ] || [ "$ref" = "-" ] || [ "$1" = "-" ] || awk -v r="$ref" 'BEGIN { exit !(r == 0) }'; then
        echo "-"
    else
        awk -v a="$1" -v b="$ref" 'BEGIN { printf "%.2f", a / b }'
    fi
}

echo "| target | rps (median) | p50 ms (median) | p99 ms (median) | rps / nginx | rps / direct | status >= 400 | socket errors | requests | rps per round | p99 ms per round |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
for t in $TARGETS; do
    f=$WORK/wrk/$t.results
    rps=${RPS[$t]}
    p50=$(median 2 "$f")
    p99=$(median 3 "$f")
    errs=$(awk '{ s += $5 } END { print s + 0 }' "$f")
    sock=$(awk '$6 < 0 { refused = 1 } { if ($6 > 0) s += $6 } END { print (refused ? "refused, " : "") s + 0 }' "$f")
    reqs=$(awk '{ s += $4 } END { print s + 0 }' "$f")
    per=$(awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }' "$f")
    per99=$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), ($3 == "-" ? "-" : sprintf("%.2f", $3)) }' "$f")
    name=$t
    [ -n "${DEAD[$t]:-}" ] && name+=" (${DEAD[$t]})"
    [ "$errs" != 0 ] || [ "$sock" != 0 ] && name+=" (ERRORS)"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
        "$(awk -v v="$rps" 'BEGIN { if (v == "-") print v; else printf "%.0f", v }')" \
        "$(awk -v v="$p50" 'BEGIN { if (v == "-") print v; else printf "%.2f", v }')" \
        "$(awk -v v="$p99" 'BEGIN { if (v == "-") print v; else printf "%.2f", v }')" \
        "$(ratio "$rps" nginx)" "$(ratio "$rps" direct)" "$errs" "$sock" "$reqs" "$per" "$per99"
done
echo
# Medians of p99 can come from different rounds; the host's speed moves between rounds, so the p99 is also held
# against nginx's in the same round.
if runs nginx; then
    same=""
    for t in $TARGETS; do
        case "$t" in canary*) ;; *) continue ;; esac
        runs "$t" || continue
        same+="${same:+, }$t $(paste -d ' ' "$WORK/wrk/nginx.results" "$WORK/wrk/$t.results" \
            | awk 'NF == 12 && $3 != "-" && $9 != "-" { n++; if ($9 + 0 <= $3 + 0) k++ } END { printf "%d of %d", k, n }')"
    done
    [ -n "$same" ] && echo "- p99 at or below nginx's in the same round: $same"
fi
[ -n "$SPLIT" ] && echo "- canary-50, checked before measuring: $SPLIT"
[ -n "$URING_NOTE" ] && echo "- canary-uring left out: $URING_NOTE"

for t in canary canary-uring canary-50 canary-unix; do
    runs "$t" || continue
    pid=${PID_OF[$t]}
    if [ -r "/proc/$pid/status" ]; then
        rss=$(awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status")
        hwm=$(awk '/^VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status")
        echo "- $t (pid $pid) after the run: VmRSS $rss, peak VmHWM $hwm"
    else
        echo "- $t (pid $pid): not running after the run, no RSS"
    fi
done
if [ "$USES_JAVA" = 1 ]; then
    if [ -n "$JAVA_OPTS" ]; then
        echo "- canary-proxy JVM options: JAVA_OPTS='$JAVA_OPTS'"
    else
        echo "- canary-proxy JVM options: none (JAVA_OPTS empty: the JVM's default heap and GC)"
    fi
    JCMD=${JCMD:-$(command -v jcmd 2>/dev/null || echo "$(dirname "$(readlink -f "$JAVA")")/jcmd")}
    for t in canary canary-uring canary-50 canary-unix; do
        runs "$t" || continue
        flags=$("$JCMD" "${PID_OF[$t]}" VM.flags 2>/dev/null | tail -n +2 | tr -s ' ' | tr ' ' '\n' \
            | grep -E '^-XX:(InitialHeapSize|MaxHeapSize|\+Use[A-Za-z0-9]*GC)' \
            | awk -F= '{ printf "%s%s", (NR > 1 ? " " : ""), $0; if (NF == 2) printf " (%.0f MiB)", $2 / 1048576 }' || true)
        [ -n "$flags" ] && echo "- $t effective JVM flags (jcmd VM.flags): $flags"
        break
    done
fi
echo "- errors: 'status >= 400' is wrk's count of responses with status 400 or above (wrk prints it as \"Non-2xx or 3xx responses\"); 'socket errors' is connect + read + write + timeout over all rounds"
for t in $TARGETS; do
    [ -n "${LOG_OF[$t]:-}" ] || continue
    case "$t" in canary*)
        n=$(grep -cE ' (WARN|ERROR) ' "${LOG_OF[$t]}" || true)
        [ "$n" -gt 0 ] && echo "- $t log has $n WARN/ERROR line(s), e.g.: $(grep -m1 -E ' (WARN|ERROR) ' "${LOG_OF[$t]}")"
        ;;
    esac
done
log "done"
