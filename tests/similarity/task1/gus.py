# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Planted: Ben's answers (ben.py) with the variables renamed and independent statements
reordered, as a student hides a copy. Must be listed with Ben."""


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
        grad_weight = grad_output.t().mm(x)
        grad_input = grad_output.mm(weight)
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
    mask_1 = (g1 > 0).to(x.dtype)
    mask_2 = (g2 > 0).to(x.dtype)
    signal = torch.matmul(y_hat - y, W3) * mask_2
    signal = torch.matmul(signal, W2) * mask_1
    grad_b1 = torch.sum(signal, dim=0)
    grad_W1 = torch.matmul(signal.t(), x)
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
        n_out, n_in, k_h, k_w = weight.shape
        n_images = x.shape[0]
        out_w = (x.shape[3] + 2 * padding - k_w) // stride + 1
        out_h = (x.shape[2] + 2 * padding - k_h) // stride + 1
        patches = F.unfold(x, (k_h, k_w), padding=padding, stride=stride)
        ctx.save_for_backward(patches, weight)
        ctx.dims = (x.shape[2], x.shape[3], stride, padding)
        res = torch.einsum("ok,nkl->nol", weight.flatten(1), patches)
        res = res + bias[None, :, None]
        return res.view(n_images, n_out, out_h, out_w)

    @staticmethod
    def backward(ctx, grad_output):
        patches, weight = ctx.saved_tensors
        h, w, stride, padding = ctx.dims
        k_h, k_w = weight.shape[-2:]
        upstream = grad_output.flatten(2)
        grad_weight = torch.einsum("nol,nkl->ok", upstream, patches).view(weight.shape)
        grad_bias = upstream.sum((0, 2))
        grad_patches = torch.einsum("ok,nol->nkl", weight.flatten(1), upstream)
        grad_input = F.fold(
            grad_patches, (h, w), kernel_size=(k_h, k_w), padding=padding, stride=stride
        )
        return grad_input, grad_weight, grad_bias, None, None
