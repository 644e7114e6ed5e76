"""The run folder: the names of the files in it, and the experiment saved in it.

One home for these names; everything that reads or writes a run folder (the run, the summary,
the report, TensorBoard, export and compress) takes them from here::

    <run_dir>/experiment.yaml          the resolved experiment (the source of truth of a run)
    <run_dir>/summary.json             every trial and the best one, written at the end
    <run_dir>/reproducibility.json     versions, seeds, git commit, hardware
    <run_dir>/trial_<id>/result.json   Ray's per-trial results, one JSON line per epoch
    <run_dir>/experiment_state-*.json  Ray Tune's state (what `raytuner resume` continues)
    <run_dir>/tensorboard/             the aggregated TensorBoard view
    <run_dir>/report/                  `raytuner report`
    <run_dir>/compressed/              `raytuner compress`
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs

from raytuner.config.schema import Experiment
from raytuner.config.validate import validate_experiment
from raytuner.errors import ConfigError
from raytuner.files import parse_yaml, read_yaml_file
from raytuner.registry import user_code_optional

EXPERIMENT_FILE = "experiment.yaml"
SUMMARY_FILE = "summary.json"
REPRO_FILE = "reproducibility.json"
#: Ray's JSON logger writes one line per reported result in each trial folder
RESULT_FILE = "result.json"
#: Ray Tune's experiment state files start with this
EXPERIMENT_STATE_PREFIX = "experiment_state"
TRIAL_DIR_PREFIX = "trial_"
TENSORBOARD_DIR = "tensorboard"
REPORT_DIR = "report"
COMPRESSED_DIR = "compressed"


def trial_dirname(trial_id: str) -> str:
    """The folder of trial ``trial_id`` inside the run folder."""
    return f"{TRIAL_DIR_PREFIX}{trial_id}"


def load_run_experiment(run_dir: str | Path, *,
                        filesystem: pyarrow.fs.FileSystem | None = None,
                        user_code: bool = False) -> Experiment:
    """The resolved experiment saved in a run folder (a local path, or a path on
    ``filesystem``), validated once.

    Reading results needs none of the user's code: unless ``user_code`` (what resuming the
    run needs), a model or data set named by an import path whose module is absent here loads
    all the same, and only building it raises :class:`raytuner.errors.UserCodeMissing`.
    """
    if not user_code:
        with user_code_optional():
            return load_run_experiment(run_dir, filesystem=filesystem, user_code=True)
    if filesystem is not None and not isinstance(filesystem, pyarrow.fs.LocalFileSystem):
        source = f"{str(run_dir).rstrip('/')}/{EXPERIMENT_FILE}"
        if filesystem.get_file_info(source).type != pyarrow.fs.FileType.File:
            raise ConfigError(f"not a raytuner run folder (no {EXPERIMENT_FILE})",
                              source=str(run_dir))
        with filesystem.open_input_stream(source) as stream:
            raw = parse_yaml(stream.read().decode("utf-8"), source=source)
        return validate_experiment(raw, source=source)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("run folder not found", source=str(run_dir))
    path = run_dir / EXPERIMENT_FILE
    if not path.is_file():
        raise ConfigError(f"not a raytuner run folder (no {EXPERIMENT_FILE})", source=str(run_dir))
    return validate_experiment(read_yaml_file(path), source=str(path))
