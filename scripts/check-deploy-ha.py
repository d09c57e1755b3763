#!/usr/bin/env python3
"""Checks docker-compose.ha.yml, as `docker-compose config` rendered it, against docker-compose.yml and
scripts/ha-lib.sh (scripts/check-deploy.sh runs it; it prints what it found and one line per problem).

usage: check-deploy-ha.py HA.yml HA-MANY.yml SINGLE.yml PATRONI.yml HA-LIB-PATRONI.yml HA-LIB-POOL-CONNINFO
                          POOL-ROLE NGINX-TEMPLATE
  HA.yml, HA-MANY.yml  docker-compose.ha.yml rendered with .env.example (and with many workers)
  SINGLE.yml           docker-compose.yml rendered with the same .env (already checked on its own)
  PATRONI.yml          scripts/docker/ha/patroni.yml, the nodes' configuration
  HA-LIB-PATRONI.yml   the patroni.yml scripts/ha-lib.sh writes for `make run HA=1`, its node 1
  HA-LIB-POOL-CONNINFO ha_pool_conninfo's output (the pool's conninfo of `make run HA=1`)
"""
import re
import sys

import yaml

(ha_path, ha_many_path, single_path, patroni_path, ha_lib_path, ha_lib_conninfo, pool_role,
 nginx_template) = sys.argv[1:9]

RESERVED = 3  # PostgreSQL's superuser_reserved_connections
OTHERS = 2  # migrate or admin-token, and a worker being replaced (as for docker-compose.yml)
NODE_IMAGE = "tally-ha-node:local"
NODE_DATA = "/var/lib/postgresql/patroni"
PATRONI_COMMAND = ["patroni", "/etc/patroni/patroni.yml"]
# What the shared services may change from docker-compose.yml: where they connect, the pool's failover
# timings, the network, and what migrate waits for. Nothing else (socket, volumes, users, healthchecks, nginx).
ALLOWED = {
    "migrate": {"depends_on", "networks", "environment.TALLY_DATABASE"},
    "tally": {"networks", "environment.TALLY_DATABASE", "environment.TALLY_IN_DOUBT_PATIENCE",
              "environment.TALLY_REQUEST_TIMEOUT"},
    "nginx": set(),
}
problems = []


def problem(text):
    problems.append(text)


def conninfo(text):
    return dict(part.split("=", 1) for part in text.split())


def flatten(value, prefix=""):
    """{a: {b: 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def differences(a, b):
    fa, fb = flatten(a), flatten(b)
    return {key for key in fa.keys() | fb.keys() if fa.get(key) != fb.get(key)}


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


single = load(single_path)
patroni = load(patroni_path)
ha_lib = load(ha_lib_path)
dcs = patroni["bootstrap"]["dcs"]

# --- the Patroni configuration: scripts/ha-lib.sh's, apart from addresses, paths and passwords ---------------
if dcs != ha_lib["bootstrap"]["dcs"]:
    problem("patroni.yml's bootstrap.dcs is not ha-lib.sh's: "
            + ", ".join(sorted(differences(dcs, ha_lib["bootstrap"]["dcs"]))))
for key in ["initdb"]:
    if patroni["bootstrap"].get(key) != ha_lib["bootstrap"].get(key):
        problem(f"patroni.yml's bootstrap.{key} is not ha-lib.sh's")
for key in ["use_unix_socket", "remove_data_directory_on_rewind_failure",
            "remove_data_directory_on_diverged_timelines"]:
    if patroni["postgresql"].get(key) != ha_lib["postgresql"].get(key):
        problem(f"patroni.yml's postgresql.{key} is {patroni['postgresql'].get(key)!r}, "
                f"ha-lib.sh's {ha_lib['postgresql'].get(key)!r}")
for key in ["scope", "log"]:
    if patroni.get(key) != ha_lib.get(key):
        problem(f"patroni.yml's {key} is not ha-lib.sh's")
if not (dcs.get("synchronous_mode") is True and dcs.get("synchronous_mode_strict") is True
        and dcs.get("postgresql", {}).get("use_pg_rewind") is True and dcs.get("maximum_lag_on_failover") == 0):
    problem("patroni.yml lacks synchronous_mode, synchronous_mode_strict, use_pg_rewind or maximum_lag_on_failover 0")
if dcs["loop_wait"] + 2 * dcs["retry_timeout"] > dcs["ttl"]:
    problem("patroni.yml: loop_wait + 2 * retry_timeout > ttl (a cut-off primary could outlive its key)")
# Every login by password, never trust; the replication role and everything else only from the containers' own
# networks.
for line in patroni["postgresql"]["pg_hba"]:
    fields = line.split()
    if fields[-1] != "scram-sha-256" or (fields[0] == "host" and fields[3] != "samenet"):
        problem(f"patroni.yml's pg_hba line {line!r} is not scram-sha-256 from samenet")
if not any(line.split()[:3] == ["host", "replication", "replicator"] for line in patroni["postgresql"]["pg_hba"]):
    problem("patroni.yml's pg_hba does not admit replicator's replication connections")
if "authentication" in patroni["postgresql"] or re.search(r"password", yaml.safe_dump(patroni), re.I):
    problem("patroni.yml holds a password or an authentication section: they come from the environment")
print(f"patroni.yml: ttl {dcs['ttl']} / loop_wait {dcs['loop_wait']} / retry_timeout {dcs['retry_timeout']}, "
      f"synchronous_mode {dcs['synchronous_mode']}, synchronous_mode_strict {dcs['synchronous_mode_strict']}, "
      f"use_pg_rewind {dcs['postgresql']['use_pg_rewind']}: as ha-lib.sh's")

for path in [ha_path, ha_many_path]:
    name = path.rsplit("/", 1)[-1]
    compose = load(path)
    services = compose["services"]
    single_services = single["services"]

    # --- the shared services: docker-compose.yml's, but for the allowed differences ---------------------------
    for service, allowed in ALLOWED.items():
        if service not in services:
            problem(f"{name}: no {service} service")
            continue
        if path == ha_path:
            unexpected = {key for key in differences(services[service], single_services[service])
                          if not any(key == a or key.startswith(a + ".") for a in allowed)}
            if unexpected:
                problem(f"{name}: {service} differs from docker-compose.yml's in {', '.join(sorted(unexpected))}")
    for volume in ["tally-socket", "tally-state"]:
        if volume not in compose.get("volumes", {}):
            problem(f"{name}: no volume {volume}")

    # --- the database nodes ---------------------------------------------------------------------------------
    nodes = [s for s, v in services.items() if v.get("command") == PATRONI_COMMAND]
    members = [s for s, v in services.items() if v.get("command") == ["etcd"]]
    if len(nodes) != 3 or len(members) != 3:
        problem(f"{name}: {len(nodes)} Patroni nodes and {len(members)} etcd members, not three of each")
    owner = services[nodes[0]]["environment"]["PATRONI_SUPERUSER_USERNAME"] if nodes else None
    owner_password = services[nodes[0]]["environment"]["PATRONI_SUPERUSER_PASSWORD"] if nodes else None
    replication_password = services[nodes[0]]["environment"]["PATRONI_REPLICATION_PASSWORD"] if nodes else None
    restapi_password = services[nodes[0]]["environment"].get("PATRONI_RESTAPI_PASSWORD") if nodes else None
    restapi_user = ha_lib["restapi"]["authentication"]["username"]
    if not restapi_password or len({str(owner_password), str(replication_password), str(restapi_password)}) != 3:
        problem(f"{name}: Patroni's REST API has no password of its own")
    volumes_used = []
    for node in nodes:
        spec, env = services[node], services[node]["environment"]
        expected = {"PATRONI_NAME": node, "PATRONI_RESTAPI_CONNECT_ADDRESS": f"{node}:8008",
                    "PATRONI_POSTGRESQL_CONNECT_ADDRESS": f"{node}:5432",
                    "PATRONI_SUPERUSER_USERNAME": owner, "PATRONI_SUPERUSER_PASSWORD": owner_password,
                    "PATRONI_REPLICATION_USERNAME": "replicator",
                    "PATRONI_REPLICATION_PASSWORD": replication_password,
                    "PATRONI_RESTAPI_USERNAME": restapi_user, "PATRONI_RESTAPI_PASSWORD": restapi_password}
        for key, value in expected.items():
            if env.get(key) != value:
                problem(f"{name}: {node}'s {key} is {env.get(key)!r}, expected {value!r}")
        if "8008/health" not in " ".join(spec.get("healthcheck", {}).get("test", [])):
            problem(f"{name}: {node} has no healthcheck on Patroni's /health")
        if "user" in spec:
            problem(f"{name}: {node} runs as {spec['user']!r}, not the image's postgres")
        data = [v.split(":")[0] for v in spec.get("volumes", []) if v.split(":")[1] == NODE_DATA]
        if len(data) != 1 or data[0].startswith("/"):
            problem(f"{name}: {node} does not keep {NODE_DATA} in a named volume of its own")
        volumes_used += data
    for member in members:
        spec, env = services[member], services[member]["environment"]
        expected = {"ETCD_NAME": member, "ETCD_ADVERTISE_CLIENT_URLS": f"http://{member}:2379",
                    "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"http://{member}:2380",
                    "ETCD_INITIAL_CLUSTER": ",".join(f"{m}=http://{m}:2380" for m in members),
                    # Patroni uses etcd's v2 API (patroni.yml says why).
                    "ETCD_ENABLE_V2": "true"}
        for key, value in expected.items():
            if env.get(key) != value:
                problem(f"{name}: {member}'s {key} is {env.get(key)!r}, expected {value!r}")
        if spec.get("user") != "etcd":
            problem(f"{name}: {member} runs as {spec.get('user')!r}, not etcd")
        if "endpoint health" not in " ".join(spec.get("healthcheck", {}).get("test", [])):
            problem(f"{name}: {member} has no healthcheck (etcdctl endpoint health)")
        data = [v.split(":")[0] for v in spec.get("volumes", []) if v.split(":")[1] == "/var/lib/etcd"]
        if len(data) != 1 or data[0].startswith("/"):
            problem(f"{name}: {member} does not keep /var/lib/etcd in a named volume of its own")
        volumes_used += data
    if len(set(volumes_used)) != len(volumes_used):
        problem(f"{name}: database containers share a data volume: {volumes_used}")
    for service in nodes + members:
        spec = services[service]
        if spec.get("image") != NODE_IMAGE or not spec.get("build", {}).get("context", "").endswith("/scripts/docker/ha"):
            problem(f"{name}: {service} does not run {NODE_IMAGE} built from scripts/docker/ha")
        if any(str(value) == str(owner_password) for key, value in spec["environment"].items()
               if key != "PATRONI_SUPERUSER_PASSWORD") or (service in members and any(
                   "PASSWORD" in key for key in spec["environment"])):
            problem(f"{name}: {service} holds a password it does not need")
        # etcd (no authentication) on the nodes' own network only; the nodes also on the pool's.
        networks = {"cluster", "database"} if service in nodes else {"cluster"}
        if set(spec.get("networks", {})) != networks:
            problem(f"{name}: {service} is on the networks {sorted(spec.get('networks', {}))}, not {sorted(networks)}")
    hosts = ",".join(f"{m}:2379" for m in members)
    if patroni.get("etcd", {}).get("hosts") != hosts:
        problem(f"patroni.yml's etcd (v2) hosts {patroni.get('etcd', {}).get('hosts')!r} are not the etcd members "
                f"{hosts!r}")

    # --- ports and networks: nginx alone is published, and is not on the database network --------------------
    published = sorted(s for s, v in services.items() if v.get("ports"))
    if published != ["nginx"]:
        problem(f"{name}: services publishing ports: {published} (nginx alone should)")
    elif path == ha_path and not str(services["nginx"]["ports"][0]).startswith("127.0.0.1:"):
        problem(f"{name}: nginx is published on {services['nginx']['ports'][0]} by default, not 127.0.0.1")
    for network in ["cluster", "database"]:
        if compose.get("networks", {}).get(network, {}).get("internal") is not True:
            problem(f"{name}: the network {network} is not internal")
    if {"cluster", "database"} & set(services["nginx"].get("networks", {})):
        problem(f"{name}: nginx is on a database network")
    for service in ["tally", "migrate"]:
        if set(services[service].get("networks", {})) != {"database"}:
            problem(f"{name}: {service} is not on the network database alone")

    # --- the pool and migrate: the primary, wherever it is ----------------------------------------------------
    tally, migrate = services["tally"], services["migrate"]
    pool = conninfo(tally["environment"]["TALLY_DATABASE"])
    setup = conninfo(migrate["environment"]["TALLY_DATABASE"])
    expected_hosts = ",".join(nodes)
    for who, info, user in [("the pool", pool, pool_role), ("migrate", setup, owner)]:
        if info.get("host") != expected_hosts or info.get("target_session_attrs") != "read-write":
            problem(f"{name}: {who} connects to host={info.get('host')} target_session_attrs="
                    f"{info.get('target_session_attrs')}, not host={expected_hosts} target_session_attrs=read-write")
        if info.get("user") != user:
            problem(f"{name}: {who} connects as {info.get('user')!r}, not {user!r}")
        if info.get("port") != patroni["postgresql"]["listen"].rsplit(":", 1)[1]:
            problem(f"{name}: {who}'s port is not the nodes' ({patroni['postgresql']['listen']})")
    if pool.get("user") == owner:
        problem(f"{name}: the pool connects as the owner")
    # The pool's connection settings are make run HA=1's (ha-lib.sh's ha_pool_conninfo), but for where.
    lib = conninfo(ha_lib_conninfo)
    where = {"host", "dbname", "passfile"}
    if {k: v for k, v in pool.items() if k not in where} != {k: v for k, v in lib.items() if k not in where}:
        problem(f"{name}: the pool's conninfo settings are not ha-lib.sh's: {sorted(set(pool.items()) ^ set(lib.items()))}")
    secrets = {str(owner_password), str(replication_password), str(restapi_password)}
    for who, spec in [("the pool", tally), ("nginx", services["nginx"])]:
        if any(str(value) in secrets for value in spec["environment"].values()):
            problem(f"{name}: {who}'s environment holds the owner's, the replication or the REST API password")
    if tally["environment"].get("PGPASSWORD") != migrate["environment"].get("TALLY_POOL_PASSWORD"):
        problem(f"{name}: the pool does not log in with the password migrate sets")
    if migrate["environment"].get("PGPASSWORD") != owner_password:
        problem(f"{name}: migrate does not log in with the owner's password")
    for node in nodes:
        if migrate.get("depends_on", {}).get(node, {}).get("condition") != "service_healthy":
            problem(f"{name}: migrate does not wait for {node} to be healthy")

    # Failover timings: the in-doubt wait fits in the request, the request in nginx's timeout.
    patience = int(tally["environment"].get("TALLY_IN_DOUBT_PATIENCE", 0))
    timeout = int(tally["environment"].get("TALLY_REQUEST_TIMEOUT", 0))
    read_timeout = int(re.search(r"fastcgi_read_timeout (\d+)s;", open(nginx_template).read()).group(1))
    if (patience, timeout) != (20, 28) or not patience < timeout < read_timeout:
        problem(f"{name}: TALLY_IN_DOUBT_PATIENCE {patience} / TALLY_REQUEST_TIMEOUT {timeout}, expected 20 / 28 "
                f"(under nginx's fastcgi_read_timeout {read_timeout})")
    if patience <= dcs["ttl"]:
        problem(f"{name}: TALLY_IN_DOUBT_PATIENCE {patience} s does not outlast Patroni's ttl {dcs['ttl']} s")

    # max_connections is Patroni's (the same on every node), not computed from the workers.
    workers = int(tally["environment"]["TALLY_WORKERS"]) + int(tally["environment"]["TALLY_BATCH_WORKERS"])
    connections = int(dcs["postgresql"]["parameters"]["max_connections"])
    if connections - RESERVED < workers + OTHERS:
        problem(f"{name}: max_connections {connections} leaves fewer than {workers} workers + {OTHERS}")
    if tally["environment"]["TALLY_BATCH_WORKERS"] != services["nginx"]["environment"].get("TALLY_BATCH_WORKERS"):
        problem(f"{name}: nginx and tally have different TALLY_BATCH_WORKERS")
    print(f"{name}: nodes {expected_hosts}, etcd {','.join(members)}; the pool: host={pool['host']} "
          f"target_session_attrs={pool['target_session_attrs']} user={pool['user']}, {workers} workers of "
          f"max_connections {connections}, in-doubt patience {patience} s, request timeout {timeout} s")

for text in problems:
    print(text)
sys.exit(1 if problems else 0)
