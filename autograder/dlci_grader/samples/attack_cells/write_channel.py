import os

_folder = os.environ.get("DLCI_ANSWERS", "/nonexistent")
_attempt(
    "overwrite the grader's inputs",
    lambda: open(
        os.path.join(_folder, "cases", "task1", "test_linear_hidden.npz"), "wb",
    ).write(b"0"),
)
_attempt("overwrite the nonce", lambda: open(os.path.join(_folder, "nonce"), "w").write("0"))
_attempt("write the grader's gradebook", lambda: open("../../../gradebook.db", "ab").write(b"0"))
_attempt("write next to the course", lambda: open("../../../../../grades.csv", "w").write("x"))
