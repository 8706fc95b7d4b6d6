"""nbgrader settings for students (the student image's /etc/jupyter/nbgrader_config.py).

The shared exchange is where released assignments, submissions and feedback travel; every
single-user server mounts it at the same path. Override with NBGRADER_EXCHANGE (the local test
hub points it at a temporary folder).

The Validate button (``nbgrader validate``) runs the whole notebook as the student would, with
the full experiment (no grading mode), so one cell may take minutes: nbgrader's default of 30 s
per cell would fail a correct Task 2 at its training cell. The slowest cell of each completed
notebook, measured on the kit's 2-core machine like a hub pod (real data, no GPU, 2026-12-04;
``tests/test_student_walkthrough.py`` runs Validate under this file), nearly idle / with the two
cores shared by three other jobs:

- Task 1: the training cell, 4 s (whole notebook 10 s);
- Task 2: the training cell (four DnCNNs, 2 epochs), 502 s / 1,067 s (whole notebook 604 s /
  1,391 s);
- Task 3: the bonus cell (Deep Image Prior), 41 s / 818 s, and the table, 40 s / 192 s (whole
  notebook 90 s / 1,042 s).

:data:`CELL_TIMEOUT` fits the slowest cell measured, Task 2's training on the busy machine, with
room to spare (1.7 times it); a wrong notebook with an endless loop waits that long.
"""

import os

CELL_TIMEOUT = 1800
"""Seconds one cell may run under Validate (nbgrader's default: 30)."""

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("DLCI_COURSE_ID", "dlci")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Execute.timeout = CELL_TIMEOUT
