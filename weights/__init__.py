"""The shipped weight sets (``manifest.json`` and its files), installed as ``ssdzoo.weight_sets``."""
