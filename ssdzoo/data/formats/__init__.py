"""Annotation formats, one module each (``parse`` and ``detect``), on shared machinery.

:mod:`.base` holds what every format shares, :mod:`.registry` the format registry; the
built-in formats are registered by :mod:`ssdzoo.data.readers`. A new format is one new module
here and one ``register_format`` line there.
"""
