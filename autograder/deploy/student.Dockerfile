# syntax=docker/dockerfile:1
# The student single-user image: the kit's helper package `starter` with its tested dependency
# versions, nbgrader's assignment list (no formgrader), the release notebooks, and the course
# data path. Never solutions/, the autograder (dlci_grader) or hidden tests:
# student.Dockerfile.dockerignore lets only the files below into the build, and
# tests/test_hub_image.py checks that.
#
# Build from the repository root:
#   docker build -f autograder/deploy/student.Dockerfile -t dlci-student:0.1.0 .
# PyPI's torch wheels are CUDA builds (several GB). For a CPU-only hub, add PyTorch's CPU wheel
# index: --build-arg TORCH_INDEX_URL=<index URL>.
ARG BASE_IMAGE=quay.io/jupyter/minimal-notebook:python-3.11
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=""

COPY autograder/deploy/constraints.txt /tmp/dlci/constraints.txt
COPY pyproject.toml README.md LICENSE /tmp/dlci/kit/
COPY starter/ /tmp/dlci/kit/starter/
# The kit (starter and its run-time packages: no grader, no developers' tools) and nbgrader, for
# the Assignment List and Validate; JupyterLab comes with the base image.
RUN pip install --no-cache-dir ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        --constraint /tmp/dlci/constraints.txt /tmp/dlci/kit nbgrader \
    && rm -rf /tmp/dlci \
    && fix-permissions "${CONDA_DIR}" && fix-permissions "/home/${NB_USER}"

# Reference copies of the student notebooks; students get their own through the assignment
# list (nbgrader fetch), which copies them from the exchange into their home.
COPY notebooks/*.ipynb /opt/dlci/notebooks/

# Role config: nbgrader's exchange and course id, formgrader and "create assignment" off.
# JUPYTER_CONFIG_PATH ranks above the environment's own etc/jupyter, where nbgrader enables
# every extension. The local test hub (jupyterhub_config.py) uses the same folder.
COPY autograder/deploy/jupyter/student/ /etc/dlci/jupyter/
ENV JUPYTER_CONFIG_PATH=/etc/dlci/jupyter \
    NBGRADER_EXCHANGE=/srv/nbgrader/exchange \
    DLCI_COURSE_ID=dlci \
    DLCI_DATA=/srv/dlci-data

USER ${NB_UID}
WORKDIR /home/${NB_USER}
