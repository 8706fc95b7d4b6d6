"""Instructor tools for the dlci course kit (never shipped to students).

- :mod:`dlci_grader.release`: ``dlci release``, student notebooks from ``solutions/`` via nbgrader.
- :mod:`dlci_grader.nbgrader_course`: a temporary nbgrader course directory driven from Python.
- :mod:`dlci_grader.grade`: autograde submissions with nbgrader and read the scores.
- :mod:`dlci_grader.variants`: sample submissions (right and deliberately wrong) per task.
- :mod:`dlci_grader.checks`: the hidden tests' check functions, one module per task.
"""

__version__ = "0.1.0"
