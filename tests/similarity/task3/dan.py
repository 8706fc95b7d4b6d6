# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Dan's Task 3 answers: keyword arguments, fftn over the last two axes, an explicit loop."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    y = blur(x, kernel)
    if sigma > 0:
        y = add_noise(y, sigma, generator=generator)
    return y


# %% wiener
def wiener(y, kernel, snr=100.0):
    h = psf2otf(kernel, y.shape[-2:])
    gain = h.conj() / (h.abs().pow(2) + snr**-1)
    spectrum = torch.fft.fftn(y, dim=(-2, -1)) * gain
    return torch.fft.ifftn(spectrum, dim=(-2, -1)).real


# %% methods
def method_wiener(y):
    return wiener(y=y, kernel=kernel, snr=100.0)


def method_unet(y):
    restored = predict(models.deblur_denoise, y)
    return restored


def method_wiener_unet(y):
    deconvolved = wiener(y=y, kernel=kernel, snr=100.0)
    restored = predict(models.wiener_denoise, deconvolved)
    return restored


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    generator = torch.Generator()
    generator.manual_seed(seed)
    out = {name: dict() for name in methods.keys()}
    for level in sigmas:
        measured = simulate(clean, kernel, level, generator)
        for name in out:
            value = psnr(methods[name](measured).cpu().float(), clean)
            out[name][level] = value.item()
    return out


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    network = UNet(in_channels=32, out_channels=3, residual=False)
    network = network.to(device)
    shape = (1, 32) + tuple(noisy.shape[-2:])
    fixed_input = 0.1 * torch.rand(shape, device=device)
    noisy_dev = noisy.to(device)
    optim = torch.optim.Adam(network.parameters(), lr=lr)
    history = []
    best_image = None
    best_psnr = -float("inf")
    bar = progress_bar(iterations, "DIP")
    with bar:
        for iteration in range(iterations):
            result = torch.sigmoid(network(fixed_input))
            mse = torch.mean((result - noisy_dev) ** 2)
            optim.zero_grad()
            mse.backward()
            optim.step()
            bar.update(1)
            if (iteration + 1) % every != 0:
                continue
            current = psnr(result.detach().cpu(), clean).item()
            history.append((iteration + 1, current))
            if current > best_psnr:
                best_psnr = current
                best_image = result.detach().cpu()
    return best_image, history
