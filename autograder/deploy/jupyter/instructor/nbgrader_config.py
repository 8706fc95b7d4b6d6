"""nbgrader settings for instructors (the instructor image's /etc/jupyter/nbgrader_config.py).

Same course id and exchange as the students, plus the course directory (source/, release/,
submitted/, autograded/, feedback/, gradebook.db) on the instructor's persistent home.
Override with DLCI_COURSE_ROOT.

The course's grades come from the kit's trusted grader (`dlci grade`, which grades
~/course/submitted into this course's gradebook): plain `nbgrader autograde` and formgrader's
autograde button, which would run the tests inside the student's kernel, are refused with a
message saying so, before they change a file. Feedback (the command or formgrader's button)
hides the hidden tests' code. Both settings are the kit's own (dlci_grader.nbgrader.config).
"""

import os

from dlci_grader.nbgrader.config import FEEDBACK_PREPROCESSORS, REFUSE_IN_KERNEL

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("DLCI_COURSE_ID", "dlci")
c.CourseDirectory.root = os.environ.get("DLCI_COURSE_ROOT", os.path.expanduser("~/course"))
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Autograde.exporter_class = REFUSE_IN_KERNEL
c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
