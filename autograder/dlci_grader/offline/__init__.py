"""Pipelines an instructor runs by hand about a task, off the grading path (grading never imports
this folder):

- :mod:`~dlci_grader.offline.demo`: the imaging pipeline ``dlci demo`` runs (Wiener and DnCNN);
- :mod:`~dlci_grader.offline.false_pass`: the false-pass study of Task 1's formula tests;
- :mod:`~dlci_grader.offline.train_pretrained`: the training of Task 3's pretrained U-Nets.
"""
