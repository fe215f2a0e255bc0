"""Scale-out: the production shape with 1 and then 2 uvicorn processes on PostgreSQL + Redis.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/bench_scaleout.py
    python bench/bench_scaleout.py --levels 50,100,150,250 --duty 300 --duration 45

Runs bench/bench_websocket.py (capacity and duty-cycle phases, its validity checks) once per
process count, in the same session, and prints:
- capacity per process-core with 2 processes / with 1: the scale-out efficiency (target >= 0.8);
- CPU per reply in each part: the product's processes, PostgreSQL's and Redis's servers, and
  the harness's own model server and clients, which share this box;
- what those costs predict for 4 and 8 cores given to the product alone (model and clients
  elsewhere): replies a second and concurrent streams, with Redis's single thread as a bound.

A prediction is arithmetic on measured costs, not a measurement: it assumes the costs per reply
stay flat as the load grows (the database and Redis work per reply is counted, their locks and
queueing are not). The services' CPU is the whole server's, whatever else used it: only a quiet
machine gives a figure worth quoting; the load average is printed beside each run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_EFFICIENCY = 0.8
PARTS = ("product", "postgresql", "redis")


def run(args: argparse.Namespace, workers: int, out: Path) -> dict:
    command = [
        sys.executable,
        str(ROOT / "bench" / "bench_websocket.py"),
        *("--workers", str(workers), "--phases", "capacity,duty"),
        *("--levels", ",".join(str(level * workers) for level in args.levels)),
        *("--duty", str(args.duty * workers), "--duration", str(args.duration)),
        *("--client-processes", str(args.client_processes), "--out", str(out)),
    ]
    print(f"== {workers} process(es): {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=ROOT, check=False)
    return json.loads(out.read_text())


def per_reply(duty: dict) -> dict[str, float]:
    replies = max(1, duty["completed"])
    return {
        "product": 1000 * duty["product_cpu_seconds"] / replies,
        "postgresql": 1000 * duty["postgresql_cpu_seconds"] / replies,
        "redis": 1000 * duty["redis_cpu_seconds"] / replies,
        "model server": 1000 * duty["model_server_cpu_seconds"] / replies,
        "clients": 1000 * duty["client_cpu_seconds"] / replies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[50, 100, 150, 250],
        help="streams per process tried in the capacity phase (multiplied by the processes)",
    )
    parser.add_argument("--duty", type=int, default=300, help="conversations per process")
    parser.add_argument("--duration", type=float, default=45.0, help="seconds of duty cycle")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--first-token-delay", type=float, default=0.2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        print("skipped: needs DATABASE_URL (PostgreSQL) and REDIS_URL: the production shape")
        return

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            results[workers] = run(args, workers, Path(tmp) / f"scaleout-{workers}.json")

    print("\nScale-out (PostgreSQL + Redis), load average at start / end of each run:")
    capacity = {}
    for workers, r in results.items():
        found = r.get("capacity", {}).get("capacity", {})
        capacity[workers] = found
        cores = min(workers, os.cpu_count() or 1)
        streams = found.get("streams", 0)
        figure = (
            f"{streams}{'' if found.get('bounded') else '+'} streams, {streams / cores:.0f} per "
            "process-core"
            if streams
            else f"< {args.levels[0] * workers} streams (the first level failed)"
        )
        print(
            f"  {workers} process(es): capacity {figure}, "
            f"{'valid' if found.get('valid') else 'INVALID'} "
            f"(load {r['load_at_start']} -> {r['load_at_end']})"
        )
    one, two = capacity[1].get("streams", 0), capacity[2].get("streams", 0)
    # One process's search must end on a valid failing level; the two processes' may pass every
    # level (then the ratio is a lower bound, judged only if it already meets the target).
    valid = bool(capacity[1].get("valid") and capacity[1].get("bounded") and one)
    valid = valid and bool(capacity[2].get("valid"))
    if not one:
        print("  scale-out efficiency: not judged, one process passed no level (lower --levels)")
    if one:
        efficiency = (two / min(2, os.cpu_count() or 1)) / one
        if not capacity[2].get("bounded") and efficiency < TARGET_EFFICIENCY:
            valid = False  # a lower bound under the target says nothing
        print(
            f"  scale-out efficiency (per process-core, 2 / 1): {efficiency:.2f}"
            f"{'' if capacity[2].get('bounded') else ' or more'} "
            + (
                ("meets" if efficiency >= TARGET_EFFICIENCY else "MISSES")
                if valid
                else "not judged: a search was invalid, or one process's passed every level"
            )
            + f" (target >= {TARGET_EFFICIENCY})"
        )

    print("\nCPU per reply in each part (duty cycle), ms:")
    print("  " + " " * 14 + "".join(f"{part:>14}" for part in per_reply(results[1]["duty"])))
    costs = {}
    for workers, r in results.items():
        costs[workers] = per_reply(r["duty"])
        row = "".join(f"{v:14.1f}" for v in costs[workers].values())
        print(f"  {workers} process(es): {row}  ({r['duty']['completed']} replies)")

    reply_seconds = args.first_token_delay + args.tokens / args.rate
    cost = {part: costs[2][part] for part in PARTS}
    total = sum(cost.values())
    print(
        f"\nPredicted for the product alone on N cores (model server and clients elsewhere), from"
        f" the 2-process costs: product {cost['product']:.1f} + PostgreSQL "
        f"{cost['postgresql']:.1f} + Redis {cost['redis']:.1f} = {total:.1f} ms CPU a reply, "
        f"{reply_seconds:.2f} s a reply:"
    )
    redis_bound = 1000 / cost["redis"] if cost["redis"] else float("inf")
    for cores in (2, 4, 8):
        rate = min(1000 * cores / total, redis_bound) if total else 0.0
        print(
            f"  {cores} cores: {rate:6.0f} replies/s, {rate * reply_seconds:6.0f} concurrent "
            f"streams at full CPU{' (bound by Redis)' if rate == redis_bound else ''}"
        )


if __name__ == "__main__":
    main()
