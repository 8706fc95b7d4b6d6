"""Gradescope: one autograder zip per task that grades a submission exactly as ``dlci grade`` does.

- :mod:`~dlci_grader.gradescope.build`: ``dlci gradescope build`` writes the zip (``setup.sh``,
  ``run_autograder``, the kit's source, the task's course template, ``dlci_gradescope.json``).
- :mod:`~dlci_grader.gradescope.run`: what ``run_autograder`` calls on Gradescope: the
  one-notebook worker (:func:`dlci_grader.run.worker.run_job`: sandboxed kernel, secret inputs,
  verdicts outside the kernel) in a child process, as an unprivileged user when run as root.
- :mod:`~dlci_grader.gradescope.results`: the worker's result as Gradescope's ``results.json``
  (one test per autograded cell), always written atomically, also when grading fails.

Built on Gradescope's published autograder specification, not on otter-grader's runner: otter
executes the submission in a kernel it starts itself, next to its tests, and reads the scores
back by pickle; its plugins run only before and after that execution and cannot replace it.
"""
