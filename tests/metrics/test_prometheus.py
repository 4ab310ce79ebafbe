#!/usr/bin/env python3
"""test_prometheus.py DEMO-SERVICE: a real Prometheus scrapes the demo.

Starts the demo service on 127.0.0.1 (ephemeral port) with a fail file,
and Debian's Prometheus server on 127.0.0.1 (a free port, its own config
and storage in a temporary directory, a 1 s scrape interval).  Through
Prometheus's HTTP query API: the series exist, the counters were parsed
as OpenMetrics counters, and when the demo's dependency fails and
recovers, its failures counter increases and its status flips to fail and
back.  Every wait has a deadline; both processes are killed on exit, and
die with this one (PR_SET_PDEATHSIG).  Skipped (77) without prometheus.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PR_SET_PDEATHSIG = 1


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG,
                                                   signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, limit):
    """Calls fn until it returns a true value, for at most limit seconds."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:  # connection refused, reset, HTTP errors
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out after {limit} s waiting for {what} "
                         f"(last: {last!r})")


class Prom:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, **params):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def value(self, query):
        """The single sample of an instant query, or None."""
        res = self.get("/api/v1/query", query=query)["data"]["result"]
        if len(res) != 1:
            return None
        return float(res[0]["value"][1])

    def ready(self):
        with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
            return r.status == 200


def start_demo(tmp, fail_file):
    env = dict(os.environ, HEALTH_BIND="127.0.0.1", HEALTH_PORT="",
               HEALTH_DETAILS="", HEALTH_METRICS="")
    path = os.path.join(tmp, "demo.log")
    # O_APPEND, and read through a description of its own: seeking the one
    # the demo writes through would make its next line overwrite the start.
    with open(path, "a") as log:
        demo = subprocess.Popen([sys.argv[1], "--port", "0", "--fail-file",
                                 fail_file], stderr=log, stdout=log, env=env,
                                preexec_fn=die_with_parent)

    def read_log():
        with open(path) as f:
            return f.read()

    def port():
        m = re.search(r"serving on port (\d+)", read_log())
        return int(m.group(1)) if m else None

    try:
        return demo, wait_for("the demo's port", port, 20)
    except AssertionError:
        sys.stderr.write(f"demo exit status {demo.poll()}, its log:\n"
                         f"{read_log()}")
        raise


def start_prometheus(tmp, target):
    conf = os.path.join(tmp, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n"
                "  scrape_interval: 1s\n"
                "  scrape_timeout: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: demo\n"
                "    static_configs:\n"
                f"      - targets: ['{target}']\n")
    port = free_port()
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={conf}",
         f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
         "--log.level=warn"],
        stdout=log, stderr=log, preexec_fn=die_with_parent)
    return proc, Prom(port)


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def status(prom, check, st):
    return prom.value(f'health_check_status{{check="{check}",'
                      f'status="{st}"}}')


def run(tmp):
    fail_file = os.path.join(tmp, "fail")
    demo, demo_port = start_demo(tmp, fail_file)
    prom = None
    try:
        proc, prom = start_prometheus(tmp, f"127.0.0.1:{demo_port}")
        try:
            scenario(prom, fail_file, proc)
        finally:
            stop(proc)
    except AssertionError:
        for name in ("prometheus.log", "demo.log"):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                sys.stderr.write(f"--- {name}\n" + open(path).read()[-3000:])
        raise
    finally:
        stop(demo)


def scenario(prom, fail_file, proc):
    def alive():
        assert proc.poll() is None, "prometheus exited"
        return prom.ready()

    wait_for("Prometheus ready", alive, 60)
    wait_for("a successful scrape", lambda: prom.value('up{job="demo"}') == 1,
             30)
    wait_for("dependency passing", lambda: status(prom, "dependency",
                                                 "pass") == 1, 30)
    for q in ('health_build_info{service_id="demo-service"}',
              'health_check_runs_total{check="dependency"}',
              'health_check_duration_seconds_count{check="memory"}',
              'health_heartbeat_age_seconds{check="main-loop"}',
              'health_endpoint_status{endpoint="ready",status="pass"}',
              'health_shutting_down'):
        assert prom.value(q) is not None, f"no series {q}"
    meta = prom.get("/api/v1/metadata", metric="health_check_runs")["data"]
    assert meta.get("health_check_runs", [{}])[0].get("type") == "counter", \
        f"health_check_runs is not an OpenMetrics counter: {meta}"
    fails = prom.value('health_check_failures_total{check="dependency"}')
    assert fails == 0, fails

    open(fail_file, "w").close()
    wait_for("dependency failing", lambda: status(prom, "dependency",
                                                 "fail") == 1, 30)
    assert status(prom, "dependency", "pass") == 0
    wait_for("/ready failing", lambda: prom.value(
        'health_endpoint_status{endpoint="ready",status="fail"}') == 1, 30)
    wait_for("the failures counter to increase", lambda: prom.value(
        'health_check_failures_total{check="dependency"}') > fails, 30)
    assert prom.value('increase(health_check_failures_total'
                      '{check="dependency"}[1m])') > 0

    os.unlink(fail_file)
    wait_for("dependency passing again", lambda: status(prom, "dependency",
                                                       "pass") == 1, 30)
    assert status(prom, "dependency", "fail") == 0
    wait_for("a recent success", lambda: prom.value(
        'health_check_last_success_age_seconds{check="dependency"}') < 3, 30)
    print("prometheus: series present, counter parsed as OpenMetrics, "
          "failure and recovery seen")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_prometheus.py DEMO-SERVICE")
    if not os.access(PROMETHEUS, os.X_OK):
        print("prometheus not installed: skipped")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="health-prom-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
