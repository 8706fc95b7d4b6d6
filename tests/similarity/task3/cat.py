# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Cat's Task 3 answers: her own noise, |H|² from real and imaginary parts, a dict of scores."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return blur(x, kernel) + sigma * noise.to(x.device)


# %% wiener
def wiener(y, kernel, snr=100.0):
    otf = psf2otf(kernel, tuple(y.shape[-2:]))
    power = otf.real**2 + otf.imag**2
    filt = otf.conj() / (power + 1.0 / snr)
    return torch.fft.ifft2(filt * torch.fft.fft2(y)).real


# %% methods
def method_wiener(y):
    return wiener(y, kernel)  # the default SNR is 100


def method_unet(y):
    return predict(models.deblur_denoise, y)


def method_wiener_unet(y):
    return predict(models.wiener_denoise, method_wiener(y))


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    rng = torch.Generator().manual_seed(seed)
    scores = {key: {} for key in methods}
    for sigma in sigmas:
        noisy = simulate(clean, kernel, sigma, generator=rng)
        with torch.no_grad():
            for key in methods:
                restored = methods[key](noisy).to("cpu", torch.float32)
                scores[key][sigma] = psnr(restored, clean).mean().item()
    return scores


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    unet = UNet(in_channels=32, out_channels=3, residual=False).to(device)
    height, width = noisy.shape[-2:]
    z = torch.rand(1, 32, height, width, device=device).mul_(0.1)
    y = noisy.to(device)
    adam = torch.optim.Adam(unet.parameters(), lr=lr)
    log = []
    best = (float("-inf"), None)
    with progress_bar(iterations, "DIP") as bar:
        for t in range(1, iterations + 1):
            adam.zero_grad()
            x_hat = torch.sigmoid(unet(z))
            torch.nn.functional.mse_loss(x_hat, y).backward()
            adam.step()
            bar.update(1)
            if t % every:
                continue
            quality = psnr(x_hat.detach().cpu(), clean).item()
            log.append((t, quality))
            best = max(best, (quality, x_hat.detach().cpu()), key=lambda pair: pair[0])
    return best[1], log
