# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Dan's Task 1 answers: needs_input_grad, a loop over the layers, rows-times-columns unfold."""


# %% linear_function
class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output @ weight
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.transpose(0, 1) @ x
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(dim=0)
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
        grad_input = grad_output * (g > 0).float()
        return grad_input


# %% analytic_gradients
def analytic_gradients(y_hat, y, W3, g2, W2, g1, x):
    delta = y_hat - y
    for W, g in ((W3, g2), (W2, g1)):
        delta = (delta @ W).masked_fill(g <= 0, 0)
    grad_W1 = delta.T @ x
    grad_b1 = delta.sum(dim=0)
    return grad_W1, grad_b1


# %% sgd_step
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            p.copy_(p - lr * p.grad)


# %% conv2d_function
class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        kernel_size = weight.shape[2:]
        x_cols = F.unfold(x, kernel_size, padding=padding, stride=stride).transpose(1, 2)
        w_rows = weight.reshape(weight.shape[0], -1).t()  # (C*kh*kw, O)
        y = (x_cols @ w_rows + bias).transpose(1, 2)  # (N, O, L)
        out_h = (x.shape[-2] + 2 * padding - kernel_size[0]) // stride + 1
        out_w = (x.shape[-1] + 2 * padding - kernel_size[1]) // stride + 1
        ctx.save_for_backward(x_cols, w_rows)
        ctx.extra = (x.shape, weight.shape, stride, padding)
        return y.reshape(x.shape[0], weight.shape[0], out_h, out_w)

    @staticmethod
    def backward(ctx, grad_output):
        x_cols, w_rows = ctx.saved_tensors
        x_shape, w_shape, stride, padding = ctx.extra
        dy = grad_output.flatten(start_dim=2).transpose(1, 2)  # (N, L, O)
        grad_bias = dy.sum(dim=(0, 1))
        grad_weight = (x_cols.transpose(1, 2) @ dy).sum(dim=0).t().reshape(w_shape)
        dx_cols = (dy @ w_rows.t()).transpose(1, 2)
        grad_input = F.fold(dx_cols, x_shape[-2:], w_shape[2:], padding=padding, stride=stride)
        return grad_input, grad_weight, grad_bias, None, None
