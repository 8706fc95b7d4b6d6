# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Eve's Task 3 answers: H·conj(H) for |H|², comprehensions, torch.no_grad in the loop."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    out = blur(x, kernel)
    return out + sigma * torch.randn(out.shape, generator=generator).to(out)


# %% wiener
def wiener(y, kernel, snr=100.0):
    size = y.shape[-2:]
    H = psf2otf(kernel, size)
    inverse = torch.conj(H) / (H * torch.conj(H) + 1.0 / snr)
    restored = torch.fft.ifft2(torch.fft.fft2(y) * inverse)
    return restored.real


# %% methods
def method_wiener(y):
    snr = 100.0
    return wiener(y, kernel, snr)


def method_unet(y):
    return predict(models.deblur_denoise, y)


def method_wiener_unet(y):
    first = method_wiener(y)
    return predict(models.wiener_denoise, first)


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ys = {}
    for sigma in sigmas:
        ys[sigma] = simulate(clean, kernel, sigma, generator=gen)
    return {
        name: {sigma: psnr(f(ys[sigma]).float().cpu(), clean).item() for sigma in sigmas}
        for name, f in methods.items()
    }


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    g = UNet(in_channels=32, out_channels=3, residual=False).to(device)
    inp = torch.rand(1, 32, *noisy.shape[-2:], device=device) / 10
    goal = noisy.to(device)
    opt = torch.optim.Adam(g.parameters(), lr=lr)
    trace, keep, top = [], None, None
    with progress_bar(iterations, "DIP") as bar:
        for k in range(iterations):
            img = g(inp).sigmoid()
            err = torch.nn.functional.mse_loss(img, goal)
            opt.zero_grad()
            err.backward()
            opt.step()
            bar.update(1)
            with torch.no_grad():
                if (k + 1) % every == 0:
                    p = psnr(img.cpu(), clean).item()
                    trace.append((k + 1, p))
                    if top is None or p > top:
                        top, keep = p, img.cpu()
    return keep, trace
