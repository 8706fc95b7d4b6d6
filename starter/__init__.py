"""Helper package for the deep-learning-in-computational-imaging course kit.

Import what you need from its modules, one concept each::

    from starter.imaging import blur, add_noise, psf2otf
    from starter.metrics import psnr
    from starter.models import DnCNN, UNet

It holds helpers, data, models and the visible tests' checks; never the answer to a graded
part of a task (the instructor's reference implementations live in the separate instructor
tools, never shipped to students).
"""

__version__ = "0.1.0"
