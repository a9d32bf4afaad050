#!/usr/bin/env python3
"""Kestrel's reference Ray driver: index an archive of scenes into GeoParquet shards.

Reads a manifest (one scene path a line; blank lines and `#` comments skipped; relative
paths are taken from the manifest's folder, as `kestrel index --manifest` does) and runs one
Ray task per scene, or per batch of N scenes (`--batch N`, so the model loads once per
batch). Each task runs, as a subprocess on the node that got it,

    kestrel index --out-dir DIR --skip-existing --json --progress json [--model M] SCENES...

and returns the CLI's JSON summary lines (one per scene). Retries follow the CLI's exit
codes (see `kestrel index --help` and packaging/cluster/README.md):

    0   indexed, or skipped: done
    2   bad input: never retried
    75  transient I/O: retried up to --retries times
    1   another failure: retried once

Only the scenes of a batch that failed are retried; `--skip-existing` makes a retry of a
scene whose shard was already written a no-op, and Kestrel writes shards atomically, so a
killed task never leaves a partial shard. At the end it prints one JSON line per scene
(the CLI's last summary of it plus `attempts`) and a final `{"event": "summary", ...}` line
on stdout, and exits non-zero when a scene failed finally: 75 if one may succeed on a later
run, else 2 (bad input) or 1, the rule the CLI uses for several scenes.

`ray.init(num_cpus=...)` starts a local Ray on this machine by default; `--address` joins a
real cluster (then the scenes, the out-dir and the kestrel binary must be reachable at the
same paths on every node). `--gpus-per-task 0.25` lets four reader-heavy tasks share a GPU.

    python packaging/cluster/ray_index.py --manifest scenes.txt --out-dir shards \\
        --model msclip --batch 4 --gpus-per-task 0.25 --cpus-per-task 2
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import threading
import time

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RETRY = 75


def read_manifest(path: str) -> list[str]:
    """Scene paths of a manifest, as `kestrel index --manifest` reads it."""
    base = os.path.dirname(os.path.abspath(path))
    scenes = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                scenes.append(os.path.join(base, line))
    return scenes


def kestrel_command(kestrel: str, out_dir: str, model: str | None, extra: list[str],
                    scenes: list[str]) -> list[str]:
    cmd = [kestrel, "index", "--out-dir", out_dir, "--skip-existing", "--json",
           "--progress", "json"]
    if model:
        cmd += ["--model", model]
    return cmd + list(extra) + ["--"] + list(scenes)


def run_kestrel(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run one `kestrel index`; its exit code, its JSON summary lines and the tail of its
    stderr (which is also passed on to this process's stderr, so Ray shows the progress)."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})})
    except OSError as e:  # no kestrel binary on this node: a retry will not find one
        return {"exit_code": EXIT_BAD_INPUT, "lines": [],
                "stderr_tail": [f"cannot run {cmd[0]}: {e}"], "seconds": 0.0}
    tail: collections.deque[str] = collections.deque(maxlen=20)

    def pump() -> None:
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))
            sys.stderr.write(line)
        sys.stderr.flush()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    lines = []
    for line in proc.stdout:
        line = line.strip()
        if not line:
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            tail.append(line)
    code = proc.wait()
    t.join()
    return {"exit_code": code, "lines": lines, "stderr_tail": list(tail),
            "seconds": round(time.monotonic() - started, 3)}


def allowed_attempts(code: int, retries: int) -> int:
    """How many attempts in all a scene that failed with this exit code may get."""
    if code == EXIT_BAD_INPUT:
        return 1
    if code == EXIT_RETRY:
        return 1 + retries
    return min(2, 1 + retries)  # 1 or anything else (a signal): retry once


def worst_code(codes: list[int]) -> int:
    """The CLI's rule for several failed scenes: 75 if any may succeed on a later run,
    else the smallest code (1 when some failure was not bad input, else 2)."""
    if not codes:
        return EXIT_OK
    if EXIT_RETRY in codes:
        return EXIT_RETRY
    return min(c if c in (EXIT_FAILED, EXIT_BAD_INPUT) else EXIT_FAILED for c in codes)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after `--` are passed on to `kestrel index` (e.g. --stride 112).")
    p.add_argument("--manifest", required=True, help="scene paths, one a line")
    p.add_argument("--out-dir", required=True, help="the shard folder (shared by all nodes)")
    p.add_argument("--model", help="kestrel's --model (a registry name or a .safetensors)")
    p.add_argument("--kestrel", default=os.environ.get("KESTREL_BIN") or shutil.which("kestrel")
                   or "kestrel", help="the kestrel binary (default: $KESTREL_BIN, else PATH)")
    p.add_argument("--batch", type=int, default=1, help="scenes per task (default 1)")
    p.add_argument("--retries", type=int, default=3,
                   help="retries of a scene that failed with exit code 75 (default 3)")
    p.add_argument("--gpus-per-task", type=float, default=0.0,
                   help="Ray num_gpus of a task; a fraction shares a GPU (default 0)")
    p.add_argument("--cpus-per-task", type=float, default=1.0,
                   help="Ray num_cpus of a task (default 1)")
    p.add_argument("--address", help="a Ray cluster to join (default: start a local one)")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPUs of the local Ray (default: all of this machine's)")
    p.add_argument("--summary", help="also write the per-scene JSON lines to this file")
    p.add_argument("kestrel_args", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.batch < 1:
        p.error("--batch must be at least 1")
    if a.retries < 0:
        p.error("--retries must be at least 0")
    if a.gpus_per_task < 0 or a.cpus_per_task <= 0:
        p.error("--gpus-per-task must be >= 0 and --cpus-per-task > 0")
    return a


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    try:
        scenes = read_manifest(a.manifest)
    except OSError as e:
        print(f"ray_index: cannot read the manifest {a.manifest}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not scenes:
        print(f"ray_index: the manifest {a.manifest} names no scene", file=sys.stderr)
        return EXIT_BAD_INPUT
    out_dir = os.path.abspath(a.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    kestrel = a.kestrel if os.sep not in a.kestrel else os.path.abspath(a.kestrel)
    model = a.model
    if model and os.path.exists(model):
        model = os.path.abspath(model)

    import ray  # imported here so that --help works without Ray

    started = time.monotonic()
    if a.address:
        ray.init(address=a.address, log_to_driver=True)
    else:
        # local: loopback only, no dashboard
        ray.init(num_cpus=a.num_cpus, include_dashboard=False, log_to_driver=True,
                 _node_ip_address="127.0.0.1")
    if a.gpus_per_task > 0 and ray.cluster_resources().get("GPU", 0) < a.gpus_per_task:
        print(f"ray_index: --gpus-per-task {a.gpus_per_task} but the Ray cluster has "
              f"{ray.cluster_resources().get('GPU', 0)} GPUs; no task could run", file=sys.stderr)
        ray.shutdown()
        return EXIT_BAD_INPUT

    # Ray retries a task whose worker died (max_retries); the CLI's own failures come back
    # as exit codes and are retried below, scene by scene.
    task = ray.remote(run_kestrel).options(num_cpus=a.cpus_per_task, num_gpus=a.gpus_per_task,
                                           max_retries=2, retry_exceptions=False)

    # the model's thread pool sized to the task's CPUs, not to the whole node
    env = {} if "RAYON_NUM_THREADS" in os.environ else {
        "RAYON_NUM_THREADS": str(max(1, int(a.cpus_per_task)))}
    attempts = {s: 0 for s in scenes}
    final: dict[str, dict] = {}
    pending = {}

    def submit(batch: list[str]) -> None:
        for s in batch:
            attempts[s] += 1
        cmd = kestrel_command(kestrel, out_dir, model, a.kestrel_args, batch)
        pending[task.remote(cmd, env)] = batch

    for i in range(0, len(scenes), a.batch):
        submit(scenes[i:i + a.batch])

    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        ref = done[0]
        batch = pending.pop(ref)
        try:
            res = ray.get(ref)
        except Exception as e:  # the worker died more often than Ray retries
            res = {"exit_code": EXIT_FAILED, "lines": [], "stderr_tail": [repr(e)], "seconds": 0}
        by_scene = {}
        for line in res["lines"]:
            if "scene" in line:
                by_scene[os.path.abspath(line["scene"])] = line
        again = []
        for s in batch:
            line = by_scene.get(s)
            if line is None:
                # no summary line (the process failed before it, or was killed): its exit code
                code = res["exit_code"] if res["exit_code"] != 0 else EXIT_FAILED
                line = {"scene": s, "status": "failed", "exit_code": code,
                        "retry": code == EXIT_RETRY,
                        "error": "; ".join(res["stderr_tail"][-3:]) or f"exit code {code}"}
            line = dict(line, attempts=attempts[s])
            if line["status"] == "failed":
                code = int(line.get("exit_code", EXIT_FAILED))
                if attempts[s] < allowed_attempts(code, a.retries):
                    print(f"ray_index: {s}: attempt {attempts[s]} failed with exit code {code}; "
                          "retrying", file=sys.stderr)
                    again.append(s)
                    continue
            final[s] = line
        if again:
            submit(again)

    ray.shutdown()
    lines = [final[s] for s in scenes]
    failed = [ln for ln in lines if ln["status"] == "failed"]
    summary = {
        "event": "summary",
        "scenes": len(scenes),
        "indexed": sum(ln["status"] == "indexed" for ln in lines),
        "skipped": sum(ln["status"] == "skipped" for ln in lines),
        "failed": len(failed),
        "retried": sum(ln["attempts"] > 1 for ln in lines),
        "tiles": sum(int(ln.get("tiles", 0)) for ln in lines if ln["status"] == "indexed"),
        "exit_code": worst_code([int(ln.get("exit_code", EXIT_FAILED)) for ln in failed]),
        "seconds": round(time.monotonic() - started, 3),
    }
    text = "".join(json.dumps(ln) + "\n" for ln in lines + [summary])
    sys.stdout.write(text)
    if a.summary:
        with open(a.summary, "w", encoding="utf-8") as f:
            f.write(text)
    for ln in failed:
        print(f"ray_index: {ln['scene']}: failed (exit code {ln.get('exit_code')}) after "
              f"{ln['attempts']} attempts: {ln.get('error', '')}", file=sys.stderr)
    return summary["exit_code"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
