import os
import signal
import time

_children = []


def _fork_bomb():  # polite: every child sleeps, and all are killed below
    for _ in range(600):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        _children.append(pid)
    return f"{len(_children)} processes"


_attempt("start 600 processes", _fork_bomb)
print(f"started {len(_children)} before the cap")
for _pid in _children:
    os.kill(_pid, signal.SIGKILL)
    os.waitpid(_pid, 0)
