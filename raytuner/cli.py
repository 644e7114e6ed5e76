"""The ``raytuner`` command.

User errors print one line and exit 2 (a traceback only with ``--debug``); failures while
running exit 1.

Each command imports what it runs inside its handler, on purpose: ``raytuner --help`` then
loads nothing heavy, and no command imports Ray (or torch) before it needs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from raytuner.errors import EXIT_INTERRUPTED, ConfigError, RaytunerError


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override any dotted key, e.g. --set train.epochs=3 (repeatable; "
                             "default: none)")


def _add_shared_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shared-storage", action="store_true", default=None,
                        help="the storage folder is a mount every node shares (NFS); without "
                             "it a local folder is refused on a multi-node cluster (default: "
                             "$RAYTUNER_SHARED_STORAGE, else off)")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true",
                        help="also show Ray's own output (its reporter, workers' output); by "
                             "default it goes to <run_dir>/logs only")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="raytuner", description="Distributed hyperparameter tuning for PyTorch on Ray Tune.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    _add_run(sub, fmt)
    validate = sub.add_parser("validate", help="check an experiment file and print it resolved",
                              formatter_class=fmt)
    validate.add_argument("experiment", help="experiment YAML file")
    _add_set(validate)
    validate.set_defaults(handler=cmd_validate)

    best = sub.add_parser("best", help="print the best trial of a run", formatter_class=fmt)
    best.add_argument("run_dir", help="run folder, e.g. runs/digits")
    best.add_argument("--json", action="store_true", help="print one JSON object (a "
                      "multi-objective run: its Pareto front)")
    best.add_argument("--pick", default=None, metavar="RULE",
                      help="multi-objective run: the front member that meets constraints such "
                      "as \"latency_ms<=2\" and/or scores best by weights such as "
                      "\"val_accuracy:2,latency_ms:1\" (comma-separated)")
    best.set_defaults(handler=cmd_best)

    resume = sub.add_parser("resume", help="continue an interrupted run", formatter_class=fmt)
    resume.add_argument("run_dir", help="run folder, e.g. runs/digits")
    resume.add_argument("--address", default=None,
                        help="Ray cluster to use (default: start Ray on this machine)")
    _add_shared_storage(resume)
    _add_verbose(resume)
    resume.set_defaults(handler=cmd_resume)
    _add_after_search(sub, fmt)
    _add_status(sub, fmt)

    board = sub.add_parser("tensorboard", help="open the run's aggregated TensorBoard view",
                           formatter_class=fmt)
    board.add_argument("run_dir", help="run folder or URI, e.g. runs/digits or s3://b/runs/x")
    board.add_argument("--port", type=int, default=None,
                       help="port to listen on (default: 6006 or the next free one)")
    board.add_argument("--host", default="127.0.0.1",
                       help="address to bind; 0.0.0.0 exposes it to the network")
    board.add_argument("--rebuild", action="store_true",
                       help="regenerate the logs from the trials' result files first")
    board.set_defaults(handler=cmd_tensorboard)
    return parser


def _add_run(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    """run."""
    run = sub.add_parser("run", help="run an experiment", formatter_class=fmt)
    run.add_argument("experiment", help="experiment YAML file")
    _add_set(run)
    run.add_argument("--storage", default=None,
                     help="folder or URI (s3://, gs://, file://) that holds run folders "
                          "(default: $RAYTUNER_STORAGE, else runs)")
    run.add_argument("--name", default=None,
                     help="run folder name (default: the experiment's name)")
    run.add_argument("--address", default=None,
                     help="Ray cluster to use, e.g. auto or ray://host:10001 "
                          "(default: start Ray on this machine)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing run folder of the same name")
    run.add_argument("--smoke", action="store_true",
                     help="two trials, one epoch, a small subset; synthetic stand-in data "
                          "when the real set is absent; run folder NAME-smoke")
    run.add_argument("--resume", action="store_true",
                     help="continue the existing run of the same name (must be the same "
                          "experiment); start it if there is none")
    _add_shared_storage(run)
    _add_verbose(run)
    run.set_defaults(handler=cmd_run)


def _add_status(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    """status."""
    status = sub.add_parser("status", help="the live view of a run, read from its folder",
                            formatter_class=fmt)
    status.add_argument("run_dir", help="run folder or URI, e.g. runs/digits or s3://b/runs/x")
    status.add_argument("--watch", action="store_true",
                        help="refresh until the run ends (Ctrl-C to stop watching)")
    status.add_argument("--interval", type=float, default=5.0,
                        help="seconds between refreshes with --watch")
    status.set_defaults(handler=cmd_status)


def _add_after_search(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    """report, export, compress and plan."""
    report = sub.add_parser("report", help="leaderboard, evaluation, importance, plots, HTML",
                            formatter_class=fmt)
    report.add_argument("run_dir", help="run folder, e.g. runs/digits")
    report.add_argument("--top", type=int, default=10, help="trials in the leaderboard")
    report.add_argument("--no-tensorboard", action="store_true",
                        help="do not add the figures to <run_dir>/tensorboard/report")
    report.set_defaults(handler=cmd_report)

    export = sub.add_parser("export", help="export the best (or a chosen) trial's model",
                            formatter_class=fmt)
    export.add_argument("run_dir", help="run folder, e.g. runs/digits")
    export.add_argument("--trial", default=None, help="trial id (default: the best trial)")
    export.add_argument("--out", required=True, help="folder to write the export into")
    export.set_defaults(handler=cmd_export)

    compress = sub.add_parser("compress", help="prune and quantize the best model",
                              formatter_class=fmt)
    compress.add_argument("run_dir", help="run folder, e.g. runs/digits")
    compress.add_argument("--trial", default=None, help="trial id (default: the best trial)")
    compress.add_argument("--out", default=None,
                          help="folder for the chosen model (default: <run_dir>/compressed)")
    _add_set(compress)
    compress.set_defaults(handler=cmd_compress)

    plan = sub.add_parser("plan", help="trials, epochs and wall-clock a search will spend",
                          formatter_class=fmt)
    plan.add_argument("experiment", help="experiment YAML file")
    _add_set(plan)
    plan.add_argument("--gpus", type=float, default=None,
                      help="GPUs available (default: those torch sees here)")
    plan.add_argument("--cpus", type=float, default=None,
                      help="CPUs available (default: this machine's)")
    plan.add_argument("--epoch-seconds", type=float, default=None,
                      help="seconds per epoch (default: time one calibration epoch here)")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.set_defaults(handler=cmd_plan)


def cmd_validate(args: argparse.Namespace) -> int:
    """``raytuner validate``: the resolved experiment, or its first problem."""
    from raytuner.config.validate import load_experiment
    from raytuner.files import dump_yaml

    exp = load_experiment(args.experiment, args.overrides)
    print(dump_yaml(exp.to_dict()), end="")
    return 0


def _print_result(result: Any) -> None:
    from raytuner.after.problems import problem_lines
    from raytuner.after.summary import summary_table
    from raytuner.view.final import final_lines

    summary = result.summary
    run_dir = summary.get("run_dir") or result.run_dir
    print("\n".join(final_lines(summary, summary_table(summary), problem_lines(summary),
                                run_dir)))


def cmd_run(args: argparse.Namespace) -> int:
    """``raytuner run``: run an experiment file."""
    from raytuner.config.validate import load_experiment
    from raytuner.runs.launch import run
    from raytuner.runs.smoke import smoke_name
    from raytuner.runs.storage import resolve_storage

    _set_verbose(args)
    exp = load_experiment(args.experiment, args.overrides)
    name = args.name or (smoke_name(exp.name) if args.smoke else exp.name)
    try:  # where a Ctrl-C from here on leaves the run: the hint names this folder
        args.run_dir = resolve_storage(args.storage).child(name)
    except ConfigError:  # bad storage: run() says so, in its turn among the checks
        args.run_dir = None
    result = run(exp, storage=args.storage, name=args.name, address=args.address,
                 overwrite=args.overwrite, smoke=args.smoke, shared_storage=args.shared_storage,
                 resume_existing=args.resume)
    _print_result(result)
    return 0


def _set_verbose(args: argparse.Namespace) -> None:
    from raytuner.runs.quiet import set_verbose

    set_verbose(args.verbose)


def cmd_resume(args: argparse.Namespace) -> int:
    """``raytuner resume``: continue an interrupted run."""
    from raytuner.runs.launch import resume

    _set_verbose(args)
    _print_result(resume(args.run_dir, address=args.address,
                         shared_storage=args.shared_storage))
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    """``raytuner best``: the best trial of a run (a multi-objective run: its Pareto front,
    or the member ``--pick`` chooses)."""
    from raytuner.after.summary import read_summary
    from raytuner.view.best import best_output

    summary = read_summary(args.run_dir)
    print(best_output(summary, str(args.run_dir), pick=args.pick, as_json=args.json))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``raytuner status``: the live view of a run, read from its folder."""
    import time

    from rich.console import Console
    from rich.live import Live

    from raytuner.after.status import is_finished, status_view
    from raytuner.view.render import render_view

    if args.interval <= 0:
        raise ConfigError(f"--interval must be positive (got {args.interval})",
                          path="--interval")
    view = status_view(args.run_dir)
    console = Console()
    if not args.watch or is_finished(view):
        console.print(render_view(view))
        return 0
    with Live(render_view(view), console=console, refresh_per_second=1) as live:
        while not is_finished(view):
            time.sleep(args.interval)
            view = status_view(args.run_dir)
            live.update(render_view(view))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``raytuner report``: leaderboard, evaluation, importance, figures, HTML."""
    from raytuner.after.report import build_report, render_text

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1 (got {args.top})", path="--top")
    print(render_text(build_report(args.run_dir, top=args.top,
                                   tensorboard=not args.no_tensorboard)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``raytuner export``: a trial's model for use outside raytuner."""
    from raytuner.after.export import export_model

    meta = export_model(args.run_dir, args.out, args.trial)
    print(f"exported trial {meta['trial_id']} (checkpoint of epoch {meta['epoch']}, "
          f"val_accuracy {meta['reported'].get('val_accuracy')}) to {args.out}: "
          + ", ".join(meta["files"].values()))
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    """``raytuner compress``: prune and quantize a trial's model."""
    from raytuner.after.compress import compress_run, render_table
    from raytuner.config._pydantic import validate_section
    from raytuner.config.schema import CompressConfig
    from raytuner.runs.folder import load_run_experiment

    raw = (load_run_experiment(args.run_dir).compress or CompressConfig()).model_dump()
    for key, value in (_compress_override(o) for o in args.overrides):
        raw[key] = value
    config = validate_section(CompressConfig, raw, path="compress", source="--set")
    result = compress_run(args.run_dir, config, args.trial, args.out)
    print(render_table(result))
    chosen = result["chosen"]
    print(f"chosen: {chosen['name']} (smallest losing at most {config.max_accuracy_drop:g} "
          f"accuracy), saved in {result['folder']}")
    return 0


def _compress_override(text: str) -> tuple[str, object]:
    from raytuner.config.overrides import parse_override

    key, value = parse_override(text)
    name = key.removeprefix("compress.")
    if "." in name:
        raise ConfigError(f"--set {key!r}: compress takes compress.KEY=VALUE, e.g. "
                          "--set compress.max_accuracy_drop=0.02", path="--set")
    return name, value


def cmd_plan(args: argparse.Namespace) -> int:
    """``raytuner plan``: what a search will spend."""
    from raytuner.config.validate import load_experiment
    from raytuner.search.plan import make_plan, render_plan

    for name in ("gpus", "cpus", "epoch_seconds"):
        value = getattr(args, name)
        if value is not None and (value < 0 or (name != "gpus" and value == 0)):
            raise ConfigError(f"--{name.replace('_', '-')} must be positive (got {value})")
    plan = make_plan(load_experiment(args.experiment, args.overrides), cpus=args.cpus,
                     gpus=args.gpus, epoch_seconds=args.epoch_seconds)
    print(json.dumps(plan.to_dict()) if args.json else render_plan(plan))
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    """``raytuner tensorboard``: serve the run's aggregated TensorBoard view."""
    from raytuner.tensorboard.server import serve

    return serve(args.run_dir, host=args.host, port=args.port, rebuild=args.rebuild)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``raytuner`` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    # `module:attr` names resolve in the current folder first, as with `python -m`.
    from raytuner.runs.usercode import add_current_folder

    add_current_folder()
    try:
        return handler(args)
    except RaytunerError as exc:
        if args.debug:
            raise
        print(f"raytuner: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # The run folder (for `run`, known once its experiment is loaded), not the storage root.
        run_dir = getattr(args, "run_dir", None)
        hint = f"; continue with `raytuner resume {run_dir}`" if run_dir else ""
        print(f"\nraytuner: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
