"""nbgrader settings for instructors (the instructor image's /etc/jupyter/nbgrader_config.py).

Same course id and exchange as the students, plus the course directory (source/, release/,
submitted/, autograded/, feedback/, gradebook.db) on the instructor's persistent home.
Override with DLCI_COURSE_ROOT.
"""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("DLCI_COURSE_ID", "dlci")
c.CourseDirectory.root = os.environ.get("DLCI_COURSE_ROOT", os.path.expanduser("~/course"))
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
