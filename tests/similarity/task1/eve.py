# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, F)
"""Eve's Task 1 answers: outer products, torch.where, and torch.nn.grad for the convolution."""


# %% linear_function
class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        batch = x.shape[0]
        grad_input = grad_output @ weight
        # dL/dW is a sum of one outer product per example
        grad_weight = sum(torch.outer(grad_output[m], x[m]) for m in range(batch))
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
        grad_input = grad_output.masked_fill(g <= 0, 0.0)
        return grad_input


# %% analytic_gradients
def analytic_gradients(y_hat, y, W3, g2, W2, g1, x):
    back = (y_hat - y).mm(W3)
    back = torch.where(g2 > 0, back, torch.zeros_like(back))
    back = back.mm(W2)
    back = torch.where(g1 > 0, back, torch.zeros_like(back))
    grad_b1 = back.sum(0)
    grad_W1 = back.t().mm(x)
    return grad_W1, grad_b1


# %% sgd_step
def sgd_step(parameters, lr):
    with torch.no_grad():
        for p in parameters:
            if p.grad is not None:
                p -= lr * p.grad


# %% conv2d_function
class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        options = dict(stride=ctx.stride, padding=ctx.padding)
        grad_input = torch.nn.grad.conv2d_input(x.shape, weight, grad_output, **options)
        grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad_output, **options)
        grad_bias = grad_output.sum(dim=(0, 2, 3))
        return grad_input, grad_weight, grad_bias, None, None
