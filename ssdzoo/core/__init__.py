"""Core math in ``keras.ops`` (any backend): anchors, box coder, target matching, loss, schedules.

Imports nothing else of ssdzoo."""
