"""Keeping the student's kernel in bounds: rlimits and the pids cgroup
(:mod:`~dlci_grader.isolation.limits`), the Landlock sandbox
(:mod:`~dlci_grader.isolation.sandbox`)."""
