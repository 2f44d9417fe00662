"""Registry entries, one file per backbone (installed as ``ssdzoo.backbones``)."""

from . import inceptionv3, mobilenet, resnet50, small, vgg16, vgg19  # noqa: F401
