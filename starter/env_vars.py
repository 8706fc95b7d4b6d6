"""The environment variables the kit reads, each named once here.

- :data:`DATA_ENV_VAR` (``DLCI_DATA``): the course data root (:mod:`starter.data.root`).
- :data:`GRADING_ENV_VAR` (``DLCI_GRADING``): ``1`` in the kernel the grader or ``dlci check``
  starts; the kit's own functions then run a shortened experiment (:func:`grading_mode`, sizes in
  :mod:`starter.grading_budget`). A notebook never reads it.
- :data:`REQUIRE_DATA_ENV_VAR` (``DLCI_REQUIRE_DATA``): ``1`` makes the test suite fail, not
  skip, where the course data is missing (CI sets it).
- :data:`COURSE_ENV_VAR` (``DLCI_COURSE_ROOT``) and :data:`SOLUTIONS_ENV_VAR`
  (``DLCI_SOLUTIONS``): the instructor tools' default course folder and source notebooks (the
  hub's instructor image sets both: ``~/course`` and its copy of the kit's ``solutions/``).
"""

from __future__ import annotations

import os

DATA_ENV_VAR = "DLCI_DATA"
"""Environment variable naming the data root."""
GRADING_ENV_VAR = "DLCI_GRADING"
"""Set to ``1`` by the autograder (and by ``dlci check``): the kit's functions shorten the
experiment."""
REQUIRE_DATA_ENV_VAR = "DLCI_REQUIRE_DATA"
"""Set to ``1`` where the course data must be present (CI): tests fail instead of skipping."""
COURSE_ENV_VAR = "DLCI_COURSE_ROOT"
"""The nbgrader course folder the ``dlci`` instructor commands use by default."""
SOLUTIONS_ENV_VAR = "DLCI_SOLUTIONS"
"""The source notebooks' folder the ``dlci`` instructor commands use by default."""


def grading_mode() -> bool:
    """True when a notebook runs under the grader or ``dlci check`` (``DLCI_GRADING=1``)."""
    return os.environ.get(GRADING_ENV_VAR) == "1"
