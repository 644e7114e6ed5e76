"""Reading an aggregated TensorBoard folder back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
from tensorboard.plugins.hparams import metadata
from tensorboard.util import tensor_util


def load(logdir: Path) -> pem.EventMultiplexer:
    """Every run under ``logdir``, loaded the way TensorBoard loads them."""
    multiplexer = pem.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return multiplexer


def scalars(multiplexer: pem.EventMultiplexer, run: str, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a scalar series, in file order (duplicates kept)."""
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in multiplexer.Tensors(run, tag)]


def all_series(multiplexer: pem.EventMultiplexer) -> dict[tuple[str, str], list[int]]:
    """Steps of every (run, tag) series."""
    out = {}
    for run, tags in multiplexer.Runs().items():
        for tag in tags["tensors"]:
            out[(run, tag)] = [e.step for e in multiplexer.Tensors(run, tag)]
    return out


def sessions(multiplexer: pem.EventMultiplexer) -> dict[str, dict[str, Any]]:
    """trial id (session group) -> {"run", "hparams", "ended"} for each HParams session."""
    out = {}
    for run in multiplexer.Runs():
        content = multiplexer.SummaryMetadata(run, metadata.SESSION_START_INFO_TAG) \
            if metadata.SESSION_START_INFO_TAG in multiplexer.Runs()[run]["tensors"] else None
        if content is None:
            continue
        start = metadata.parse_session_start_info_plugin_data(content.plugin_data.content)
        hparams = {k: (v.string_value or v.number_value or v.bool_value)
                   for k, v in start.hparams.items()}
        out[start.group_name] = {
            "run": run, "hparams": hparams,
            "ended": metadata.SESSION_END_INFO_TAG in multiplexer.Runs()[run]["tensors"]}
    return out


def experiment_config(multiplexer: pem.EventMultiplexer):
    """The HParams experiment proto (searched params with domains, metrics)."""
    for run, tags in multiplexer.Runs().items():
        if metadata.EXPERIMENT_TAG in tags["tensors"]:
            content = multiplexer.SummaryMetadata(run, metadata.EXPERIMENT_TAG)
            return metadata.parse_experiment_plugin_data(content.plugin_data.content)
    return None


def reported_by_epoch(trial_dir: Path) -> dict[int, dict[str, Any]]:
    """A trial's results from Ray's result.json, one per epoch (the first, as reported)."""
    out: dict[int, dict[str, Any]] = {}
    for line in (trial_dir / "result.json").read_text().splitlines():
        result = json.loads(line)
        out.setdefault(int(result["epoch"]), result)
    return out
