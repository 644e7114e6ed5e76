"""raytuner benchmarks (not part of the installed package): ``python -m benchmarks NAME``.

Each benchmark module has ``run(opts) -> Report``; results land in ``benchmarks/results/`` as a
markdown table plus PNG plots. See ``benchmarks/RESULTS.md`` for the recorded figures.
"""
