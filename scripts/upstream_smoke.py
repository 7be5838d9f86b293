#!/usr/bin/env python3
"""Smoke test of the cached upstream binaries (`topo-harness upstream build`).

For every cached release (or the ones given with --kubernetes): start etcd and kube-apiserver
on loopback with random ports in a private temporary directory (a token auth file,
self-signed serving certificates in --cert-dir, one generated service-account key, RBAC),
wait for /readyz, check that /version reports the release's gitVersion and that
kube-controller-manager and kube-proxy start far enough to print their version; then stop
what was started (by pid) and remove the directory. Prints one line per release and exits 1
if any failed.

usage: scripts/upstream_smoke.py [--cache DIR] [--kubernetes 1.NN]... [--timeout SECONDS]
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def default_cache():
    if os.environ.get("TOPO_UPSTREAM_CACHE"):
        return Path(os.environ["TOPO_UPSTREAM_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "topo-harness/upstream"
    return Path.home() / ".cache/topo-harness/upstream"


def free_ports(n):
    """n distinct loopback ports nothing listens on right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Processes:
    """What this script started, stopped by pid."""

    def __init__(self):
        self.started = []

    def start(self, name, argv, log):
        out = open(log, "wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, proc, out))
        return proc

    def stop_all(self):
        for name, proc, out in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            out.close()
        self.started = []


def get(url, token=None, timeout=2):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        return response.status, response.read().decode()


def wait_for(what, url, proc, deadline, token=None, log=None):
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = Path(log).read_text(errors="replace").splitlines()[-5:] if log else []
            raise RuntimeError(f"{what} exited with {proc.returncode}: " + " | ".join(tail))
        try:
            status, body = get(url, token)
            if status == 200:
                return body
            last = f"HTTP {status}"
        except Exception as e:  # not up yet
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready in time ({url}: {last})")


def version_line(k8s, command, workdir):
    out = subprocess.run([str(k8s), command, "--version"], capture_output=True, text=True, cwd=workdir, timeout=30)
    return (out.stdout + out.stderr).strip().splitlines()[-1] if (out.stdout + out.stderr).strip() else f"exit {out.returncode}"


def smoke(release_dir, etcd, timeout):
    manifest = json.loads((release_dir / "manifest.json").read_text())
    version = manifest["version"]
    k8s = release_dir / "bin/k8s"
    work = Path(tempfile.mkdtemp(prefix="topo-upstream-smoke-"))
    os.chmod(work, 0o700)
    procs = Processes()
    try:
        client, peer, secure = free_ports(3)
        token = secrets.token_hex(16)
        (work / "tokens.csv").write_text(f"{token},smoke-admin,smoke-admin,system:masters\n")
        subprocess.run(["openssl", "genrsa", "-out", str(work / "sa.key"), "2048"], check=True, capture_output=True)
        started = time.monotonic()
        etcd_proc = procs.start("etcd", [
            str(etcd), "--name", "smoke", "--data-dir", str(work / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"smoke=http://127.0.0.1:{peer}",
            "--listen-metrics-urls", "", "--unsafe-no-fsync",
        ], work / "etcd.log")
        deadline = started + timeout
        wait_for("etcd", f"http://127.0.0.1:{client}/health", etcd_proc, deadline, log=work / "etcd.log")
        etcd_ready = time.monotonic() - started
        api_started = time.monotonic()
        api = procs.start("kube-apiserver", [
            str(k8s), "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{client}",
            "--bind-address=127.0.0.1", f"--secure-port={secure}", "--advertise-address=127.0.0.1",
            f"--cert-dir={work / 'certs'}", f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={work / 'sa.key'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--disable-admission-plugins=ServiceAccount",
            # From 1.37 the lease endpoint reconciler refuses a loopback advertise address
            # ("may not be in the loopback range", pkg/controlplane/reconcilers/lease.go
            # ValidateIP); the `kubernetes` Service then gets no endpoints, which this test
            # does not need.
            "--endpoint-reconciler-type=none",
        ], work / "kube-apiserver.log")
        base = f"https://127.0.0.1:{secure}"
        wait_for("kube-apiserver", f"{base}/readyz", api, api_started + timeout, token, work / "kube-apiserver.log")
        api_ready = time.monotonic() - api_started
        reported = json.loads(get(f"{base}/version", token)[1])
        if reported.get("gitVersion") != version:
            raise RuntimeError(f"/version says {reported.get('gitVersion')}, expected {version}")
        minor = version.split(".")[1]
        if reported.get("major") != "1" or reported.get("minor") != minor:
            raise RuntimeError(f"/version major/minor {reported.get('major')}/{reported.get('minor')}")
        others = {c: version_line(k8s, c, work) for c in ("kube-controller-manager", "kube-proxy")}
        for command, line in others.items():
            if version not in line:
                raise RuntimeError(f"{command} --version printed {line!r}")
        return {
            "version": version, "ok": True, "etcd_ready": etcd_ready, "api_ready": api_ready,
            "size": k8s.stat().st_size, "build_seconds": manifest["programs"]["k8s"]["seconds"],
            "go": manifest["programs"]["k8s"]["go_version"],
        }
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--kubernetes", action="append", default=[], metavar="1.NN")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per component to become ready")
    args = parser.parse_args()
    cache = args.cache or default_cache()
    etcds = sorted(cache.glob("etcd-v*/bin/etcd"))
    if not etcds:
        print(f"no etcd in {cache}: run topo-harness upstream build", file=sys.stderr)
        return 2
    etcd = etcds[-1]
    releases = sorted(
        (d for d in cache.glob("k8s-v1.*") if (d / "bin/k8s").is_file() and (d / "manifest.json").is_file()),
        key=lambda d: int(d.name.split(".")[1]),
    )
    if args.kubernetes:
        wanted = {f"k8s-v{m}." for m in args.kubernetes}
        releases = [d for d in releases if any(d.name.startswith(w) for w in wanted)]
    if not releases:
        print(f"no cached release to test in {cache}: run topo-harness upstream build", file=sys.stderr)
        return 2
    print(f"etcd: {etcd}")
    failed = 0
    for d in releases:
        try:
            r = smoke(d, etcd, args.timeout)
            print(
                f"{r['version']}: ok — /readyz after {r['api_ready']:.1f}s (etcd {r['etcd_ready']:.1f}s), "
                f"/version {r['version']}, binary {r['size'] / 1e6:.1f} MB, built in {r['build_seconds'] / 60:.1f} min with {r['go']}"
            )
        except Exception as e:
            failed += 1
            print(f"{d.name}: FAILED — {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
