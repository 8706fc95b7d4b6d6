# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Ada's Task 1 answers: torch.matmul and explicit intermediate names."""


# %% linear_function
class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_input = torch.matmul(grad_output, weight)
        grad_weight = torch.matmul(grad_output.t(), x)
        grad_bias = torch.sum(grad_output, dim=0)
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
        grad_input = grad_output.clone()
        grad_input[g <= 0] = 0
        return grad_input


# %% analytic_gradients
def analytic_gradients(y_hat, y, W3, g2, W2, g1, x):
    err = y_hat - y  # dL/dy_hat
    dh2 = err @ W3
    dg2 = dh2 * (g2 > 0).float()
    dh1 = dg2 @ W2
    dg1 = dh1 * (g1 > 0).float()
    grad_W1 = dg1.T @ x
    grad_b1 = dg1.sum(0)
    return grad_W1, grad_b1


# %% sgd_step
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p -= lr * p.grad


# %% conv2d_function
class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        h_out = (h + 2 * padding - kh) // stride + 1
        w_out = (w + 2 * padding - kw) // stride + 1
        patches = F.unfold(x, kernel_size=(kh, kw), padding=padding, stride=stride)
        flat_w = weight.view(o, -1)
        out = torch.matmul(flat_w, patches) + bias.view(1, -1, 1)
        ctx.save_for_backward(x, weight, patches)
        ctx.conv_args = (stride, padding)
        return out.view(n, o, h_out, w_out)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight, patches = ctx.saved_tensors
        stride, padding = ctx.conv_args
        n, o = grad_output.shape[:2]
        kh, kw = weight.shape[2], weight.shape[3]
        g = grad_output.reshape(n, o, -1)
        grad_bias = g.sum(dim=(0, 2))
        grad_weight = torch.matmul(g, patches.transpose(1, 2)).sum(0).view_as(weight)
        grad_patches = torch.matmul(weight.view(o, -1).t(), g)
        size = x.shape[-2:]
        grad_input = F.fold(grad_patches, size, (kh, kw), padding=padding, stride=stride)
        return grad_input, grad_weight, grad_bias, None, None
