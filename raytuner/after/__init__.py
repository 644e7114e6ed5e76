"""After the search: the summary of a run folder, loading a trial's model, export,
compression and the report.

- :mod:`~raytuner.after.summary`: per-trial records, the best trial, ``summary.json``;
- :mod:`~raytuner.after.loading`: a trial's model at its best checkpoint, and its evaluation;
- :mod:`~raytuner.after.export`: ``raytuner export`` and :func:`load_model`;
- :mod:`~raytuner.after.compress`: ``raytuner compress``; :mod:`~raytuner.after.report`:
  ``raytuner report``; :mod:`~raytuner.after.problems`: what went wrong, in a few lines.
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "read_summary": "summary", "build_summary": "summary", "load_trial": "loading",
    "export_model": "export", "load_model": "export", "compress_run": "compress",
    "build_report": "report",
})
