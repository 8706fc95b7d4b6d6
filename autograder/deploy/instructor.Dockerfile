# syntax=docker/dockerfile:1
# The instructor image: the student image plus the autograder (dlci_grader, whose checks the
# hidden tests import), the nbgrader source notebooks in solutions/, and formgrader.
# Give it to instructors only (values.yaml: the "instructor" profile, instructors group).
#
# Build from the repository root, after the student image:
#   docker build -f autograder/deploy/instructor.Dockerfile \
#       --build-arg STUDENT_IMAGE=dlci-student:0.1.0 -t dlci-instructor:0.1.0 .
ARG STUDENT_IMAGE=dlci-student:0.1.0
FROM ${STUDENT_IMAGE}

USER root
COPY autograder/deploy/constraints.txt /tmp/dlci/constraints.txt
COPY autograder/pyproject.toml /tmp/dlci/autograder/
COPY autograder/dlci_grader/ /tmp/dlci/autograder/dlci_grader/
RUN pip install --no-cache-dir --constraint /tmp/dlci/constraints.txt /tmp/dlci/autograder \
    && rm -rf /tmp/dlci && fix-permissions "${CONDA_DIR}"

# The source notebooks (solutions, hidden tests): copy them into ~/course/source/<task>/ to
# release, see README.md.
COPY solutions/*.ipynb /opt/dlci/solutions/

COPY autograder/deploy/jupyter/instructor/ /etc/dlci/jupyter-instructor/
ENV JUPYTER_CONFIG_PATH=/etc/dlci/jupyter-instructor \
    DLCI_COURSE_ROOT=/home/jovyan/course \
    DLCI_SOLUTIONS=/opt/dlci/solutions

USER ${NB_UID}
