"""Wall time of fresh `tenantctl search` and `tenantctl query` processes, as a user at a shell sees it.

    .venv/bin/python bench/bench_fresh.py [--home DIR] [--tenant acme-hr] [--runs 7] [--baseline DIR] [--phases]

--home defaults to the demo's home (.demo-home, made by scripts/demo.sh). Each run starts a new process
for `search` and one for `query` with the same question; with --baseline DIR the tenantctl package found
in DIR (for example another checkout) runs too, alternating with this one, so both see the same machine.
The processes compile their modules once and reuse them, as a user's do: PYTHONDONTWRITEBYTECODE (set
in some sandboxes) is dropped unless --keep-env, else every process compiles tenantctl again (~60 ms).
Prints the median and the best wall time of each, and the median CPU time (user + system: the steadier
figure on a shared machine); writes bench/results/fresh.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import write_results

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many days of paid annual leave do employees get?"


def timed(command: str, tenant: str, home: Path, package: Path, keep_env: bool = False,
          extra: tuple[str, ...] = ()) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one fresh process, and its output."""
    env = {**os.environ, "TENANTCTL_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(package)}
    if not keep_env:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Run in the package's folder: `python -m` puts the working folder first on sys.path, so from any
    # other checkout that one's tenantctl would run instead.
    done = subprocess.run([sys.executable, "-m", "tenantctl", command, tenant, QUESTION, *extra], env=env,
                          check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=package, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".demo-home")
    parser.add_argument("--tenant", default="acme-hr")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="a checkout whose tenantctl runs alternately")
    parser.add_argument("--keep-env", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (else dropped: modules compile once)")
    parser.add_argument("--phases", action="store_true",
                        help="then as many `query --json` runs: the median of each of its timings")
    args = parser.parse_args()
    args.home = args.home.resolve()
    packages = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    runs: dict[str, dict[str, list[tuple]]] = {name: {"search": [], "query": []} for name in packages}
    for package in packages.values():  # once each, unmeasured: page caches, compiled modules, exports
        for command in ("search", "query"):
            timed(command, args.tenant, args.home, package, args.keep_env)
    for _ in range(args.runs):
        for name, package in packages.items():
            for command in ("search", "query"):
                runs[name][command].append(timed(command, args.tenant, args.home, package, args.keep_env))
    results = {
        "tenant": args.tenant, "runs": args.runs, "load_average": os.getloadavg(),
        **{name: {f"{command}_s": _summary(r) for command, r in by_command.items()}
           for name, by_command in runs.items()},
    }
    if args.phases:
        phases: dict[str, list[dict]] = {name: [] for name in packages}
        for _ in range(args.runs):
            for name, package in packages.items():
                out = timed("query", args.tenant, args.home, package, args.keep_env, ("--json",))[2]
                phases[name].append(json.loads(out)["timings"])
        for name, timings in phases.items():
            keys = [k for k in timings[0] if all(isinstance(t.get(k), int | float) for t in timings)]
            results[name]["query_phases_median"] = {k: round(statistics.median(t[k] for t in timings), 1)
                                                    for k in keys}
    write_results("fresh", results)


def _summary(runs: list[tuple]) -> dict[str, float]:
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return {"median": round(statistics.median(walls), 3), "best": round(min(walls), 3),
            "cpu_median": round(statistics.median(cpus), 3)}


if __name__ == "__main__":
    main()
