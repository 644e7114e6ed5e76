"""One aggregated TensorBoard view of a whole experiment: per-trial curves, an HParams
session per trial, experiment-level curves; written live by a Ray Tune callback
(:mod:`.callback`), rebuildable from a run folder (:mod:`.rebuild`), served by
``raytuner tensorboard`` (:mod:`.server`). :mod:`.aggregator` writes it without Ray,
:mod:`.layout` names its runs and tags, :mod:`.events` reads and writes event files."""

from raytuner._lazy import exports

# Ray and TensorBoard's server load only when used: `raytuner validate` stays fast.
__getattr__, __dir__, __all__ = exports(__name__, {
    "Aggregator": "aggregator", "TensorBoardCallback": "callback", "rebuild": "rebuild",
    "serve": "server",
})
