"""One trial: the Ray adapter and the plain-PyTorch training behind it.

- :mod:`~raytuner.trial.trainable`: the Ray adapter (the only Ray import on the trial side);
- :mod:`~raytuner.trial.loop`: :class:`Trainer`, the training loop; :mod:`.crossval` its
  k-fold variant;
- :mod:`.checkpoint`, :mod:`.recovery`: checkpoint files and resuming from them safely;
- :mod:`.optim`, :mod:`.schedules`: optimizers and LR schedules (registries);
- :mod:`.augment`, :mod:`.accel`, :mod:`.stopping`, :mod:`.divergence`, :mod:`.guard`: the
  rest of the recipe; :mod:`.metrics` computes the metrics, :mod:`.costs` measures the
  model's costs (params, size, latency, FLOPs), :mod:`.status` names how a trial ended.
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "Trainer": "loop", "fit": "loop", "CrossValTrainer": "crossval", "make_trainer": "crossval",
    "run_trial": "trainable", "make_trainable": "trainable", "OPTIMIZERS": "optim",
    "LR_SCHEDULES": "schedules", "trial_status": "status", "evaluate": "metrics",
    "save_state": "checkpoint", "load_state": "checkpoint",
})
