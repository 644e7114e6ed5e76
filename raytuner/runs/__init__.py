"""Runs of an experiment: building the Tuner, run and resume, the run folder and its file
names, storage, the live view, Ray's output, the user's modules, Ctrl-C, the
reproducibility record and smoke mode.

(Named ``runs``, not ``run``: ``raytuner.run`` is the public function, and importing a
subpackage of that name would replace it on the ``raytuner`` module.)

- :mod:`~raytuner.runs.launch`: :func:`run`, :func:`resume`, :class:`RunResult`;
- :mod:`~raytuner.runs.tuner`: the Ray Tune experiment (searcher, scheduler, callbacks);
- :mod:`~raytuner.runs.folder`: the names of a run folder's files, its saved experiment;
- :mod:`~raytuner.runs.rundir`: creating a run folder, and finding the one to resume;
- :mod:`~raytuner.runs.storage`: local folders and storage URIs (through a local mirror);
- :mod:`.display` (live view or event lines), :mod:`.quiet` (Ray's output),
  :mod:`.usercode`, :mod:`.interrupt`, :mod:`.repro`, :mod:`.smoke`.
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "run": "launch", "resume": "launch", "RunResult": "launch",
    "load_run_experiment": "folder", "smoke_experiment": "smoke",
})
