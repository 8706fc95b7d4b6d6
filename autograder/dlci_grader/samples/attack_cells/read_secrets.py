import glob
import importlib.util
import os
from pathlib import Path

_grader = importlib.util.find_spec("dlci_grader")
_package = Path(_grader.origin).parent if _grader else Path("/nonexistent")
_kit = Path(importlib.util.find_spec("starter").origin).parents[1]
_attempt(
    "read the hidden tests in the course's source notebook",
    lambda: open(
        "../../../source/task1_backprop_inpainting/task1_backprop_inpainting.ipynb"
    ).read(100),
)
_attempt(
    "list the course's source folder",
    lambda: glob.glob("../../../source/*/*.ipynb") or os.listdir("../../../source"),
)
_attempt("read the grader's gradebook", lambda: open("../../../gradebook.db", "rb").read(100))
_attempt(
    "read the grader's checks",
    lambda: (_package / "tasks" / "task1" / "checks.py").read_text()[:100],
)
_attempt(
    "read the grader's verifier", lambda: (_package / "verdicts" / "judging.py").read_text()[:100],
)
_attempt(
    "read the kit's solutions",
    lambda: (_kit / "solutions" / "task1_backprop_inpainting.ipynb").read_text()[:100],
)
_attempt(
    "list the instructor's home",
    lambda: os.listdir(os.path.expanduser("~" + os.environ.get("SUDO_USER", "root"))),
)
print("cwd", os.getcwd())
_attempt("list the grading run's folder (other students)", lambda: os.listdir("../../../.."))
_attempt("list the folder above it", lambda: os.listdir("../../../../.."))
