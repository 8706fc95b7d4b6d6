"""The ``dlci`` verbs of the instructor tools (entry-point group ``dlci.commands``): argument
parsing and printing only; the work is in the other packages."""
