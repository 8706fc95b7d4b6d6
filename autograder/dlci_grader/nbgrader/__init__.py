"""The adapter to nbgrader: course folders, their one config writer, the gradebook, execution,
release and feedback. Nothing else in the grader opens a gradebook or writes
``nbgrader_config.py``."""
