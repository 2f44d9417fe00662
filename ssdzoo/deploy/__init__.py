"""Deployment: export a detector with its preprocessing, box decoding and NMS inside
(SavedModel, TFLite/LiteRT, ONNX), and load such an artifact back as a detector.

``export(model, path, format=...)`` (:mod:`ssdzoo.deploy.export`) and ``load_exported(path)``
(:mod:`ssdzoo.deploy.runtime`). A format is one module here plus one ``register_format`` line in
:mod:`ssdzoo.deploy.export`.
"""
