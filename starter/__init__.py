"""Helper package for the deep-learning-in-computational-imaging course kit.

Import what you need from its modules, one concept each::

    from starter.imaging import wiener_deconv
    from starter.metrics import psnr
    from starter.models import DnCNN, UNet
"""

__version__ = "0.1.0"
