"""TensorBoard event files without TensorFlow: a small synchronous writer, the summaries
raytuner writes (scalars, HParams), and a reader that tells what a run folder already holds.

The writer is synchronous on purpose: one record per metric per epoch is a few hundred bytes,
and writing it at once means a crash loses nothing that the read-back on restore would miss.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.summary.writer.record_writer import RecordWriter

EVENTS_PREFIX = "events.out.tfevents."
_UID = itertools.count()
_last_stamp_ns = 0


def _file_stamp_ns() -> int:
    """Nanoseconds since the epoch, strictly increasing within this process.

    TensorBoard reads a folder's event files in the order of their names (and skips a file
    that sorts before one it has already read), so the name must sort in the order of
    writing: a fixed-width stamp first, taken from the clock across processes (a resumed
    driver) and forced forward within one (several writers in the same nanosecond, or a
    clock that steps back). Nineteen digits of nanoseconds also sort after the ten digits of
    seconds and the "." that folders written by raytuner 0.1.0 start with.
    """
    global _last_stamp_ns
    _last_stamp_ns = max(time.time_ns(), _last_stamp_ns + 1)
    return _last_stamp_ns


def event_file_name() -> str:
    """A new event file's name: sorts after every earlier one, never reused."""
    return (f"{EVENTS_PREFIX}{_file_stamp_ns():019d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_UID):06d}.raytuner")


class EventWriter:
    """Appends events to one new ``events.out.tfevents.*`` file in ``logdir``."""

    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        # A new file per writer: a resumed or rebuilt run never appends to an old file.
        self.path = self.logdir / event_file_name()
        self._records = RecordWriter(open(self.path, "ab"))  # noqa: SIM115 - closed in close()
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event: event_pb2.Event) -> None:
        self._records.write(event.SerializeToString())

    def add_summary(self, summary: summary_pb2.Summary, step: int, wall_time: float) -> None:
        """One event holding ``summary`` at ``step``."""
        self._write(event_pb2.Event(wall_time=wall_time, step=int(step), summary=summary))

    def add_scalars(self, values: dict[str, float], step: int, wall_time: float) -> None:
        """One event with a scalar per tag (non-finite values are written too: TensorBoard
        plots NaN as a gap, which is what a diverged loss should look like)."""
        if values:
            summary = summary_pb2.Summary(value=[
                summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
                for tag, value in values.items()])
            self.add_summary(summary, step, wall_time)

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        if not self._records.closed:
            self._records.close()


# ---------------------------------------------------------------------------------------------
# HParams summaries (built with the plugin's own protos; its v1 helpers import TensorFlow)


def hparams_config_summary(domains: dict[str, Any], metrics: list[tuple[str, str]]
                           ) -> summary_pb2.Summary:
    """The experiment: every searched parameter with its domain, every metric (tag, description).

    ``domains`` maps a name to ``("interval", low, high)``, ``("int", low, high)`` or
    ``("discrete", [values])``.
    """
    params = []
    for name, domain in domains.items():
        kind = domain[0]
        if kind == "discrete":
            params.append(hp.HParam(name, hp.Discrete(domain[1])))
        elif kind == "int":
            params.append(hp.HParam(name, hp.IntInterval(int(domain[1]), int(domain[2]))))
        else:
            params.append(hp.HParam(name, hp.RealInterval(float(domain[1]), float(domain[2]))))
    return hp.hparams_config_pb(params, [hp.Metric(tag, description=text)
                                         for tag, text in metrics])


def session_start_summary(hparams: dict[str, Any], group: str, start_time: float
                          ) -> summary_pb2.Summary:
    """A trial's HParams session: its hyperparameter values."""
    return hp.hparams_pb(hparams, trial_id=group, start_time_secs=start_time)


def session_end_summary(success: bool, end_time: float) -> summary_pb2.Summary:
    """The end of a session, with TensorBoard's own status (success or failure)."""
    status = api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status,
                                                        end_time_secs=end_time))
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG,
                      metadata=metadata.create_summary_metadata(data),
                      tensor=metadata.NULL_TENSOR)
    return summary


# ---------------------------------------------------------------------------------------------
# Reading back


@dataclass
class RunContents:
    """What a run folder already holds: per tag the last step and value; HParams markers."""

    last_step: dict[str, int] = field(default_factory=dict)
    last_value: dict[str, float] = field(default_factory=dict)
    first_wall_time: float | None = None
    session_group: str | None = None
    session_ended: bool = False
    has_config: bool = False

    def step(self, tag: str, default: int = -1) -> int:
        return self.last_step.get(tag, default)


def read_run(logdir: str | Path) -> RunContents:
    """Read every event file directly in ``logdir`` (not sub-folders) with TensorBoard's own
    loader. A file cut short by a crash ends at its last whole record."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    contents = RunContents()
    for path in sorted(Path(logdir).glob(EVENTS_PREFIX + "*")):
        for event in EventFileLoader(str(path)).Load():
            if not event.HasField("summary"):
                continue
            if contents.first_wall_time is None or event.wall_time < contents.first_wall_time:
                contents.first_wall_time = event.wall_time
            for value in event.summary.value:
                _read_value(contents, value, event.step)
    return contents


def _read_value(contents: RunContents, value, step: int) -> None:
    tag = value.tag
    if step >= contents.last_step.get(tag, -1):
        contents.last_step[tag] = step
        number = _scalar(value)
        if number is not None:
            contents.last_value[tag] = number
    if tag == metadata.SESSION_START_INFO_TAG:
        data = metadata.parse_session_start_info_plugin_data(
            value.metadata.plugin_data.content)
        contents.session_group = data.group_name
    elif tag == metadata.SESSION_END_INFO_TAG:
        contents.session_ended = True
    elif tag == metadata.EXPERIMENT_TAG:
        contents.has_config = True


def _scalar(value) -> float | None:
    """The number in a scalar summary value (loaded events store scalars as tensors)."""
    if value.HasField("simple_value"):
        return value.simple_value
    if value.HasField("tensor") and value.tensor.float_val:
        return value.tensor.float_val[0]
    if value.HasField("tensor") and value.tensor.double_val:
        return value.tensor.double_val[0]
    if value.HasField("tensor") and value.tensor.tensor_content:
        import numpy as np

        array = np.frombuffer(value.tensor.tensor_content, dtype=np.float32)
        return float(array[0]) if array.size else None
    return None


def is_finite(value: Any) -> bool:
    """True for a real number that is not NaN or infinite (bools are not metrics)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
