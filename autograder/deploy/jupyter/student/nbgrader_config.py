"""nbgrader settings for students (the student image's /etc/jupyter/nbgrader_config.py).

The shared exchange is where released assignments, submissions and feedback travel; every
single-user server mounts it at the same path. Override with NBGRADER_EXCHANGE (the local test
hub points it at a temporary folder).
"""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("DLCI_COURSE_ID", "dlci")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
