#!/usr/bin/env python3
"""The static half of scripts/check_deploy.sh: parses every deploy file and
asserts what the engine needs of it. Usage: check_deploy.py ROOT
(CHECK_DEPLOY_RULES=FILE: write the dashboard's queries there as Prometheus
recording rules; CHECK_DEPLOY_K8S_CONF=FILE: write the ConfigMap's
loyaltyd.conf there, for check_deploy.sh to give to loyaltyd;
CHECK_DEPLOY_METRICS=FILE, a scrape of the built engine's /metrics: check
only the dashboards, against the metrics it exports).

Prints every problem found, one per line, and exits 1 if there is any.
"""
import glob
import json
import os
import re
import shlex
import sys

try:
    import yaml
except ImportError:
    sys.exit("check_deploy: python3 has no yaml module: install Debian's python3-yaml "
             "(scripts/install-deps.sh)")

ROOT = sys.argv[1]
errors = []

# The engine's metrics (SPEC §11, issue 13): name -> type. With the built
# loyaltyd, check_deploy.sh checks the dashboards again against a scrape.
METRICS = {
    "loyalty_events_total": "counter",
    "loyalty_dlq_records_total": "counter",
    "loyalty_output_records_total": "counter",
    "loyalty_applied_offset": "gauge",
    "loyalty_consumer_lag": "gauge",
    "loyalty_batch_duration_seconds": "histogram",
    "loyalty_commit_duration_seconds": "histogram",
    "loyalty_owned_partitions": "gauge",
    "loyalty_ready": "gauge",
    "loyalty_build_info": "gauge",
    "loyalty_records_applied_total": "counter",
    "loyalty_output_transactions_total": "counter",
    "loyalty_unpublished_seconds": "gauge",
    "loyalty_rocksdb_block_cache_bytes": "gauge",
    "loyalty_rocksdb_memtable_bytes": "gauge",
    # Backups, restores, gaps and standbys (SPEC §10, issue 14).
    "loyalty_partition_stopped": "gauge",
    "loyalty_restoring": "gauge",
    "loyalty_restore_remaining_records": "gauge",
    "loyalty_restores_total": "counter",
    "loyalty_backups_total": "counter",
    "loyalty_backup_failures_total": "counter",
    "loyalty_backup_offset": "gauge",
    "loyalty_backup_duration_seconds": "histogram",
    "loyalty_standby_partitions": "gauge",
    "loyalty_standby_lag": "gauge",
}
# What the dashboard must show (events by outcome, lag, DLQ by reason, batch
# and commit latency, owned partitions; restore progress, backups and their
# failures, partitions stopped on a gap, standby lag).
DASHBOARD_MUST_USE = [
    "loyalty_events_total", "loyalty_consumer_lag", "loyalty_dlq_records_total",
    "loyalty_batch_duration_seconds_bucket", "loyalty_commit_duration_seconds_bucket",
    "loyalty_owned_partitions",
    "loyalty_restoring", "loyalty_restore_remaining_records", "loyalty_backups_total",
    "loyalty_backup_failures_total", "loyalty_partition_stopped", "loyalty_standby_lag",
]
# The labels of the families a single engine on the embedded broker (the
# scrape of check_deploy.sh) declares but has no sample of: standby copies
# need other members, a backup offset a backup taken while owned. A scrape
# with samples of them is believed over this list.
LABELS_WITHOUT_SAMPLES = {
    "loyalty_standby_lag": {"partition"},
    "loyalty_backup_offset": {"partition"},
}
HTTP_PORT = 9464
DATA_DIR = "/var/lib/loyalty"
# Where the backup volume is mounted (k8s, compose) and the example
# systemd config's backup-dir.
BACKUP_DIR = "/var/lib/loyalty-backups"
# Packages of scripts/install-deps.sh that the image's build stage does not
# need: tests, benchmarks and checks only.
TEST_ONLY_PACKAGES = {
    "libbenchmark-dev", "libpq-dev", "tzdata", "kcat", "python3-yaml", "systemd",
    "prometheus", "docker-compose", "curl", "python3", "openssl",
}


def err(where, message):
    errors.append(f"{where}: {message}")


def rel(path):
    return os.path.relpath(path, ROOT)


def load_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        err(rel(path), f"does not parse as YAML: {e}")
        return []


def dig(obj, *keys):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and k < len(obj):
            obj = obj[k]
        else:
            return None
    return obj


def under(path, top):
    """path is top or inside it."""
    path, top = os.path.normpath(path), os.path.normpath(top)
    return path == top or path.startswith(top.rstrip("/") + "/")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def read_conf(path):
    """A loyaltyd config file: `key = value` lines, # comments."""
    keys = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                err(f"{rel(path)}:{n}", f"not `key = value`: {line}")
                continue
            k, v = (s.strip() for s in line.split("=", 1))
            if k in keys:
                err(f"{rel(path)}:{n}", f"key {k} given twice")
            keys[k] = v
    return keys


def check_conf(where, keys):
    """No secret in a config file (loyaltyd itself checks the names: see
    check_deploy.sh)."""
    for k in keys:
        if k.startswith("kafka.") and (k.endswith("sasl.password") or k.endswith("ssl.key.password")):
            err(where, f"{k}: a secret in a config file; use LOYALTY_KAFKA_* from a secret")


# --- Kubernetes --------------------------------------------------------------

def check_k8s():
    d = os.path.join(ROOT, "deploy/k8s")
    objs = {}
    for path in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        for doc in load_yaml(path):
            objs.setdefault(doc.get("kind"), []).append((rel(path), doc))
    one = {}
    for kind in ("StatefulSet", "PodDisruptionBudget", "Service", "Secret"):
        if len(objs.get(kind, [])) != 1:
            err("deploy/k8s", f"want exactly one {kind}, found {len(objs.get(kind, []))}")
        else:
            one[kind] = objs[kind][0]
    if "StatefulSet" not in one:
        return
    where, sts = one["StatefulSet"]
    spec = sts.get("spec", {})
    pod = dig(spec, "template", "spec") or {}
    pod_labels = dig(spec, "template", "metadata", "labels") or {}
    if not labels_match(dig(spec, "selector", "matchLabels"), pod_labels):
        err(where, "spec.selector.matchLabels do not match the pod template's labels")
    grace = pod.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or grace < 60:
        err(where, f"terminationGracePeriodSeconds is {grace!r}: want >= 60 to publish what is applied")
    if dig(pod, "securityContext", "runAsNonRoot") is not True:
        err(where, "pod securityContext.runAsNonRoot is not true")
    if dig(pod, "securityContext", "runAsUser") != 10001:
        err(where, "pod securityContext.runAsUser is not 10001 (the image's user)")
    containers = pod.get("containers") or []
    engine = next((c for c in containers if c.get("name") == "loyaltyd"), None)
    if engine is None:
        err(where, "no container named loyaltyd")
        return
    ports = {p.get("name"): p.get("containerPort") for p in engine.get("ports", [])}
    if HTTP_PORT not in ports.values():
        err(where, f"container loyaltyd exposes no containerPort {HTTP_PORT}")

    def probe(name, path):
        p = engine.get(name)
        if not p:
            err(where, f"container loyaltyd has no {name}")
            return
        get = p.get("httpGet") or {}
        if get.get("path") != path:
            err(where, f"{name} GETs {get.get('path')!r}, want {path}")
        port = get.get("port")
        port = ports.get(port, port)
        if port != HTTP_PORT:
            err(where, f"{name} probes port {get.get('port')!r}, want {HTTP_PORT}")

    probe("livenessProbe", "/healthz")
    probe("readinessProbe", "/readyz")
    env = {e.get("name"): e for e in engine.get("env", [])}
    if dig(env.get("LOYALTY_INSTANCE_ID"), "valueFrom", "fieldRef", "fieldPath") != "metadata.name":
        err(where, "env LOYALTY_INSTANCE_ID does not come from metadata.name (static membership)")
    secret_ref = dig(env.get("LOYALTY_KAFKA_SASL_PASSWORD"), "valueFrom", "secretKeyRef")
    if not secret_ref:
        err(where, "env LOYALTY_KAFKA_SASL_PASSWORD does not come from a secret")
    elif "Secret" in one:
        swhere, secret = one["Secret"]
        if secret_ref.get("name") != dig(secret, "metadata", "name"):
            err(where, f"LOYALTY_KAFKA_SASL_PASSWORD names secret {secret_ref.get('name')!r}, "
                       f"{swhere} defines {dig(secret, 'metadata', 'name')!r}")
        skeys = set((secret.get("stringData") or {})) | set((secret.get("data") or {}))
        if secret_ref.get("key") not in skeys:
            err(swhere, f"has no key {secret_ref.get('key')!r}")

    mounts = {m.get("name"): m.get("mountPath") for m in engine.get("volumeMounts", [])}
    vcts = [dig(v, "metadata", "name") for v in spec.get("volumeClaimTemplates") or []]
    if not vcts:
        err(where, "no volumeClaimTemplates: the partition stores need a volume per pod")
    elif not any(mounts.get(v) == DATA_DIR for v in vcts):
        err(where, f"no volumeClaimTemplate is mounted at {DATA_DIR}")
    claims = {dig(doc, "metadata", "name"): (w, doc)
              for w, doc in objs.get("PersistentVolumeClaim", [])}

    # The config file: the ConfigMap holds it where --config says.
    config_maps = {dig(doc, "metadata", "name"): (w, doc) for w, doc in objs.get("ConfigMap", [])}
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    args = engine.get("args") or []
    config_path = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
    if not config_path:
        err(where, "container loyaltyd has no --config= argument")
    mounted_files = {}
    for vname, mpath in mounts.items():
        cm = dig(volumes.get(vname), "configMap", "name")
        if cm is None:
            continue
        if cm not in config_maps:
            err(where, f"volume {vname} names ConfigMap {cm!r}, which deploy/k8s does not define")
            continue
        for key in (config_maps[cm][1].get("data") or {}):
            mounted_files[os.path.join(mpath, key)] = (cm, key)
    conf = mounted_files.get(config_path)
    if config_path and conf is None:
        err(where, f"--config={config_path}: no ConfigMap key is mounted there")
    elif conf:
        cwhere, cm = config_maps[conf[0]]
        text = cm["data"][conf[1]]
        keys = {}
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = (s.strip() for s in line.split("=", 1))
                keys[k] = v
        check_conf(f"{cwhere} ({conf[1]})", keys)
        if os.environ.get("CHECK_DEPLOY_K8S_CONF"):
            with open(os.environ["CHECK_DEPLOY_K8S_CONF"], "w") as f:
                f.write(text)
        if keys.get("data-dir") != DATA_DIR:
            err(cwhere, f"data-dir is {keys.get('data-dir')!r}, want {DATA_DIR} (the volume)")
        check_k8s_backups(where, cwhere, keys.get("backup-dir"), mounts, volumes, vcts, claims,
                          d)
        if not keys.get("http", "").endswith(f":{HTTP_PORT}") or keys["http"].startswith("127."):
            err(cwhere, f"http is {keys.get('http')!r}: the kubelet probes the pod IP on {HTTP_PORT}")
        prog = keys.get("program")
        programs = {f: v for f, v in mounted_files.items() if os.path.dirname(f) == prog}
        repo_programs = {os.path.basename(p): open(p, encoding="utf-8").read()
                         for p in glob.glob(os.path.join(ROOT, "programs/*.textproto"))}
        if not programs:
            err(cwhere, f"program = {prog}: no ConfigMap mounts program files there")
        for name, text in repo_programs.items():
            hit = mounted_files.get(os.path.join(prog or "", name))
            if hit is None:
                err(where, f"programs/{name} is not in a ConfigMap mounted at {prog}")
            elif config_maps[hit[0]][1]["data"][hit[1]] != text:
                err(config_maps[hit[0]][0], f"{name} differs from programs/{name}")

    if "PodDisruptionBudget" in one:
        pwhere, pdb = one["PodDisruptionBudget"]
        if dig(pdb, "spec", "maxUnavailable") != 1:
            err(pwhere, "spec.maxUnavailable is not 1")
        if not labels_match(dig(pdb, "spec", "selector", "matchLabels"), pod_labels):
            err(pwhere, "spec.selector.matchLabels do not match the StatefulSet's pod labels")
    if "Service" in one:
        swhere, svc = one["Service"]
        if dig(svc, "spec", "clusterIP") != "None":
            err(swhere, "not headless (spec.clusterIP: None)")
        if dig(svc, "metadata", "name") != spec.get("serviceName"):
            err(where, f"serviceName {spec.get('serviceName')!r} is not the Service "
                       f"{dig(svc, 'metadata', 'name')!r}")
        if not labels_match(dig(svc, "spec", "selector"), pod_labels):
            err(swhere, "spec.selector does not match the StatefulSet's pod labels")
        targets = [ports.get(p.get("targetPort"), p.get("targetPort"))
                   for p in dig(svc, "spec", "ports") or []]
        if HTTP_PORT not in targets:
            err(swhere, f"no port targets the metrics port {HTTP_PORT}")

    kpath = os.path.join(d, "kustomization.yaml")
    if os.path.exists(kpath):
        for k in load_yaml(kpath):
            for r in k.get("resources", []):
                if not os.path.exists(os.path.join(d, r)):
                    err(rel(kpath), f"resource {r} does not exist")
            image = engine.get("image", "").rsplit(":", 1)[0]
            names = [i.get("name") for i in k.get("images", [])]
            if names and image not in names:
                err(rel(kpath), f"images names {names}, the container's image is {image!r}")


def check_k8s_backups(where, cwhere, backup_dir, mounts, volumes, vcts, claims, d):
    """Partitions move between pods through backup-dir: one ReadWriteMany
    claim that every pod mounts there, in the kustomization."""
    if not backup_dir:
        err(cwhere, "no backup-dir: a partition that moves to another pod would be rebuilt "
                    "from the input's first offset")
        return
    if under(backup_dir, DATA_DIR):
        err(cwhere, f"backup-dir {backup_dir} is inside data-dir {DATA_DIR}, the pod's own volume")
    # The most specific mount that holds backup-dir.
    holding = [(mp, vn) for vn, mp in mounts.items() if mp and under(backup_dir, mp)]
    if not holding:
        err(where, f"no volume is mounted at backup-dir {backup_dir} (loyaltyd.conf)")
        return
    mpath, vname = max(holding, key=lambda h: len(h[0]))
    if vname in vcts:
        err(where, f"backup-dir {backup_dir} is on the volumeClaimTemplate {vname}: one volume "
                   f"per pod, where the backups must be shared by every pod")
        return
    claim = dig(volumes.get(vname), "persistentVolumeClaim", "claimName")
    if claim is None:
        err(where, f"backup-dir {backup_dir} is on volume {vname}, which is no "
                   f"persistentVolumeClaim (the backups must outlive the pods and be shared)")
        return
    if claim not in claims:
        err(where, f"volume {vname} names PersistentVolumeClaim {claim!r}, which deploy/k8s "
                   f"does not define")
        return
    pwhere, pvc = claims[claim]
    modes = dig(pvc, "spec", "accessModes") or []
    if "ReadWriteMany" not in modes:
        err(pwhere, f"accessModes {modes}: the backup volume must be ReadWriteMany (every pod "
                    f"mounts it at {mpath})")
    kpath = os.path.join(d, "kustomization.yaml")
    if os.path.exists(kpath):
        resources = [r for k in load_yaml(kpath) for r in k.get("resources", [])]
        if os.path.basename(pwhere) not in resources:
            err(rel(kpath), f"resources do not include {os.path.basename(pwhere)} (the backup "
                            f"volume {claim})")


# --- compose, Prometheus, Grafana --------------------------------------------

def check_compose():
    d = os.path.join(ROOT, "deploy/compose")
    path = os.path.join(d, "compose.yaml")
    docs = load_yaml(path)
    if not docs:
        return
    where = rel(path)
    services = docs[0].get("services") or {}
    for s in ("kafka", "topics", "engine", "prometheus", "grafana"):
        if s not in services:
            err(where, f"no service {s}")
    kafka = services.get("kafka") or {}
    if kafka.get("image") != "apache/kafka:3.7.1":
        err(where, f"kafka image is {kafka.get('image')!r}, want apache/kafka:3.7.1")
    if "controller" not in str(dig(kafka, "environment", "KAFKA_PROCESS_ROLES")):
        err(where, "kafka: KAFKA_PROCESS_ROLES has no controller (KRaft)")
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = os.path.normpath(os.path.join(d, build.get("context", ".")))
            dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                err(where, f"{name}: build dockerfile {rel(dockerfile)} does not exist")
            target = build.get("target")
            if target and os.path.isfile(dockerfile):
                stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", open(dockerfile).read(),
                                    re.M | re.I)
                if target not in stages:
                    err(where, f"{name}: build target {target} is no stage of {rel(dockerfile)}")
        for v in svc.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith("."):
                if not os.path.exists(os.path.join(d, src)):
                    err(where, f"{name}: mounts {src}, which does not exist")
    topics = services.get("topics") or {}
    cmd = topics.get("command") or []
    cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
    if "create-topics" not in cmd or "--brokers=kafka:9092" not in cmd:
        err(where, "topics: the command is not loyaltyctl --brokers=kafka:9092 create-topics")
    if dig(topics, "entrypoint") != ["loyaltyctl"]:
        err(where, "topics: the entrypoint is not loyaltyctl")
    engine = services.get("engine") or {}
    if dig(engine, "depends_on", "topics", "condition") != "service_completed_successfully":
        err(where, "engine does not wait for topics to complete")
    grace = str(engine.get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(\d+)s", grace)
    if not m or int(m.group(1)) < 60:
        err(where, f"engine: stop_grace_period {grace}: want >= 60s to publish what is applied")
    env = engine.get("environment") or {}
    if isinstance(env, list):
        env = dict((e.split("=", 1) + [""])[:2] for e in env)
    if env.get("LOYALTY_BROKERS") != "kafka:9092":
        err(where, "engine: LOYALTY_BROKERS is not kafka:9092")
    # The backups: the environment's backup-dir, else the image config's, on
    # a named volume (declared, so that another engine service can share it).
    backup_dir = env.get("LOYALTY_BACKUP_DIR") or read_conf(
        os.path.join(ROOT, "deploy/docker/loyaltyd.conf")).get("backup-dir")
    if not backup_dir:
        err(where, "engine: no backup dir (LOYALTY_BACKUP_DIR, or backup-dir in "
                   "deploy/docker/loyaltyd.conf)")
    else:
        named = None
        for v in engine.get("volumes", []):
            src, dst = (v.split(":")[:2] if isinstance(v, str)
                        else (v.get("source", ""), v.get("target", "")))
            if under(backup_dir, dst) and not src.startswith((".", "/")):
                named = src
        if named is None:
            err(where, f"engine: backup dir {backup_dir} is on no named volume")
        elif named not in (docs[0].get("volumes") or {}):
            err(where, f"engine: volume {named} (the backups) is not declared under volumes:")
        elif under(backup_dir, DATA_DIR):
            err(where, f"engine: backup dir {backup_dir} is inside the data volume")

    # Prometheus scrapes the engine's HTTP port, and promtool is run on it by
    # check_deploy.sh.
    prom_cfg = None
    for v in (services.get("prometheus") or {}).get("volumes", []):
        src, dst = v.split(":")[:2]
        if dst == "/etc/prometheus/prometheus.yml":
            prom_cfg = os.path.join(d, src)
    if not prom_cfg:
        err(where, "prometheus: no prometheus.yml mounted at /etc/prometheus/prometheus.yml")
    else:
        targets = []
        for cfg in load_yaml(prom_cfg):
            for job in cfg.get("scrape_configs", []):
                for sc in job.get("static_configs", []):
                    targets += sc.get("targets", [])
        image_conf = read_conf(os.path.join(ROOT, "deploy/docker/loyaltyd.conf"))
        port = image_conf.get("http", "").rsplit(":", 1)[-1]
        if f"engine:{port}" not in targets:
            err(rel(prom_cfg), f"scrapes {targets}, not the engine (engine:{port}, the http "
                               f"port of deploy/docker/loyaltyd.conf)")
        mapped = [p for p in engine.get("ports", []) if str(p).endswith(f":{port}")]
        if not mapped:
            err(where, f"engine publishes no port {port}")

    # Grafana: the data source, the dashboard provider and the dashboard.
    graf = services.get("grafana") or {}
    mounts = {}
    for v in graf.get("volumes", []):
        src, dst = v.split(":")[:2]
        mounts[dst] = os.path.join(d, src)
    prov = mounts.get("/etc/grafana/provisioning")
    if not prov:
        err(where, "grafana: nothing mounted at /etc/grafana/provisioning")
        return
    ds_uid = None
    for p in glob.glob(os.path.join(prov, "datasources/*.yaml")):
        for doc in load_yaml(p):
            for ds in doc.get("datasources", []):
                if ds.get("type") == "prometheus":
                    ds_uid = ds.get("uid")
                    if ds.get("url") != "http://prometheus:9090":
                        err(rel(p), f"data source url {ds.get('url')!r}, want http://prometheus:9090")
    if ds_uid is None:
        err(rel(prov), "no Prometheus data source")
    dash_dirs = []
    for p in glob.glob(os.path.join(prov, "dashboards/*.yaml")):
        for doc in load_yaml(p):
            for pr in doc.get("providers", []):
                path = dig(pr, "options", "path")
                if path not in mounts:
                    err(rel(p), f"dashboards from {path}, where compose mounts nothing")
                else:
                    dash_dirs.append(mounts[path])
    if not dash_dirs:
        err(rel(prov), "no dashboard provider")
    dashboards = [f for dd in dash_dirs for f in glob.glob(os.path.join(dd, "*.json"))]
    if not dashboards:
        err(where, "grafana: no dashboard JSON")
    for f in dashboards:
        check_dashboard(f, ds_uid)


EXPRS = []  # (file, panel title, expr): check_deploy.sh has promtool parse them


def check_dashboard(path, ds_uid):
    where = rel(path)
    try:
        dash = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        err(where, f"does not parse as JSON: {e}")
        return
    used = set()
    panels = dash.get("panels") or []
    if not panels:
        err(where, "no panels")
    for p in panels:
        title = p.get("title", "?")
        targets = p.get("targets") or []
        if not targets:
            err(where, f"panel {title!r} has no query")
        for t in targets:
            uid = dig(t, "datasource", "uid") or dig(p, "datasource", "uid")
            if ds_uid is not None and uid != ds_uid:
                err(where, f"panel {title!r} queries data source {uid!r}, not {ds_uid!r}")
            expr = t.get("expr", "")
            EXPRS.append((where, title, expr))
            names = set(re.findall(r"\b(loyalty_[a-z0-9_]+)", expr))
            if not names:
                err(where, f"panel {title!r}: {expr!r} uses no loyalty_ metric")
            for n in names:
                used.add(n)
                base, kind = n, "plain"
                for suffix in ("_bucket", "_sum", "_count"):
                    if n.endswith(suffix) and n[:-len(suffix)] in METRICS:
                        base, kind = n[:-len(suffix)], suffix
                if base not in METRICS:
                    err(where, f"panel {title!r}: {n} is not a metric the engine exports")
                elif METRICS[base] == "histogram" and kind == "plain":
                    err(where, f"panel {title!r}: {n} is a histogram: use _bucket, _sum or _count")
                elif METRICS[base] != "histogram" and kind != "plain":
                    err(where, f"panel {title!r}: {n}: {base} is no histogram")
                elif METRICS[base] == "counter" and not re.search(
                        r"(rate|increase)\(\s*" + n + r"\b", expr):
                    err(where, f"panel {title!r}: counter {n} without rate() or increase()")
            if "histogram_quantile" in expr and "_bucket" not in expr:
                err(where, f"panel {title!r}: histogram_quantile over no _bucket series")
            if LABELS is not None:
                # Labels grouped by or shown in the legend: some metric of the
                # query must carry them (Prometheus' own stay aside).
                wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
                for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
                    wanted |= {g.strip() for g in group.split(",") if g.strip()}
                have = set()
                for n in names:
                    base = re.sub(r"_(bucket|sum|count)$", "", n) if n not in METRICS else n
                    have |= LABELS.get(base, LABELS_WITHOUT_SAMPLES.get(base, set()))
                for label in sorted(wanted - have - {"le", "instance", "job"}):
                    err(where, f"panel {title!r}: label {label!r} is on none of "
                               f"{sorted(names)} in the engine's /metrics")
    for n in DASHBOARD_MUST_USE:
        if n not in used:
            err(where, f"no panel shows {n}")


# --- Dockerfile, .dockerignore, install-deps ---------------------------------

def check_docker():
    path = os.path.join(ROOT, "deploy/docker/Dockerfile")
    where = rel(path)
    try:
        lines = open(path, encoding="utf-8").read().replace("\\\n", " ").splitlines()
    except OSError as e:
        err(where, str(e))
        return
    instr = [(l.split(None, 1)[0].upper(), (l.split(None, 1) + [""])[1].strip())
             for l in lines if l.strip() and not l.lstrip().startswith("#")]
    froms = [i for i, (op, _) in enumerate(instr) if op == "FROM"]
    if len(froms) < 2:
        err(where, f"{len(froms)} FROM stage(s): want a build stage and a runtime stage")
        return
    if not instr[froms[0]][1].startswith("debian:bookworm "):
        err(where, f"the build stage is FROM {instr[froms[0]][1]}, want debian:bookworm")
    if instr[froms[-1]][1].split()[0] != "debian:bookworm-slim":
        err(where, f"the runtime stage is FROM {instr[froms[-1]][1]}, want debian:bookworm-slim")
    final = instr[froms[-1]:]
    ops = {}
    for op, arg in final:
        ops.setdefault(op, []).append(arg)
    users = ops.get("USER", [])
    if not users:
        err(where, "the runtime stage sets no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("0", "root"):
        err(where, f"the runtime stage runs as USER {users[-1]}")
    hc = ops.get("HEALTHCHECK", [])
    if not hc or "NONE" in hc[-1].upper().split():
        err(where, "the runtime stage has no HEALTHCHECK")
    else:
        # The probe is /healthz: in the command itself or in the script it runs.
        probe_text = hc[-1]
        for op, arg in final:
            parts = arg.split()
            if op == "COPY" and len(parts) >= 2 and parts[-1] in hc[-1]:
                for src in parts[:-1]:
                    if not src.startswith("--") and os.path.isfile(os.path.join(ROOT, src)):
                        probe_text += open(os.path.join(ROOT, src), encoding="utf-8").read()
        if "/healthz" not in probe_text:
            err(where, "the HEALTHCHECK does not GET /healthz")
    if str(HTTP_PORT) not in " ".join(ops.get("EXPOSE", [])):
        err(where, f"the runtime stage does not EXPOSE {HTTP_PORT}")
    if DATA_DIR not in " ".join(ops.get("VOLUME", [])):
        err(where, f"no VOLUME {DATA_DIR}")
    # A new named volume takes the owner of the image's directory: without
    # one owned by the engine's user, the backup volume is root's.
    if not re.search(r"install -d -o 10001 -g 10001 [^&]*" + re.escape(BACKUP_DIR) + r"\b",
                     " ".join(ops.get("RUN", []))):
        err(where, f"the runtime stage does not create {BACKUP_DIR} owned by 10001 (the "
                   f"backup volume's mount point)")
    if ops.get("ENTRYPOINT", [""])[-1] != '["loyaltyd"]':
        err(where, f"ENTRYPOINT is {ops.get('ENTRYPOINT')}, want [\"loyaltyd\"]")
    if ops.get("CMD", [""])[-1] != '["run", "--config=/etc/loyalty/loyaltyd.conf"]':
        err(where, f"CMD is {ops.get('CMD')}, want run --config=/etc/loyalty/loyaltyd.conf")
    # Every COPY from the context names files that exist.
    for op, arg in instr:
        if op != "COPY" or "--from=" in arg:
            continue
        for src in arg.split()[:-1]:
            if src in (".",) or src.startswith("--"):
                continue
            if not glob.glob(os.path.join(ROOT, src)):
                err(where, f"COPY {src}: no such file in the repository")
    # The build stage installs every build package of scripts/install-deps.sh.
    build = " ".join(arg for op, arg in instr[froms[0]:froms[1]] if op == "RUN")
    deps = open(os.path.join(ROOT, "scripts/install-deps.sh"), encoding="utf-8").read()
    m = re.search(r"PACKAGES=\((.*?)\)", deps, re.S)
    pkgs = re.sub(r"#.*", "", m.group(1)).split() if m else []
    if not pkgs:
        err("scripts/install-deps.sh", "no PACKAGES=( ... ) list")
    for p in pkgs:
        if p not in TEST_ONLY_PACKAGES and not re.search(r"(?<![\w.-])" + re.escape(p) +
                                                         r"(?![\w.-])", build):
            err(where, f"the build stage does not install {p} (scripts/install-deps.sh "
                       f"lists it); add it there, or to TEST_ONLY_PACKAGES of "
                       f"scripts/check_deploy.py if the build does not need it")
    ignore = os.path.join(ROOT, ".dockerignore")
    try:
        patterns = [l.strip().rstrip("/") for l in open(ignore) if l.strip()
                    and not l.startswith("#")]
    except OSError:
        err(".dockerignore", "missing: the build context would carry build trees and .git")
        patterns = None
    if patterns is not None:
        for want in ("build*", ".cache", ".git"):
            if want not in patterns:
                err(".dockerignore", f"does not exclude {want}")
    check_conf("deploy/docker/loyaltyd.conf",
               read_conf(os.path.join(ROOT, "deploy/docker/loyaltyd.conf")))


# --- systemd -----------------------------------------------------------------

def check_systemd():
    path = os.path.join(ROOT, "deploy/systemd/loyaltyd.service")
    where = rel(path)
    settings = {}
    section = None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        settings.setdefault((section, k), []).append(v)

    def want(key, value, section="Service"):
        got = settings.get((section, key))
        if not got or got[-1] != value:
            err(where, f"[{section}] {key}={got[-1] if got else '(unset)'}, want {value}")

    want("Type", "simple")
    want("ExecStart", "/usr/local/bin/loyaltyd run --config=/etc/loyalty/loyaltyd.conf")
    want("ProtectSystem", "strict")
    want("NoNewPrivileges", "yes")
    want("PrivateTmp", "yes")
    want("ProtectHome", "yes")
    want("Restart", "on-failure")
    want("KillSignal", "SIGTERM")
    for key in ("RestartSec", "LimitNOFILE"):
        if not settings.get(("Service", key)):
            err(where, f"[Service] {key} is unset")
    user = settings.get(("Service", "User"), [""])[-1]
    dynamic = settings.get(("Service", "DynamicUser"), ["no"])[-1]
    if user in ("", "root", "0") and dynamic != "yes":
        err(where, "runs as root: set User= or DynamicUser=yes")
    stop = settings.get(("Service", "TimeoutStopSec"), [""])[-1]
    m = re.fullmatch(r"(\d+)(s|min)?", stop)
    if not m or int(m.group(1)) * (60 if m.group(2) == "min" else 1) < 60:
        err(where, f"TimeoutStopSec={stop}: want >= 60 s to publish what is applied")
    conf = read_conf(os.path.join(ROOT, "deploy/systemd/loyaltyd.conf"))
    check_conf("deploy/systemd/loyaltyd.conf", conf)
    # ProtectSystem=strict: every directory the engine writes must be in
    # ReadWritePaths (space-separated, on one line or several; "-" and "+"
    # prefixes). The data-dir and the backup-dir of the example config.
    # An empty ReadWritePaths= resets the list.
    rw = []
    for v in settings.get(("Service", "ReadWritePaths"), []):
        rw = rw + [p.lstrip("-+") for p in v.split()] if v.strip() else []
    if conf.get("data-dir") != DATA_DIR:
        err("deploy/systemd/loyaltyd.conf",
            f"data-dir is {conf.get('data-dir')!r}, want {DATA_DIR}")
    if not conf.get("backup-dir"):
        err("deploy/systemd/loyaltyd.conf", "no backup-dir")
    for key in ("data-dir", "backup-dir"):
        path = conf.get(key)
        if path and not any(under(path, p) for p in rw):
            err(where, f"[Service] ReadWritePaths={' '.join(rw) or '(unset)'} does not cover "
                       f"{key} {path} of deploy/systemd/loyaltyd.conf (ProtectSystem=strict "
                       f"makes it read-only)")


def check_all_yaml():
    """Every YAML file under deploy/ parses, whatever checks it further."""
    for pattern in ("deploy/**/*.yaml", "deploy/**/*.yml"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            load_yaml(path)


LABELS = None  # metric family -> label names seen in a scrape (scrape mode)


def read_exported_metrics(path):
    """`# TYPE name type` lines of a scrape of the engine's /metrics, and
    the label names of each family's samples (into LABELS)."""
    global LABELS
    found, labels = {}, {}
    for line in open(path, encoding="utf-8"):
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
            found[parts[2]] = parts[3]
        elif line.startswith("loyalty_"):
            m = re.match(r"(loyalty_[a-z0-9_]+)(\{([^}]*)\})?", line)
            name = m.group(1)
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and name[:-len(suffix)] in found:
                    name = name[:-len(suffix)]
            names = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or "")
            labels.setdefault(name, set()).update(names)
    if not found:
        err(path, "no # TYPE line: not a scrape of the engine's /metrics")
    LABELS = labels
    return found


scrape = os.environ.get("CHECK_DEPLOY_METRICS")
if scrape:
    # The second pass of check_deploy.sh: the dashboards against what the
    # built engine exports, in place of the list above.
    METRICS = read_exported_metrics(scrape)
    for path in glob.glob(os.path.join(ROOT, "deploy/compose/grafana/dashboards/*.json")):
        check_dashboard(path, None)
    for e in errors:
        print(f"check_deploy: {e} (in a scrape of the built loyaltyd)", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"check_deploy: every metric of the dashboards is one of the {len(METRICS)} the built "
          "loyaltyd exports")
    sys.exit(0)

for check in (check_all_yaml, check_docker, check_systemd, check_k8s, check_compose):
    try:
        check()
    except OSError as e:
        err("deploy", str(e))

# For promtool: every dashboard query as a recording rule (Grafana's
# $__rate_interval and friends as 1m).
rules_out = os.environ.get("CHECK_DEPLOY_RULES")
if rules_out:
    rules = [{"record": f"dashboard:query_{i}",
              "expr": re.sub(r"\$__\w+", "1m", e)} for i, (_, _, e) in enumerate(EXPRS)]
    with open(rules_out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)

for e in errors:
    print(f"check_deploy: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"check_deploy: static checks ok ({len(EXPRS)} dashboard queries)")
