#!/usr/bin/env python3
"""The deployment examples parse as YAML and name paths and ports the demo
service really serves: the demo is started with the manifest's own
arguments and environment (on an ephemeral port) and every probe path is
requested.

usage: test_manifests.py REPO DEMO-SERVICE
"""
import http.client
import os
import re
import subprocess
import sys
import time

import yaml


def start_demo(demo, args, env):
    env = dict(os.environ, **env, HEALTH_PORT="0")
    p = subprocess.Popen([demo] + args, stderr=subprocess.PIPE, env=env,
                         text=True)
    for line in p.stderr:
        m = re.search(r"serving on port (\d+)", line)
        if m:
            return p, int(m.group(1))
    raise SystemExit("demo-service did not start: %s" % args)


def get(port, path, want=200, deadline=5.0):
    """GETs path until it answers want or the deadline passes."""
    end = time.monotonic() + deadline
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", path)
        status = c.getresponse().status
        c.close()
        if status == want or time.monotonic() > end:
            return status
        time.sleep(0.01)


def check_kubernetes(repo, demo):
    with open(os.path.join(repo, "examples/kubernetes/deployment.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert str(ports["health"]) == env["HEALTH_PORT"], (ports, env)
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert spec["terminationGracePeriodSeconds"] > 0
    probes = {k: c[k]["httpGet"] for k in
              ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["startupProbe"]["path"] == "/started"
    assert probes["livenessProbe"]["path"] == "/live"
    assert probes["readinessProbe"]["path"] == "/ready"
    for p in probes.values():
        assert p["port"] in ports, p
    env.pop("HEALTH_PORT")
    proc, port = start_demo(demo, c.get("args", []), env)
    try:
        for name, p in probes.items():
            status = get(port, p["path"])
            assert status == 200, (name, p["path"], status)
        # SIGTERM drains: readiness fails at once, liveness keeps passing;
        # a second SIGTERM ends the drain early.
        proc.terminate()
        assert get(port, "/ready", 503, 1.0) == 503
        assert get(port, "/live", 200, 0) == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("kubernetes: %d probes served by the demo" % len(probes))


def check_compose(repo):
    path = os.path.join(repo, "examples/docker/compose.yaml")
    if not os.path.exists(path):
        return
    with open(path) as f:
        doc = yaml.safe_load(f)
    for name, svc in doc["services"].items():
        hc = svc.get("healthcheck")
        if hc:
            # The exec form: the only one that works without a shell.
            assert hc["test"][0] == "CMD", (name, hc["test"])
    print("compose: exec-form healthchecks")


def main():
    repo, demo = sys.argv[1], sys.argv[2]
    check_kubernetes(repo, demo)
    check_compose(repo)
    print("manifests: 2 passed, 0 failed")


if __name__ == "__main__":
    main()
