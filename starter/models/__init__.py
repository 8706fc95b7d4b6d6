"""Neural networks of the course: one file per model."""

from starter.models.dncnn import DnCNN
from starter.models.unet import UNet

__all__ = ["DnCNN", "UNet"]
