"""Instructor tools for the dlci course kit (never shipped to students).

Its folders are its architecture:

- ``commands/``: the ``dlci`` verbs (release, grade, feedback, sample-class, demo): arguments
  and printing only.
- ``run/``: a class run: intake, the executor seam and its local executor, the one-notebook
  worker, the one result model, the report.
- ``nbgrader/``: the adapter to nbgrader: course folders, their config, the gradebook,
  execution, release, feedback.
- ``isolation/``: rlimits, the pids cgroup, the Landlock sandbox of the student's kernel.
- ``verdicts/``: the contract between tasks' checks and the grader, secret inputs, judging.
- ``kernel/``: all of the grader the student's kernel may import (and the sandbox lets it read).
- ``tasks/``: the registry and one folder per task (its checks and sample variants).
- ``samples/``: the sample class and the adversarial suite.

The student's kernel may read this file; keep it free of anything but this text and the version.
"""

__version__ = "0.1.0"
