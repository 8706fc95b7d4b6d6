"""Instructor tools for the dlci course kit (never shipped to students).

Its folders are its architecture, and its layers, top to bottom (a module imports only its own
folder and the folders below it; ``tools/check_layers.py`` keeps it so, and
docs/maintainers/architecture.md follows one verdict through them):

- ``commands/``: the ``dlci`` verbs (release, grade, feedback, sample-class, export, gradescope,
  demo, report): arguments and printing only.
- ``gradescope/``: the Gradescope zip, its runner and results; ``lms.py``: Canvas and Moodle
  gradebook exports; ``samples/``: the sample class, each task's sample variants and the
  adversarial suite; ``offline/``: ``dlci demo``'s imaging pipeline, the false-pass study and
  the U-Net training script; ``insight/``: after the grade, the class report.
- ``run/``: a class run: intake, the job, the executor seam and its local and Dask executors, the
  one-notebook worker, the report.
- ``nbgrader/``: the adapter to nbgrader: course folders, a task's template, their config, the
  gradebook, execution, release, feedback.
- ``ledger.py``: the course's ledger: done markers, recorded results, template digests.
- ``verdicts/``: secret inputs, judging outside the kernel, the definitions-alone run, flags,
  the one result model.
- ``kernel/``: all of the grader the student's kernel may import (and the sandbox lets it read).
- ``tasks/``: the registry, the contract between a task's checks and the grader, and one folder
  per task (what grading it needs).
- ``isolation/``: rlimits, the pids cgroup, the Landlock sandbox of the student's kernel;
  ``files.py``: atomic writes.

The student's kernel may read this file; keep it free of anything but this text and the version.
"""

__version__ = "0.1.0"
