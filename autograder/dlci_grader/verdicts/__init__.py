"""Verdicts outside the student's process: secret inputs and judging
(:mod:`~dlci_grader.verdicts.judging`) against a task's checks (their contract:
:mod:`~dlci_grader.tasks.contract`), the run on the definitions alone
(:mod:`~dlci_grader.verdicts.rebuild`), the instructor's flags (:mod:`~dlci_grader.verdicts.flags`),
and the one result model every verdict ends in (:mod:`~dlci_grader.verdicts.results`)."""
