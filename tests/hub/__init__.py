"""Helpers for the JupyterHub deployment tests (tests/test_hub_*.py).

- :mod:`hub.prerequisites`: JupyterHub, configurable-http-proxy, Chromium, Playwright; installed
  from the package registries when missing, or a skip that says why.
- :mod:`hub.unix_users`: real Unix users for the course, removed afterwards.
- :mod:`hub.local_hub`: a real JupyterHub on loopback from autograder/deploy/jupyterhub_config.py.
- :mod:`hub.instructor`: the instructor's release and grading, run in the instructor's account.
- :mod:`hub.student`: a student's assignment list calls and notebook edits, through the hub.
"""
