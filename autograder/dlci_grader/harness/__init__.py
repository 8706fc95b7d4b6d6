"""What the test cells run in the student's kernel under the grader: the student's code on the
grader's inputs, the outputs handed back through :mod:`dlci_grader.answers`. One module per task.

Nothing here checks anything: verdicts are the grader's (:mod:`dlci_grader.verify`). These are
the only instructor modules the sandboxed kernel may read, besides :mod:`dlci_grader.answers`.
"""
