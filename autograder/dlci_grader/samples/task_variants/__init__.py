"""Each task's sample variants, one module per task key (``task1.py``: ``VARIANTS``, name ->
:class:`~dlci_grader.samples.variants.Variant`): the sample class's submissions and the cells each
must fail. Off the grading path: grading never imports this folder
(:func:`dlci_grader.samples.variants.task_variants` does)."""
