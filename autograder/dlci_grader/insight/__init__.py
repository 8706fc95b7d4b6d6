"""After the grade: what the class got right and wrong
(:mod:`~dlci_grader.insight.class_report`)."""
