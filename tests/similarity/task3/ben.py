# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Ben's Task 3 answers: named steps, measurements drawn first, a while loop with the bar."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    """Measurements y = k ⊛ x + σ n of clean images x (N, 3, H, W) in [0, 1]."""
    blurred = blur(x, kernel)
    y = add_noise(blurred, sigma, generator=generator)
    return y


# %% wiener
def wiener(y, kernel, snr=100.0):
    H = psf2otf(kernel, y.shape[-2:])
    Y = torch.fft.fft2(y)
    X = torch.conj(H) * Y / (torch.abs(H) ** 2 + 1 / snr)
    return torch.real(torch.fft.ifft2(X))


# %% methods
def method_wiener(y):
    out = wiener(y, kernel, 100.0)
    return out


def method_unet(y):
    net = models.deblur_denoise
    return predict(net, y)


def method_wiener_unet(y):
    x_w = wiener(y, kernel, snr=100)
    net = models.wiener_denoise
    return predict(net, x_w)


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    measurements = [simulate(clean, kernel, s, generator=g) for s in sigmas]
    result = {}
    for name, fn in methods.items():
        result[name] = {}
        for s, y in zip(sigmas, measurements, strict=True):
            estimate = fn(y).detach().float().cpu()
            result[name][s] = float(psnr(estimate, clean))
    return result


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    model = UNet(in_channels=32, out_channels=3, residual=False).to(device)
    code = torch.rand(1, 32, *noisy.shape[2:], device=device) * 0.1
    target = noisy.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    best_out, best_val = None, -1e9
    with progress_bar(iterations, "DIP") as bar:
        step = 0
        while step < iterations:
            step += 1
            prediction = model(code).sigmoid()
            loss = torch.nn.functional.mse_loss(prediction, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update()
            if step % every == 0:
                val = psnr(prediction.detach().cpu(), clean).item()
                curve.append((step, val))
                if val > best_val:
                    best_val, best_out = val, prediction.detach().cpu().clone()
    return best_out, curve
