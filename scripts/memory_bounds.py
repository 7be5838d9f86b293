#!/usr/bin/env python3
"""Peak memory of every large-input reader at about 200 MB of input, against its bound.

Usage: scripts/memory_bounds.py [--bin PATH] [--mb N]

Generates (with harness/examples/generate_state and generate_rules) a kubectl JSON dump, the
same dump as YAML, an iptables-save dump, an nft script and an ipvsadm listing of about N MB
each (default 200), runs `explain -o json` or `rules -o json` on each with the size budget
raised to fit, and prints peak RSS (`/usr/bin/time -v`) as a multiple of the input size, next
to the bounds of issue #12 (every reader <= 3x its input) and #11 (explain and rules <= 2x).
The process floor (RSS of `explain` on a 4-node state) is printed too.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak(cmd):
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    rss = 0
    status = None
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            rss = int(line.split(":")[1]) * 1024
        if "Exit status" in line:
            status = int(line.split(":")[1])
    return rss, elapsed, status, out.stderr


def build(args):
    if args.bin:
        return args.bin, os.path.join(os.path.dirname(args.bin), "examples")
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--release", "--bin", "topo-harness",
                    "--example", "generate_state", "--example", "generate_rules"],
                   cwd=ROOT, env=env, check=True)
    release = os.path.join(env["CARGO_TARGET_DIR"], "release")
    return os.path.join(release, "topo-harness"), os.path.join(release, "examples")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", help="a built topo-harness (examples next to it)")
    p.add_argument("--mb", type=int, default=200, help="input size to aim for, in MB")
    args = p.parse_args()
    binary, examples = build(args)
    scale = args.mb / 200
    work = tempfile.mkdtemp(prefix="topo-mem-")
    try:
        tiny = os.path.join(ROOT, "fixtures", "states", "kubectl-seed-001.json")
        floor, _, _, _ = peak([binary, "explain", tiny, "-o", "json"])
        print(f"process floor: {floor / 1e6:.1f} MB")
        gen_state = os.path.join(examples, "generate_state")
        gen_rules = os.path.join(examples, "generate_rules")
        nodes = str(int(73000 * scale))
        inputs = [
            ("explain, kubectl JSON", [gen_state, "{out}", nodes], "state.json",
             lambda f: [binary, "explain", f, "-o", "json"], 2.0),
            ("explain, kubectl YAML", [gen_state, "{out}", nodes, "yaml"], "state.yaml",
             lambda f: [binary, "explain", f, "-o", "json"], 3.0),
            ("rules, iptables-save", [gen_rules, "iptables", "{out}", str(int(80000 * scale))],
             "dump.iptables", lambda f: [binary, "rules", f, "--mode", "iptables", "-o", "json"], 2.0),
            ("rules, nft", [gen_rules, "nft", "{out}", str(int(80000 * scale))], "dump.nft",
             lambda f: [binary, "rules", f, "--mode", "nftables", "-o", "json"], 2.0),
            ("rules, ipvsadm", [gen_rules, "ipvs", "{out}", str(int(54000 * scale)), "50"],
             "dump.ipvsadm", lambda f: [binary, "rules", f, "--mode", "ipvs", "-o", "json"], 2.0),
        ]
        for name, gen, file, cmd, bound in inputs:
            path = os.path.join(work, file)
            subprocess.run([a.replace("{out}", path) for a in gen], check=True,
                           stdout=subprocess.DEVNULL)
            size = os.path.getsize(path)
            rss, elapsed, status, err = peak(cmd(path) + ["--max-input-size", "1G"])
            ratio = rss / size
            mark = "ok" if ratio <= bound else "OVER"
            print(f"{name:<24} {size / 1e6:7.1f} MB  exit {status}  {elapsed:6.2f} s  "
                  f"RSS {rss / 1e6:7.1f} MB = {ratio:4.2f}x input (bound {bound}x {mark}; "
                  f"12's bound 3x)", flush=True)
            if status not in (0, 1):
                print(err[-2000:])
            os.remove(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
