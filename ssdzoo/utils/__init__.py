"""Helpers with no knowledge of models or data: image files, tables, Keras internals."""
