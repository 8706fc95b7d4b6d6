# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Planted: Ben's answers (ben.py) with the variables renamed and independent statements
reordered, as a student hides a copy. Must be listed with Ben."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    """Measurements y = k ⊛ x + σ n of clean images x (N, 3, H, W) in [0, 1]."""
    smooth = blur(x, kernel)
    meas = add_noise(smooth, sigma, generator=generator)
    return meas


# %% wiener
def wiener(y, kernel, snr=100.0):
    Yf = torch.fft.fft2(y)
    Hf = psf2otf(kernel, y.shape[-2:])
    Xf = torch.conj(Hf) * Yf / (torch.abs(Hf) ** 2 + 1 / snr)
    return torch.real(torch.fft.ifft2(Xf))


# %% methods
def method_wiener(y):
    res = wiener(y, kernel, 100.0)
    return res


def method_unet(y):
    model = models.deblur_denoise
    return predict(model, y)


def method_wiener_unet(y):
    model = models.wiener_denoise
    deblurred = wiener(y, kernel, snr=100)
    return predict(model, deblurred)


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    rng = torch.Generator()
    rng.manual_seed(seed)
    ys = [simulate(clean, kernel, level, generator=rng) for level in sigmas]
    scores = {}
    for key, method in methods.items():
        scores[key] = {}
        for level, meas in zip(sigmas, ys, strict=True):
            guess = method(meas).detach().float().cpu()
            scores[key][level] = float(psnr(guess, clean))
    return scores


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    z = torch.rand(1, 32, *noisy.shape[2:], device=device) * 0.1
    net = UNet(in_channels=32, out_channels=3, residual=False).to(device)
    goal = noisy.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    top_img, top_psnr = None, -1e9
    hist = []
    with progress_bar(iterations, "DIP") as pbar:
        it = 0
        while it < iterations:
            it += 1
            out = net(z).sigmoid()
            loss = torch.nn.functional.mse_loss(out, goal)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            pbar.update()
            if it % every == 0:
                q = psnr(out.detach().cpu(), clean).item()
                hist.append((it, q))
                if q > top_psnr:
                    top_psnr, top_img = q, out.detach().cpu().clone()
    return top_img, hist
