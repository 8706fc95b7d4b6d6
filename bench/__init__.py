"""Benchmarks of the kit (``make bench``; not part of ``make test``).

Each ``bench/bench_<topic>.py`` module exposes ``run(data_root) -> list[dict]``: one dict per
measured case, plain numbers and strings. ``python -m bench`` runs them all and prints one
markdown table per module; each module also runs on its own (``python -m bench.bench_<topic>``).
"""
