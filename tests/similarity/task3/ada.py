# ruff: noqa: F821 - an answer cell reads the notebook's names (torch, blur, psnr, UNet...)
"""Ada's Task 3 answers: one expression each, a plain training loop without a progress bar."""


# %% simulate
def simulate(x, kernel, sigma, generator=None):
    return add_noise(blur(x, kernel), sigma, generator=generator)


# %% wiener
def wiener(y, kernel, snr=100.0):
    otf = psf2otf(kernel, y.shape[-2:])
    return torch.fft.ifft2(torch.fft.fft2(y) * otf.conj() / (otf.abs() ** 2 + 1.0 / snr)).real


# %% methods
def method_wiener(y):
    return wiener(y, kernel, snr=100.0)


def method_unet(y):
    return predict(models.deblur_denoise, y)


def method_wiener_unet(y):
    return predict(models.wiener_denoise, wiener(y, kernel, snr=100.0))


methods = {"wiener": method_wiener, "unet": method_unet, "wiener_unet": method_wiener_unet}


# %% psnr_table
def psnr_table(methods, clean, kernel, sigmas, seed=0):
    gen = torch.Generator().manual_seed(seed)
    table = {name: {} for name in methods}
    for sigma in sigmas:
        y = simulate(clean, kernel, sigma, generator=gen)
        for name, method in methods.items():
            table[name][sigma] = psnr(method(y).float().cpu(), clean).item()
    return table


# %% dip
def deep_image_prior(noisy, clean, iterations=800, lr=0.001, every=25, seed=0):
    torch.manual_seed(seed)
    net = UNet(in_channels=32, out_channels=3, residual=False).to(device)
    z = 0.1 * torch.rand(1, 32, noisy.shape[-2], noisy.shape[-1], device=device)
    noisy, clean = noisy.to(device), clean.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_score, history = None, float("-inf"), []
    for i in range(iterations):
        opt.zero_grad()
        output = torch.sigmoid(net(z))
        loss = ((output - noisy) ** 2).mean()
        loss.backward()
        opt.step()
        if (i + 1) % every == 0:
            score = psnr(output.detach(), clean).item()
            history.append((i + 1, score))
            if score > best_score:
                best_score, best = score, output.detach().cpu()
    return best, history
