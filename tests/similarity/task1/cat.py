# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Cat's Task 1 answers: einsum everywhere, a direct convolution over the kernel's taps."""


# %% linear_function
class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        # index names: n batch, o outputs, i inputs
        grad_input = torch.einsum("no,oi->ni", grad_output, weight)
        grad_weight = torch.einsum("no,ni->oi", grad_output, x)
        grad_bias = torch.einsum("no->o", grad_output)
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
        mask = (g > 0).to(grad_output.dtype)
        grad_input = grad_output * mask
        return grad_input


# %% analytic_gradients
def analytic_gradients(y_hat, y, W3, g2, W2, g1, x):
    d_out = y_hat - y
    d_g2 = torch.einsum("no,oj->nj", d_out, W3) * (g2 > 0)
    d_g1 = torch.einsum("nj,ji->ni", d_g2, W2) * (g1 > 0)
    grad_W1 = torch.einsum("ni,nd->id", d_g1, x)
    grad_b1 = torch.einsum("ni->i", d_g1)
    return grad_W1, grad_b1


# %% sgd_step
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p.add_(p.grad, alpha=-lr)


# %% conv2d_function
class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        N, C, H, W = x.shape
        Co, _, KH, KW = weight.shape
        xp = F.pad(x, (padding, padding, padding, padding))
        Ho = (H + 2 * padding - KH) // stride + 1
        Wo = (W + 2 * padding - KW) // stride + 1
        out = bias.view(1, Co, 1, 1).expand(N, Co, Ho, Wo).clone()
        for i in range(KH):
            for j in range(KW):
                window = xp[:, :, i : i + stride * Ho : stride, j : j + stride * Wo : stride]
                out += torch.einsum("nchw,oc->nohw", window, weight[:, :, i, j])
        ctx.save_for_backward(xp, weight)
        ctx.params = (stride, padding, H, W)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        xp, weight = ctx.saved_tensors
        stride, padding, H, W = ctx.params
        Co, C, KH, KW = weight.shape
        Ho, Wo = grad_output.shape[-2:]
        grad_xp = torch.zeros_like(xp)
        grad_weight = torch.zeros_like(weight)
        for i in range(KH):
            for j in range(KW):
                rows = slice(i, i + stride * Ho, stride)
                cols = slice(j, j + stride * Wo, stride)
                window = xp[:, :, rows, cols]
                grad_weight[:, :, i, j] = torch.einsum("nohw,nchw->oc", grad_output, window)
                grad_xp[:, :, rows, cols] += torch.einsum(
                    "nohw,oc->nchw", grad_output, weight[:, :, i, j]
                )
        grad_input = grad_xp[:, :, padding : padding + H, padding : padding + W]
        grad_bias = grad_output.sum(dim=(0, 2, 3))
        return grad_input, grad_weight, grad_bias, None, None
