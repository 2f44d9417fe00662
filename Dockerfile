# ssdzoo on NVIDIA GPUs: the official TensorFlow GPU image (CUDA, cuDNN, Jupyter) with ssdzoo
# installed and the bundled BCCD data. Not built on the project's machines (no Docker daemon
# there); linted by tests/test_install.py with hadolint. See README, "GPU and several machines".
#
#   docker build -t ssdzoo:gpu .
#   docker run --gpus all --rm -p 8888:8888 -p 6006:6006 -v "$PWD/runs:/workspace/ssdzoo/runs" \
#       ssdzoo:gpu ssdzoo train --config examples/bccd_demo.toml --out runs/demo
FROM tensorflow/tensorflow:2.21.0-gpu-jupyter

WORKDIR /workspace/ssdzoo
COPY pyproject.toml README.md ./
COPY ssdzoo ./ssdzoo
COPY backbones ./backbones
COPY weights ./weights
COPY examples ./examples
COPY docs ./docs
COPY data/BCCD ./data/BCCD
# TensorFlow is the image's own: pip keeps it (ssdzoo asks for tensorflow>=2.16,<3)
RUN python -m pip install --no-cache-dir -e . \
    && ssdzoo weights list

# 8888: Jupyter (the image's default command starts it), 6006: TensorBoard
# (tensorboard --logdir runs --bind_all)
EXPOSE 8888 6006
