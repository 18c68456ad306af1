#!/usr/bin/env bash
# scripts/check_deploy.sh passes on this tree, and fails, saying why, on
# copies of it with one thing broken each: a probe, a grace period, a
# selector, a volume, the shared backup volume, a unit directive or its
# ReadWritePaths, a metric name, a PromQL query, the Dockerfile's
# HEALTHCHECK or USER, the compose file, a program.
# LOYALTYD and LOYALTYCTL (set by tests/CMakeLists.txt) are the built binaries.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK="$ROOT/scripts/check_deploy.sh"
"$CHECK" "$ROOT"

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
n=0
# broken NAME EXPECTED EDIT...: copies the files check_deploy.sh reads, runs
# EDIT in the copy, and wants the check to fail with EXPECTED in its output.
broken() {
  local name=$1 want=$2
  shift 2
  local copy="$t/$name"
  mkdir -p "$copy/scripts"
  cp -r "$ROOT/deploy" "$ROOT/programs" "$ROOT/.dockerignore" "$copy/"
  cp "$ROOT/scripts/install-deps.sh" "$copy/scripts/"
  (cd "$copy" && "$@")
  local out
  # Only the cases that need the binaries run with them (each run of the
  # check with them starts the engine).
  local env=(env -u LOYALTYD -u LOYALTYCTL)
  [ "${WITH_BINARIES:-0}" = 1 ] && env=(env)
  if out=$("${env[@]}" "$CHECK" "$copy" 2>&1); then
    echo "deploy_test: $name: the check passed a broken tree:" >&2
    echo "$out" >&2
    exit 1
  fi
  if ! grep -qF -- "$want" <<<"$out"; then
    echo "deploy_test: $name: no '$want' in:" >&2
    echo "$out" >&2
    exit 1
  fi
  n=$((n + 1))
}
# py FILE CODE: edits FILE with Python, s holding its text (yaml imported).
py() {
  python3 - "$1" "$2" <<'EOF'
import sys, yaml
path, code = sys.argv[1], sys.argv[2]
s = open(path).read()
exec(code)
open(path, "w").write(s)
EOF
}
drop_yaml_key() {  # FILE KEY: removes the block "  KEY:" and what it holds
  py "$1" "
import re
m = re.search(r'^( *)$2:.*\n((\1 .*\n|\s*\n)*)', s, re.M)
assert m, '$2 not in $1'
s = s[:m.start()] + s[m.end():]"
}
sts=deploy/k8s/statefulset.yaml
broken bad_yaml "deploy/k8s/secret.example.yaml: does not parse as YAML" \
  sed -i 's/^type: Opaque/type: [Opaque/' deploy/k8s/secret.example.yaml
broken no_readiness "has no readinessProbe" drop_yaml_key $sts readinessProbe
broken liveness_path "livenessProbe GETs '/health'" sed -i 's#path: /healthz#path: /health#' $sts
broken probe_port "readinessProbe probes port 9465" \
  py $sts "s = s.replace('path: /readyz\n              port: metrics', 'path: /readyz\n              port: 9465')"
broken short_grace "terminationGracePeriodSeconds is 30" \
  sed -i 's/terminationGracePeriodSeconds: 120/terminationGracePeriodSeconds: 30/' $sts
broken no_pvc "no volumeClaimTemplates" drop_yaml_key $sts volumeClaimTemplates
broken no_instance_id "LOYALTY_INSTANCE_ID does not come from metadata.name" \
  sed -i 's/fieldPath: metadata.name/fieldPath: metadata.uid/' $sts
# The shared backup volume: ReadWriteMany, mounted where backup-dir points,
# applied by the kustomization; backup-dir set.
broken backups_rwo "the backup volume must be ReadWriteMany" \
  sed -i 's/accessModes: \["ReadWriteMany"\]/accessModes: ["ReadWriteOnce"]/' deploy/k8s/backups-pvc.yaml
broken backups_mount "no volume is mounted at backup-dir /var/lib/loyalty-backups" \
  sed -i 's#mountPath: /var/lib/loyalty-backups#mountPath: /var/lib/backups#' $sts
broken backups_on_data "is inside data-dir /var/lib/loyalty" \
  sed -i 's#^    backup-dir = /var/lib/loyalty-backups#    backup-dir = /var/lib/loyalty/backups#' \
  deploy/k8s/configmap.yaml
broken no_backup_dir "no backup-dir: a partition that moves" \
  sed -i '/^    backup-dir = /d' deploy/k8s/configmap.yaml
broken backups_not_applied "resources do not include backups-pvc.yaml" \
  sed -i '/- backups-pvc.yaml/d' deploy/k8s/kustomization.yaml
broken pdb_selector "deploy/k8s/pdb.yaml: spec.selector.matchLabels do not match" \
  sed -i 's/app.kubernetes.io\/name: loyaltyd$/app.kubernetes.io\/name: loyalty/' deploy/k8s/pdb.yaml
broken service_selector "deploy/k8s/service.yaml: spec.selector does not match" \
  sed -i 's/app.kubernetes.io\/name: loyaltyd$/app.kubernetes.io\/name: engine/' deploy/k8s/service.yaml
broken program_copy "differs from programs/cafe.textproto" \
  sed -i '0,/program_id/s/program_id/# x\n    program_id/' deploy/k8s/configmap.yaml
broken unit_unknown_key "Unknown key 'ProtectKernelTunable'" \
  sed -i 's/^ProtectKernelTunables=yes/ProtectKernelTunable=yes/' deploy/systemd/loyaltyd.service
broken unit_bad_value "Failed to parse boolean value, ignoring: sometimes" \
  sed -i 's/^ProtectClock=yes/ProtectClock=sometimes/' deploy/systemd/loyaltyd.service
broken unit_no_nnp "NoNewPrivileges=(unset)" \
  sed -i '/^NoNewPrivileges=/d' deploy/systemd/loyaltyd.service
broken unit_short_stop "TimeoutStopSec=10" \
  sed -i 's/^TimeoutStopSec=.*/TimeoutStopSec=10/' deploy/systemd/loyaltyd.service
broken unit_backup_ro "does not cover backup-dir /var/lib/loyalty-backups" \
  sed -i 's#^ReadWritePaths=.*#ReadWritePaths=/var/lib/loyalty#' deploy/systemd/loyaltyd.service
dash=deploy/compose/grafana/dashboards/loyalty-ledger.json
broken metric_name "loyalty_event_total is not a metric the engine exports" \
  sed -i 's/loyalty_events_total/loyalty_event_total/' $dash
broken promql "not PromQL" sed -i 's/sum by (partition) (loyalty_consumer_lag)/sum by (partition) (loyalty_consumer_lag/' $dash
broken no_healthcheck "no HEALTHCHECK" \
  py deploy/docker/Dockerfile "import re; s = re.sub(r'^HEALTHCHECK .*\n.*\n', '', s, flags=re.M)"
broken root_user "runs as USER root" sed -i 's/^USER 10001:10001/USER root/' deploy/docker/Dockerfile
broken one_stage "1 FROM stage(s)" \
  py deploy/docker/Dockerfile "s = s[s.index('FROM debian:bookworm-slim'):]"
broken build_dep "does not install libcivetweb-dev" \
  sed -i 's/^  tzdata kcat/  tzdata kcat libcivetweb-dev/' scripts/install-deps.sh
broken compose_dockerfile "engine: build dockerfile deploy/docker/Dockerfil does not exist" \
  sed -i 's#dockerfile: deploy/docker/Dockerfile#dockerfile: deploy/docker/Dockerfil#' deploy/compose/compose.yaml
broken compose_schema "docker-compose config rejects" \
  sed -i 's/^    hostname: loyalty-engine/    hostname: loyalty-engine\n    stop_grace_periods: 1s/' \
  deploy/compose/compose.yaml
broken compose_backups "engine: backup dir /var/lib/loyalty-backups is on no named volume" \
  sed -i '/- engine-backups:\/var\/lib\/loyalty-backups/d' deploy/compose/compose.yaml
broken image_backup_dir "does not create /var/lib/loyalty-backups owned by 10001" \
  sed -i 's# /var/lib/loyalty-backups \\$# \\#' deploy/docker/Dockerfile
broken scrape_target "not the engine (engine:9464" \
  sed -i 's/engine:9464/engine:9465/' deploy/compose/prometheus/prometheus.yml
broken healthcheck_path "failed on a 200 from /healthz" \
  sed -i 's#LOYALTY_HEALTH_PATH:-/healthz#LOYALTY_HEALTH_PATH:-/health#' deploy/docker/healthcheck.sh
if [ -n "${LOYALTYD:-}" ]; then
  WITH_BINARIES=1
  # An unknown name in a config file, in the ConfigMap's; a program the
  # engine refuses, in the repository and the ConfigMap alike.
  broken config_key "unknown name \"log-formats\"" \
    sed -i 's/^log-format = /log-formats = /' deploy/systemd/loyaltyd.conf
  broken k8s_config_key "k8s.conf:" \
    sed -i 's/^    durability = machine/    durablity = machine/' deploy/k8s/configmap.yaml
  broken k8s_option_key "with its commented-out options on" \
    sed -i 's/^    # standby-replicas = 1/    # standby-replica = 1/' deploy/k8s/configmap.yaml
  broken bad_program "does not load the ConfigMap's programs" \
    sed -i 's/program_id: "cafe"/program_id: "cafe" no_such_field: 1/' \
    programs/cafe.textproto deploy/k8s/configmap.yaml
  WITH_BINARIES=0
fi

# Against a scrape of the engine: a dashboard metric the engine does not
# export fails, and so does a label the dashboard groups by that the
# engine's samples lack.
scrape() {  # the families the dashboard uses, one labelled sample each
  cat <<'EOF'
# TYPE loyalty_events_total counter
loyalty_events_total{partition="0",outcome="APPLIED"} 1
# TYPE loyalty_dlq_records_total counter
loyalty_dlq_records_total{partition="0",reason="BAD_ID"} 1
# TYPE loyalty_output_records_total counter
loyalty_output_records_total{partition="0"} 1
# TYPE loyalty_output_transactions_total counter
loyalty_output_transactions_total{partition="0"} 1
# TYPE loyalty_applied_offset gauge
loyalty_applied_offset{partition="0"} 1
# TYPE loyalty_consumer_lag gauge
loyalty_consumer_lag{partition="0"} 0
# TYPE loyalty_unpublished_seconds gauge
loyalty_unpublished_seconds{partition="0"} 0
# TYPE loyalty_batch_duration_seconds histogram
loyalty_batch_duration_seconds_bucket{partition="0",le="+Inf"} 1
# TYPE loyalty_commit_duration_seconds histogram
loyalty_commit_duration_seconds_bucket{partition="0",le="+Inf"} 1
# TYPE loyalty_owned_partitions gauge
loyalty_owned_partitions 1
# TYPE loyalty_ready gauge
loyalty_ready 1
# TYPE loyalty_build_info gauge
loyalty_build_info{version="0",commit="x"} 1
# TYPE loyalty_rocksdb_memtable_bytes gauge
loyalty_rocksdb_memtable_bytes 1
# TYPE loyalty_rocksdb_block_cache_bytes gauge
loyalty_rocksdb_block_cache_bytes 1
# TYPE loyalty_partition_stopped gauge
loyalty_partition_stopped{partition="0"} 0
# TYPE loyalty_restoring gauge
loyalty_restoring{partition="0"} 0
# TYPE loyalty_restore_remaining_records gauge
loyalty_restore_remaining_records{partition="0"} 0
# TYPE loyalty_restores_total counter
loyalty_restores_total{partition="0"} 0
# TYPE loyalty_backups_total counter
loyalty_backups_total{partition="0"} 0
# TYPE loyalty_backup_failures_total counter
loyalty_backup_failures_total{partition="0"} 0
# TYPE loyalty_backup_duration_seconds histogram
loyalty_backup_duration_seconds_bucket{partition="0",le="+Inf"} 0
# TYPE loyalty_standby_partitions gauge
loyalty_standby_partitions 0
# TYPE loyalty_backup_offset gauge
# TYPE loyalty_standby_lag gauge
EOF
}
# against_scrape NAME EXPECTED SED: the dashboards against the scrape edited
# by SED; NAME whole wants them to pass.
against_scrape() {
  scrape | sed "$3" > "$t/scrape.txt"
  local out
  if out=$(CHECK_DEPLOY_METRICS="$t/scrape.txt" python3 "$ROOT/scripts/check_deploy.py" "$ROOT" 2>&1); then
    [ "$1" = whole ] && return 0
    echo "deploy_test: $1: the dashboards passed against the scrape: $out" >&2
    exit 1
  fi
  if [ "$1" = whole ] || ! grep -qF -- "$2" <<<"$out"; then
    echo "deploy_test: $1: against the scrape: $out" >&2
    exit 1
  fi
}
against_scrape whole "" ""
against_scrape no_lag "loyalty_consumer_lag is not a metric the engine exports" "/consumer_lag/d"
against_scrape no_outcome "label 'outcome' is on none of ['loyalty_events_total']" \
  's/,outcome="APPLIED"//'
# A family of the backups the engine does not declare fails; one it declares
# without samples (standby lag: one engine has no standbys) passes above.
against_scrape no_stopped "loyalty_partition_stopped is not a metric the engine exports" \
  "/partition_stopped/d"
against_scrape stopped_unlabelled "label 'partition' is on none of ['loyalty_partition_stopped']" \
  's/^loyalty_partition_stopped{partition="0"}/loyalty_partition_stopped/'

# runtime-packages.sh refuses a binary that loads a library no Debian
# package holds (the image would lack it).
mkdir "$t/lib"
echo 'int f(void) { return 0; }' > "$t/lib/f.c"
echo 'int f(void); int main(void) { return f(); }' > "$t/lib/main.c"
cc -shared -fPIC -o "$t/lib/libdeployf.so" "$t/lib/f.c"
cc -o "$t/lib/main" "$t/lib/main.c" -L"$t/lib" -ldeployf -Wl,-rpath,"$t/lib"
if out=$("$ROOT/deploy/docker/runtime-packages.sh" "$t/lib/main" 2>&1); then
  echo "deploy_test: runtime-packages.sh passed a library of no package: $out" >&2
  exit 1
fi
grep -qF "libdeployf.so belongs to no Debian package" <<<"$out" ||
  { echo "deploy_test: runtime-packages.sh said: $out" >&2; exit 1; }
echo "deploy_test: ok ($n broken trees refused)"
