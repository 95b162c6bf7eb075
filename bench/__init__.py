"""Benchmark of delete-org-bot in HTTP mode against an ack-only Bolt baseline.

Run ``.venv/bin/python -m bench`` from the project root (``--quick --load 5`` for a smoke
run); see ``bench/README.md`` and ``bench/run.py``.
"""
