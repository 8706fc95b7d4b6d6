# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Ben's Task 1 answers: tensor methods (mm, t, sub_), einsum for the convolution."""


# %% linear_function
class LinearFunction(torch.autograd.Function):
    """g = x Wᵀ + b for a batch of rows: x (N, in), weight (out, in), bias (out,) -> g (N, out)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        """grad_output = dL/dg (N, out) -> dL/dx (N, in), dL/dW (out, in), dL/db (out,)."""
        x, weight = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        grad_weight = grad_output.t().mm(x)
        grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


# %% relu_function
class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g):
        ctx.save_for_backward(g)
        return g.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (g,) = ctx.saved_tensors
        grad_input = torch.where(g > 0, grad_output, torch.zeros_like(grad_output))
        return grad_input


# %% analytic_gradients
def analytic_gradients(y_hat, y, W3, g2, W2, g1, x):
    relu2 = (g2 > 0).to(x.dtype)
    relu1 = (g1 > 0).to(x.dtype)
    upstream = torch.matmul(y_hat - y, W3) * relu2
    upstream = torch.matmul(upstream, W2) * relu1
    grad_W1 = torch.matmul(upstream.t(), x)
    grad_b1 = torch.sum(upstream, dim=0)
    return grad_W1, grad_b1


# %% sgd_step
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p.sub_(lr * p.grad)


# %% conv2d_function
class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        batch = x.shape[0]
        out_ch, in_ch, kh, kw = weight.shape
        rows = (x.shape[2] + 2 * padding - kh) // stride + 1
        cols = (x.shape[3] + 2 * padding - kw) // stride + 1
        unfolded = F.unfold(x, (kh, kw), padding=padding, stride=stride)
        result = torch.einsum("ok,nkl->nol", weight.flatten(1), unfolded)
        result = result + bias[None, :, None]
        ctx.save_for_backward(unfolded, weight)
        ctx.shape_info = (x.shape[2], x.shape[3], stride, padding)
        return result.view(batch, out_ch, rows, cols)

    @staticmethod
    def backward(ctx, grad_output):
        unfolded, weight = ctx.saved_tensors
        height, width, stride, padding = ctx.shape_info
        kh, kw = weight.shape[-2:]
        go = grad_output.flatten(2)
        grad_bias = go.sum((0, 2))
        grad_weight = torch.einsum("nol,nkl->ok", go, unfolded).view(weight.shape)
        grad_unf = torch.einsum("ok,nol->nkl", weight.flatten(1), go)
        grad_input = F.fold(
            grad_unf, (height, width), kernel_size=(kh, kw), padding=padding, stride=stride
        )
        return grad_input, grad_weight, grad_bias, None, None
