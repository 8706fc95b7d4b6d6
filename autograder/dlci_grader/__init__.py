"""Instructor tools for the dlci course kit (never shipped to students).

- :mod:`dlci_grader.release`: ``dlci release``, student notebooks from ``solutions/`` via nbgrader.
- :mod:`dlci_grader.sample_class`: ``dlci sample-class``, generated submissions with expected scores.
- :mod:`dlci_grader.grade`: ``dlci grade``, a class autograded in parallel isolated workers.
- :mod:`dlci_grader.feedback`: ``dlci feedback``, HTML feedback without the hidden tests.
- :mod:`dlci_grader.tasks`, :mod:`~dlci_grader.intake`, :mod:`~dlci_grader.worker`,
  :mod:`~dlci_grader.limits`, :mod:`~dlci_grader.execute`, :mod:`~dlci_grader.course`,
  :mod:`~dlci_grader.report`: the pieces of a grading run.
- :mod:`dlci_grader.nbgrader_course`: a temporary nbgrader course directory driven from Python.
- :mod:`dlci_grader.variants`: sample submissions (right and deliberately wrong) per task.
- :mod:`dlci_grader.checks`: the hidden tests' check functions, one module per task.
- :mod:`dlci_grader.reference_task3`: Task 3's reference Wiener deconvolution and methods table
  (the grader's references; kept out of the student package).
- :mod:`dlci_grader.demo`: ``dlci demo``, the kit's imaging demo (the first half of ``make demo``).
- :mod:`dlci_grader.train_pretrained`: the script that trained Task 3's shipped U-Nets.
"""

__version__ = "0.1.0"
