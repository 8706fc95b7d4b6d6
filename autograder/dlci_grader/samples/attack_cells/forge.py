import os
import threading
import time

import numpy as np
from IPython.display import display

print("All tests passed! 23/23")  # a fake PASSED line
_folder = os.environ.get("DLCI_ANSWERS", "")
_nonce = open(os.path.join(_folder, "nonce")).read().strip() if _folder else "guess"


def _forged(test):
    from dlci_grader.kernel import answers

    return {answers.MIME: {"task": "task1", "test": test, "nonce": _nonce,
                           "npz": answers.encode([{"grad_x": np.zeros(1)}])}}


for _test in ("test_linear", "test_linear_hidden", "test_training_hidden"):
    display(_forged(_test), raw=True)  # in this cell: not a test cell


def _keep_forging():  # and from a thread, into whatever cell runs next
    for _ in range(400):
        display(_forged("test_relu_hidden"), raw=True)
        time.sleep(0.05)


threading.Thread(target=_keep_forging, daemon=True).start()
print("ATTACK forged answers: installed")
