# ruff: noqa: F821 - an answer cell reads the notebook's names (torch)
"""Planted: a helper passed around the class, pasted at the top of Cat's and Dan's sgd_step
cell (and called nowhere else): unusual code two otherwise independent submissions share."""

# %% sgd_step
_seen_updates = {"steps": 0, "largest": 0.0}


def _checked_step_size(tensor, lr, limit=1e3):
    """Stop with a readable message when a gradient has blown up; count the steps."""
    magnitude = float(tensor.grad.detach().abs().max()) * lr
    if not magnitude < limit:
        raise FloatingPointError(f"step of {magnitude:.3g} > {limit:g}: lower the learning rate")
    _seen_updates["steps"] += 1
    _seen_updates["largest"] = max(_seen_updates["largest"], magnitude)
    return magnitude
