"""The ``raytuner`` command.

User errors print one line and exit 2 (a traceback only with ``--debug``); failures while
running exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from raytuner.errors import ConfigError, RaytunerError


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override any dotted key, e.g. --set train.epochs=3 (repeatable; "
                             "default: none)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="raytuner", description="Distributed hyperparameter tuning for PyTorch on Ray Tune.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    run = sub.add_parser("run", help="run an experiment", formatter_class=fmt)
    run.add_argument("experiment", help="experiment YAML file")
    _add_set(run)
    run.add_argument("--storage", default="runs",
                     help="folder (or URI) that holds run folders")
    run.add_argument("--name", default=None,
                     help="run folder name (default: the experiment's name)")
    run.add_argument("--address", default=None,
                     help="Ray cluster to use, e.g. auto or ray://host:10001 "
                          "(default: start Ray on this machine)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing run folder of the same name")
    run.add_argument("--resume", action="store_true",
                     help="continue the existing run of the same name (must be the same "
                          "experiment); start it if there is none")
    run.set_defaults(handler=cmd_run)

    validate = sub.add_parser("validate", help="check an experiment file and print it resolved",
                              formatter_class=fmt)
    validate.add_argument("experiment", help="experiment YAML file")
    _add_set(validate)
    validate.set_defaults(handler=cmd_validate)

    best = sub.add_parser("best", help="print the best trial of a run", formatter_class=fmt)
    best.add_argument("run_dir", help="run folder, e.g. runs/digits")
    best.add_argument("--json", action="store_true", help="print one JSON object")
    best.set_defaults(handler=cmd_best)

    resume = sub.add_parser("resume", help="continue an interrupted run", formatter_class=fmt)
    resume.add_argument("run_dir", help="run folder, e.g. runs/digits")
    resume.add_argument("--address", default=None,
                        help="Ray cluster to use (default: start Ray on this machine)")
    resume.set_defaults(handler=cmd_resume)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    from raytuner.config import load_experiment
    from raytuner.yaml_io import dump_yaml

    exp = load_experiment(args.experiment, args.overrides)
    print(dump_yaml(exp.to_dict()), end="")
    return 0


def _print_result(result) -> None:
    from raytuner.problems import problem_lines
    from raytuner.summary import summary_table

    summary = result.summary
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["status_counts"].items()))
    print(f"\n{summary['num_trials']} trials ({counts}) in {summary['wall_time_s']:.1f} s")
    print(summary_table(summary))
    for line in problem_lines(summary):
        print(line)
    best = summary["best"]
    if best is None:
        print("no trial reported a result")
        return
    print(f"\nbest trial {best['trial_id']}: {summary['metric']} = {best['best']:.4f}")
    for key, value in best["config"].items():
        print(f"  {key} = {value}")
    print("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in best["metrics"].items()
                                     if isinstance(v, float)))
    print(f"  checkpoint: {best['checkpoint']}")
    print(f"run folder: {result.run_dir} (summary.json, experiment.yaml, trial folders)")


def cmd_run(args: argparse.Namespace) -> int:
    from raytuner.config import load_experiment
    from raytuner.experiment import run

    exp = load_experiment(args.experiment, args.overrides)
    result = run(exp, storage=args.storage, name=args.name, address=args.address,
                 overwrite=args.overwrite, resume_existing=args.resume)
    _print_result(result)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from raytuner.experiment import resume

    _print_result(resume(args.run_dir, address=args.address))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from raytuner.summary import read_or_build_summary

    summary = read_or_build_summary(args.run_dir)
    best = summary["best"]
    if best is None:
        raise ConfigError("no trial has reported a result yet", source=str(args.run_dir))
    if args.json:
        print(json.dumps({**best, "metric": summary["metric"], "mode": summary["mode"]},
                         default=str))
        return 0
    print(f"best trial {best['trial_id']} ({best['status']}, {best['epochs']} epochs): "
          f"{summary['metric']} = {best['best']:.4f}")
    print("config:")
    for key, value in best["config"].items():
        print(f"  {key}: {value}")
    print("metrics:")
    for key, value in best["metrics"].items():
        print(f"  {key}: {value}")
    print(f"checkpoint: {best['checkpoint']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``raytuner`` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RaytunerError as exc:
        if args.debug:
            raise
        print(f"raytuner: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        run_dir = getattr(args, "run_dir", None) or Path(getattr(args, "storage", "runs"))
        print(f"\nraytuner: interrupted; continue with `raytuner resume {run_dir}`",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
