"""nbgrader settings for students (the student image's /etc/jupyter/nbgrader_config.py).

The shared exchange is where released assignments, submissions and feedback travel; every
single-user server mounts it at the same path. Override with NBGRADER_EXCHANGE (the local test
hub points it at a temporary folder).

The Validate button (``nbgrader validate``) runs the whole notebook as the student would, with
the full experiment (no grading mode), so one cell may take minutes: nbgrader's default of 30 s
per cell would fail a correct Task 2 at its training cell. The slowest cell of each completed
notebook, measured on a 2-core machine like a hub pod (real data, no GPU;
``tests/test_student_walkthrough.py`` runs Validate under this file):

- Task 1: the training cell, 4 s;
- Task 2: the training cell (four DnCNNs, 2 epochs), about 6 minutes idle and 9 busy;
- Task 3: the table cell (two U-Nets on 100 images), about 1 minute idle and 3 busy.

:data:`CELL_TIMEOUT` fits the slowest, Task 2's, with room for a busy pod: twice its busy time.
"""

import os

CELL_TIMEOUT = 1200
"""Seconds one cell may run under Validate (nbgrader's default: 30)."""

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("DLCI_COURSE_ID", "dlci")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Execute.timeout = CELL_TIMEOUT
