"""``python -m benchmarks NAME [--smoke] [--seeds N]``: run one benchmark (or ``all``) and write
its markdown table and PNG plots into ``benchmarks/results/``."""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
from pathlib import Path

from benchmarks.common import RESULTS_DIR, Options

BENCHMARKS = {
    "b1": "benchmarks.search_efficiency",
    "b2": "benchmarks.overhead",
    "b3": "benchmarks.trial_speed",
    "b4": "benchmarks.logging_overhead",
    "b5": "benchmarks.scale",
    "b6": "benchmarks.population",
    "b7": "benchmarks.multi_objective",
    "default": "benchmarks.default_experiment",
    "chaos": "benchmarks.chaos",
}
ALIASES = {"search": "b1", "overhead": "b2", "speed": "b3", "logging": "b4", "scale": "b5",
           "population": "b6", "multi_objective": "b7"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, *ALIASES, "all"],
                        help="benchmark to run (b1..b7, default, chaos, or all)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny size that runs in seconds (what the test suite runs)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds / repetitions (default: the benchmark's own, 5 for B1)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"where tables and plots go (default: {RESULTS_DIR})")
    parser.add_argument("--methods", default=None,
                        help="B1: comma-separated subset of methods a,b,c,d,e; B6: of "
                             "asha,pbt,pb2; B7: of random,moasha")
    parser.add_argument("--report-only", action="store_true",
                        help="B1, B5, B6, B7: rebuild the report from the runs saved so far")
    parser.add_argument("--resume", action="store_true",
                        help="B1, B5: keep the runs (B5: sizes) saved so far and run only the "
                             "missing ones")
    parser.add_argument("--trials", default=None,
                        help="B2: number of trials (default 200), or N,M with M trials for "
                             "the slow no-reuse variant; B5: comma-separated sizes "
                             "(default 100,300,1000,10000); chaos: trials (default 100)")
    return parser


def _stored_command(out_dir: Path, name: str) -> str | None:
    """The command stored with the result ``name`` in ``out_dir``, if any."""
    path = out_dir / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    name = ALIASES.get(args.name, args.name)
    names = list(BENCHMARKS) if name == "all" else [name]
    extra = {"methods": args.methods.split(",") if args.methods else None,
             "trials": args.trials, "report_only": args.report_only,
             "resume": args.resume}
    at = argv.index(args.name)  # the positional name, as given (an alias, or `all`)
    # --report-only and --resume reuse runs saved by the same command without them
    kept = [a for a in argv[at + 1:] if a not in ("--report-only", "--resume")]
    for each in names:
        # stored with the result, so RESULTS.md says how each table was made (not retyped)
        command = shlex.join(["python", "-m", "benchmarks", *argv[:at], each, *kept])
        opts = Options(smoke=args.smoke, seeds=args.seeds, out_dir=args.out, extra=extra,
                       command=command)
        module = importlib.import_module(BENCHMARKS[each])
        report = module.run(opts)
        # a report rebuilt from saved runs keeps the command that ran them, where stored
        earlier = _stored_command(opts.out_dir, report.name) if args.report_only else None
        report.data["command"] = earlier or command
        path = report.write(opts.out_dir)
        print(path.read_text(encoding="utf-8"))
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
