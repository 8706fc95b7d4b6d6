"""All of the grader a student's kernel may import; the one folder of it the sandbox lets the
kernel read (:data:`dlci_grader.isolation.sandbox.KERNEL_PACKAGE`).

- :mod:`~dlci_grader.kernel.answers`: the channel: the grader's inputs in, the answers out.
- one module per task (``task1.py``, ...): what that task's test cells run, the student's code
  on the grader's inputs.

Nothing here checks anything: verdicts are the grader's (:mod:`dlci_grader.verdicts.judging`),
in its own process. Keep secrets out of this folder: a student's code can read all of it.
"""
