#!/usr/bin/env python3
"""Times `explain` and `rules` against reference tools, side by side in one run.

Usage: scripts/perf_compare.py [--runs N] [--quick] [--bin PATH]

Builds (or takes) the release binary and the generators in harness/examples, writes kubectl
JSON dumps of 1k/5k/10k/20k nodes (seed 004's shape: 100 Services, two endpoints per node)
and a 10,000-Service iptables dump (25 MB), an nft script and an ipvsadm listing of the same
Services, then prints per workload: median wall time, the reference tool's median measured
in the same run (`jq -c .`, `grep -c KUBE-SEP`, `iptables-restore --test`, and `wc -w` as the
cost of splitting the dump into words alone), the ratio, and
peak RSS (`/usr/bin/time -v`) against the input size (and jq's). Goals (issue #11): explain
<= 0.2x jq and peak RSS <= 2x input and <= jq's; rules <= 3x grep, <= 0.05x iptables-restore --test, RSS <= 2x dump.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_quiet(cmd, stdin=None):
    with open(os.devnull, "wb") as devnull:
        subprocess.run(cmd, stdin=stdin, stdout=devnull, stderr=devnull, check=False)


def median_time(cmd, runs, stdin_path=None):
    times = []
    for _ in range(runs):
        stdin = open(stdin_path, "rb") if stdin_path else None
        start = time.perf_counter()
        run_quiet(cmd, stdin=stdin)
        times.append(time.perf_counter() - start)
        if stdin:
            stdin.close()
    return statistics.median(times)


def peak_rss_bytes(cmd, stdin_path=None):
    stdin = open(stdin_path, "rb") if stdin_path else None
    out = subprocess.run(
        ["/usr/bin/time", "-v"] + cmd,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if stdin:
        stdin.close()
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1]) * 1024
    return 0


def build(args):
    if args.bin:
        return args.bin, os.path.join(os.path.dirname(args.bin), "examples")
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(
        ["cargo", "build", "--release", "--bin", "topo-harness",
         "--example", "generate_state", "--example", "generate_rules"],
        cwd=ROOT, env=env, check=True,
    )
    release = os.path.join(env["CARGO_TARGET_DIR"], "release")
    return os.path.join(release, "topo-harness"), os.path.join(release, "examples")


def row(name, size, ours, rss, refs, baseline=0):
    parts = [f"{name:<34}", f"{size / 1e6:7.1f} MB", f"{ours * 1000:8.1f} ms"]
    for ref_name, ref_time, goal in refs:
        ratio = ours / ref_time if ref_time else float("nan")
        if goal is None:
            parts.append(f"{ref_name} {ref_time * 1000:8.1f} ms -> {ratio:6.3f}x (no goal)")
            continue
        mark = "ok" if ratio <= goal else "MISSED"
        parts.append(f"{ref_name} {ref_time * 1000:8.1f} ms -> {ratio:6.3f}x (goal <= {goal}x {mark})")
    parts.append(f"RSS {rss / 1e6:6.1f} MB = {rss / size:4.2f}x input"
                 f" ({(rss - baseline) / size:4.2f}x above the {baseline / 1e6:.1f} MB process floor)")
    print("  ".join(parts), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="1k and 5k nodes only")
    p.add_argument("--bin", help="a built topo-harness (examples next to it)")
    args = p.parse_args()
    binary, examples = build(args)
    jq = shutil.which("jq") or "/usr/bin/jq"
    restore = shutil.which("iptables-restore")
    work = tempfile.mkdtemp(prefix="topo-perf-")
    try:
        print(f"machine: {os.cpu_count()} CPUs; median of {args.runs} runs; work dir {work}")
        # The process floor: peak RSS of `explain` on a one-node state (binary, libc, runtime).
        tiny = os.path.join(ROOT, "fixtures", "states", "kubectl-seed-001.json")
        baseline = peak_rss_bytes([binary, "explain", tiny, "-o", "json"])
        print(f"process floor (explain of a 4-node state): RSS {baseline / 1e6:.1f} MB")
        sizes = [1000, 5000] if args.quick else [1000, 5000, 10000, 20000]
        for nodes in sizes:
            path = os.path.join(work, f"state-{nodes}.json")
            subprocess.run([os.path.join(examples, "generate_state"), path, str(nodes)], check=True)
            size = os.path.getsize(path)
            cmd = [binary, "explain", path, "-o", "json"]
            ours = median_time(cmd, args.runs)
            rss = peak_rss_bytes(cmd)
            ref = median_time([jq, "-c", ".", path], args.runs)
            row(f"explain -o json, {nodes} nodes", size, ours, rss, [("jq -c .", ref, 0.2)], baseline)
            jq_rss = peak_rss_bytes([jq, "-c", ".", path])
            mark = "ok" if rss <= jq_rss else "MISSED"
            print(f"{'':<34}  peak RSS of jq -c . {jq_rss / 1e6:6.1f} MB (goal: ours <= jq's {mark})",
                  flush=True)
        dumps = [
            ("iptables", "iptables", "dump.iptables"),
            ("nft", "nftables", "dump.nft"),
            ("ipvs", "ipvs", "dump.ipvsadm"),
        ]
        for kind, mode, name in dumps:
            path = os.path.join(work, name)
            subprocess.run([os.path.join(examples, "generate_rules"), kind, path], check=True)
            size = os.path.getsize(path)
            cmd = [binary, "rules", path, "--mode", mode, "-o", "json"]
            ours = median_time(cmd, args.runs)
            rss = peak_rss_bytes(cmd)
            refs = [("grep -c", median_time(["grep", "-c", "KUBE-SEP" if kind == "iptables" else "->" if kind == "ipvs" else "endpoint-", path], args.runs), 3.0)]
            # What splitting the dump into words alone costs a standard tool: the floor below
            # which no parser that reads words can go (grep only finds line ends).
            refs.append(("LC_ALL=C wc -w", median_time(["env", "LC_ALL=C", "wc", "-w", path], args.runs), None))
            if kind == "iptables" and restore and os.geteuid() == 0:
                refs.append(("iptables-restore --test",
                             median_time([restore, "--test"], max(1, args.runs // 2), stdin_path=path), 0.05))
            row(f"rules --mode {mode} -o json, 10k Services", size, ours, rss, refs, baseline)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
