#!/usr/bin/env bash
# Checks the deploy files (deploy/) with what this machine can run, and
# fails loudly when a tool it needs is missing:
#   - scripts/check_deploy.py: every YAML and JSON file parses, and the
#     fields the engine needs are there (probes, volumes, grace periods,
#     selectors, the shared backup volume where backup-dir points, the
#     unit's ReadWritePaths, the compose services and mounts, the metric
#     names of the dashboard, the Dockerfile's stages, USER and HEALTHCHECK);
#   - promtool: the compose Prometheus config, and every dashboard query as
#     PromQL;
#   - docker-compose config: the compose file as Compose reads it;
#   - systemd-analyze verify on the unit (any warning fails);
#   - the image's HEALTHCHECK script against a local HTTP server;
#   - with the binaries: loyaltyd reads the three config files, the runtime
#     package list of the image, and the ConfigMap's programs loaded by
#     loyaltyd from a directory laid out as the kubelet mounts a ConfigMap
#     (symlinks through ..data); and loyaltyd run on its embedded broker
#     with a backup directory: the HEALTHCHECK script passes on its
#     /healthz, the dashboards' metrics are in its /metrics, SIGTERM stops
#     it with status 0.
# Usage: scripts/check_deploy.sh [ROOT]. LOYALTYD and LOYALTYCTL name built
# binaries (tests/CMakeLists.txt passes them); without them the checks that
# run them are skipped, and the script says so.
# Not checked here: building or running the image (deploy/README.md), the
# manifests against a Kubernetes API server.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "${1:-$HERE/..}" && pwd)

fail() { echo "check_deploy: $*" >&2; exit 1; }
need() {
  command -v "$1" >/dev/null 2>&1 ||
    fail "$1 not found: install Debian's $2 (scripts/install-deps.sh does)"
}
need python3 python3
need systemd-analyze systemd
need promtool prometheus
need docker-compose docker-compose
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no yaml module: install Debian's python3-yaml"

t=$(mktemp -d)
srv=""
eng=""
cleanup() {
  [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
  if [ -n "$eng" ]; then kill -TERM "$eng" 2>/dev/null || true; wait "$eng" 2>/dev/null || true; fi
  rm -rf "$t"
}
trap cleanup EXIT

# 1. The static checks.
CHECK_DEPLOY_RULES="$t/rules.yml" CHECK_DEPLOY_K8S_CONF="$t/k8s.conf" \
  python3 "$HERE/check_deploy.py" "$ROOT"

# 2. Prometheus: the scrape config, and the dashboard's queries as PromQL.
out=$(promtool check config "$ROOT/deploy/compose/prometheus/prometheus.yml" 2>&1) ||
  fail "promtool check config failed: $out"
out=$(promtool check rules "$t/rules.yml" 2>&1) ||
  fail "a dashboard query is not PromQL (promtool check rules): $out"

# 3. Compose reads the compose file (docker-compose 1.29, Debian's; a
#    Compose v2 reads the same file).
out=$(cd "$ROOT/deploy/compose" && docker-compose -f compose.yaml config -q 2>&1) ||
  fail "docker-compose config rejects deploy/compose/compose.yaml: $out"

# 4. systemd-analyze verify, on a copy whose ExecStart names a binary that
#    exists here (verify refuses a missing one). It exits 0 on unknown
#    directives and bad values and only prints them, so any output fails.
exe=${LOYALTYD:-/bin/true}
unit="$ROOT/deploy/systemd/loyaltyd.service"
mkdir "$t/unit"
sed "s#^ExecStart=/usr/local/bin/loyaltyd #ExecStart=$exe #" "$unit" > "$t/unit/loyaltyd.service"
grep -q "^ExecStart=$exe run " "$t/unit/loyaltyd.service" ||
  fail "$unit: no ExecStart=/usr/local/bin/loyaltyd run ... line"
out=$(systemd-analyze verify "$t/unit/loyaltyd.service" 2>&1) ||
  fail "systemd-analyze verify failed on $unit: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns about $unit:
$out"

# 5. The image's HEALTHCHECK script: 0 on 200 from /healthz, 1 on another
#    status, 1 when nothing listens.
hc="$ROOT/deploy/docker/healthcheck.sh"
cat > "$t/server.py" <<'EOF'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()
        self.wfile.write(b"x\n")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
server.handle_error = lambda request, address: None  # the client closes early
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
EOF
python3 "$t/server.py" "$t/port" & srv=$!
for _ in $(seq 100); do [ -s "$t/port" ] && break; sleep 0.1; done
[ -s "$t/port" ] || fail "the test HTTP server did not start"
port=$(cat "$t/port")
LOYALTY_HEALTH_PORT=$port "$hc" 2>"$t/hc.err" ||
  fail "$hc failed on a 200 from /healthz: $(cat "$t/hc.err")"
if LOYALTY_HEALTH_PORT=$port LOYALTY_HEALTH_PATH=/readyz "$hc" 2>/dev/null; then
  fail "$hc passed on a 503"
fi
kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""
if LOYALTY_HEALTH_PORT=$port "$hc" 2>/dev/null; then
  fail "$hc passed with nothing listening on $port"
fi

# 6. With the binaries: the config files, the image's runtime packages, and
#    the ConfigMap's programs loaded from a kubelet-style mount.
if [ -n "${LOYALTYD:-}" ] && [ -n "${LOYALTYCTL:-}" ]; then
  pkgs=$("$ROOT/deploy/docker/runtime-packages.sh" "$LOYALTYD" "$LOYALTYCTL") ||
    fail "deploy/docker/runtime-packages.sh failed"
  for want in librdkafka libprotobuf libstdc++; do
    grep -q "^$want" <<<"$pkgs" || fail "runtime-packages.sh lists no $want package: $pkgs"
  done
  python3 - "$ROOT/deploy/k8s/configmap.yaml" "$t/programs" <<'EOF'
import os, sys, yaml
# The kubelet's layout of a ConfigMap volume: the files in a timestamped
# directory, ..data a symlink to it, each key a symlink through ..data.
dest = sys.argv[2]
os.makedirs(os.path.join(dest, "..2026_01_01_00_00_00.000000001"))
os.symlink("..2026_01_01_00_00_00.000000001", os.path.join(dest, "..data"))
n = 0
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["metadata"]["name"] == "loyaltyd-programs":
        for key, text in doc["data"].items():
            with open(os.path.join(dest, "..data", key), "w") as f:
                f.write(text)
            os.symlink(os.path.join("..data", key), os.path.join(dest, key))
            n += 1
if n == 0:
    sys.exit("check_deploy: deploy/k8s/configmap.yaml has no ConfigMap loyaltyd-programs")
EOF
  # loyaltyd reads each config file (`run --config=FILE --help` parses it
  # and refuses an unknown name, naming file and line), and each with its
  # commented-out options (`# standby-replicas = 1`) turned on, as an
  # operator would.
  for conf in "$ROOT/deploy/docker/loyaltyd.conf" "$ROOT/deploy/systemd/loyaltyd.conf" \
              "$t/k8s.conf"; do
    out=$("$LOYALTYD" run --config="$conf" --help 2>&1 >/dev/null) ||
      fail "loyaltyd refuses $conf: $out"
    sed -E 's/^( *)# *([a-z][a-z0-9.-]* *= *[^ ])/\1\2/' "$conf" > "$t/options.conf"
    out=$("$LOYALTYD" run --config="$t/options.conf" --help 2>&1 >/dev/null) ||
      fail "loyaltyd refuses $conf with its commented-out options on: $out"
  done
  : > "$t/empty.jsonl"
  out=$("$LOYALTYD" replay --program="$t/programs" --data-dir="$t/data" \
          --events="$t/empty.jsonl" --quiet 2>&1) ||
    fail "loyaltyd does not load the ConfigMap's programs as the kubelet mounts them: $out"
else
  echo "check_deploy: LOYALTYD/LOYALTYCTL unset: config files, runtime packages and ConfigMap programs not checked"
fi

# 7. With loyaltyd: the engine itself, on its embedded broker with an HTTP
#    port of the system's choosing and backups on, as every deployment here
#    runs it. The image's HEALTHCHECK script passes on its /healthz; every
#    metric the dashboards use is in its /metrics (with the type the query
#    assumes); SIGTERM stops it with status 0.
if [ -n "${LOYALTYD:-}" ]; then
  "$LOYALTYD" run --brokers=embedded --program="$ROOT/programs" --data-dir="$t/engine" \
    --backup-dir="$t/backups" --http=127.0.0.1:0 --log-format=logfmt > "$t/engine.log" 2>&1 &
  eng=$!
  port=""
  for _ in $(seq 300); do
    port=$(sed -n 's/.*msg="http endpoint".* port=\([0-9][0-9]*\).*/\1/p' "$t/engine.log")
    [ -n "$port" ] && break
    kill -0 "$eng" 2>/dev/null || fail "loyaltyd run --brokers=embedded stopped: $(cat "$t/engine.log")"
    sleep 0.1
  done
  [ -n "$port" ] || fail "loyaltyd logged no http endpoint in 30 s: $(cat "$t/engine.log")"
  LOYALTY_HEALTH_PORT=$port "$hc" 2>"$t/hc.err" ||
    fail "$hc fails on the engine's /healthz: $(cat "$t/hc.err")"
  # Scraped once it owns partitions and knows their end offsets: the
  # per-partition series (and their labels) exist from then on.
  python3 - "http://127.0.0.1:$port/metrics" > "$t/metrics.txt" <<'EOF' ||
import re, sys, time, urllib.request
# 90 s: on the embedded broker the engine's first assignment waits ~30 s
# for a DescribeConfigs of the DLQ topic that the mock cluster never answers.
for _ in range(900):
    text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
    m = re.search(r"^loyalty_owned_partitions (\S+)$", text, re.M)
    if m and float(m.group(1)) > 0 and "\nloyalty_consumer_lag{" in text:
        sys.stdout.write(text)
        sys.exit(0)
    time.sleep(0.1)
sys.exit("check_deploy: loyaltyd on its embedded broker: no partition with a lag after 90 s")
EOF
    fail "no scrape of loyaltyd's /metrics with partitions: $(tail -5 "$t/engine.log")"
  kill -TERM "$eng"
  status=0
  wait "$eng" || status=$?
  eng=""
  [ "$status" = 0 ] || fail "loyaltyd exited $status on SIGTERM: $(tail -5 "$t/engine.log")"
  CHECK_DEPLOY_METRICS="$t/metrics.txt" python3 "$HERE/check_deploy.py" "$ROOT"
else
  echo "check_deploy: LOYALTYD unset: the dashboards are checked against a list, not the engine's /metrics"
fi

# 8. kubectl, when this machine has one (it is no Debian package): the
#    kustomization renders.
if command -v kubectl >/dev/null 2>&1; then
  out=$(kubectl kustomize "$ROOT/deploy/k8s" 2>&1) ||
    fail "kubectl kustomize deploy/k8s failed: $out"
else
  echo "check_deploy: no kubectl here: deploy/k8s/kustomization.yaml not rendered"
fi
echo "check_deploy: ok"
