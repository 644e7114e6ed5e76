"""One aggregated TensorBoard view of a whole experiment: per-trial curves, an HParams
session per trial, experiment-level curves; written live by a Ray Tune callback, rebuildable
from a run folder, served by ``raytuner tensorboard``."""

from raytuner.tensorboard.aggregator import Aggregator
from raytuner.tensorboard.layout import TENSORBOARD_DIR

__all__ = ["Aggregator", "TENSORBOARD_DIR", "TensorBoardCallback", "rebuild", "serve"]


def __getattr__(name: str):
    # Ray and TensorBoard's server load only when used: `raytuner validate` stays fast.
    if name == "TensorBoardCallback":
        from raytuner.tensorboard.callback import TensorBoardCallback

        return TensorBoardCallback
    if name == "rebuild":
        from raytuner.tensorboard.rebuild import rebuild

        return rebuild
    if name == "serve":
        from raytuner.tensorboard.server import serve

        return serve
    raise AttributeError(name)
