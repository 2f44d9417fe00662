"""Pretrained weights: ImageNet backbone files in the Keras cache, and shipped SSD weight sets.

ImageNet. ``keras.applications`` fetches weights with ``keras.utils.get_file``, which returns a
file already in ``<keras home>/models`` without touching the network; when the application
declares a ``file_hash`` (VGG16/19, ResNet50, InceptionV3: md5) it checks a cached file first
and, on a mismatch, downloads it again — which fails offline. MobileNet declares no hash, so a
damaged cached file reaches the HDF5 loader. Keras reads ``KERAS_HOME`` once, when it is
imported; :func:`ssdzoo.model.keras_cache_dir` (used here) reads it at call time. To load a file
wherever it is, pass its path: ``ssdzoo.build(name, weights=check_imagenet_file(name))``.

Weight sets. ``weights/manifest.json`` lists trained SSD weights (see ``weights/README.md``);
``ssdzoo.build(..., weights="<set name>")`` builds the set's architecture and loads its file
after checking its sha256. ``SSDZOO_WEIGHTS_MANIFEST`` points to another manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from typing import TYPE_CHECKING

from ssdzoo.models.registry import get_backbone

if TYPE_CHECKING:
    from ssdzoo.models.config import ArchConfig
    from ssdzoo.models.ssd import SSD

MANIFEST_ENV = "SSDZOO_WEIGHTS_MANIFEST"
#: Fields every manifest entry has (``backbone_options``, ``head`` and the other
#: :class:`~ssdzoo.models.config.ArchConfig` fields are optional).
ENTRY_FIELDS = ("name", "backbone", "dataset", "classes", "input_size", "head_width", "file",
                "sha256", "map", "command")


class _Requested(Exception):
    """Raised by the stand-in ``get_file`` with the arguments keras.applications passed."""

    def __init__(self, fname, origin=None, file_hash=None, md5_hash=None,
                 cache_subdir="datasets", **_):
        super().__init__(fname)
        self.fname, self.origin, self.cache_subdir = fname, origin, cache_subdir
        self.file_hash = file_hash or md5_hash


def _requested(backbone: str, input_size: int, options: dict) -> _Requested:
    """What the backbone's constructor asks ``get_file`` for with ``weights="imagenet"``
    (the constructor runs up to that call; nothing is downloaded or loaded)."""
    from ssdzoo.utils.keras_internals import intercepted_get_file

    spec = get_backbone(backbone)
    if not spec.pretrained:
        raise ValueError(f"backbone {spec.name!r} has no ImageNet weights")

    def stand_in(*args, **kwargs):
        raise _Requested(*args, **kwargs)

    with intercepted_get_file(stand_in), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MobileNet: "weights for input shape 224 will be loaded"
        try:
            spec.constructor((input_size, input_size, 3), "imagenet", **options)
        except _Requested as request:
            return request
    raise ValueError(f"backbone {spec.name!r} does not fetch its ImageNet weights with "
                     f"keras.utils.get_file: its expected file is unknown")


def _hash_algorithm(file_hash: str) -> str:
    """Keras' rule (``file_utils.resolve_hasher``): 64 hex digits are sha256, others md5."""
    return "sha256" if len(file_hash) == 64 else "md5"


def _expected(backbone: str, input_size: int, options: dict) -> tuple[str, str | None, str]:
    from ssdzoo.models.backbone import keras_cache_dir

    request = _requested(backbone, input_size, options)
    path = os.path.join(os.path.dirname(keras_cache_dir()), request.cache_subdir, request.fname)
    return path, request.file_hash, request.origin


def expected_imagenet_file(backbone: str, input_size: int = 300,
                           **options) -> tuple[str, str | None]:
    """``(path in the Keras cache, declared hash or None)`` of a backbone's ImageNet weights file.

    The hash is the one keras.applications declares; ``options`` are as for :func:`ssdzoo.build`,
    e.g. ``alpha=0.25``."""
    return _expected(backbone, input_size, options)[:2]


def _problem(path: str, file_hash: str | None) -> str | None:
    """Why the file at ``path`` is not usable, or None."""
    import h5py

    if not os.path.isfile(path):
        return "missing"
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" not in f.attrs:
                return "HDF5 but holds no Keras weights"
    except OSError as err:
        return f"not a readable HDF5 file, probably truncated ({err})"
    if file_hash:
        algorithm = _hash_algorithm(file_hash)
        actual = _file_hash(path, algorithm)
        if actual != file_hash:
            return (f"{algorithm} {actual}, keras.applications expects {file_hash} (a damaged or "
                    f"different file; offline, keras would fail trying to download it again)")
    return None


def check_imagenet_file(backbone: str, input_size: int = 300, **options) -> str:
    """The cached ImageNet weights file of ``backbone``, checked; ``WeightsUnavailableError`` if bad.

    Checked: present, a complete HDF5 file (HDF5 records its end-of-file address, so a truncated
    file fails to open), holding Keras weights, with the hash keras.applications declares (when it
    declares one). The error says what is wrong."""
    from ssdzoo.models.backbone import WeightsUnavailableError

    path, file_hash, origin = _expected(backbone, input_size, options)
    problem = _problem(path, file_hash)
    if problem:
        raise WeightsUnavailableError(f"{path}: {problem}. Download it on a machine with internet "
                                      f"access from {origin} and copy it there")
    return path


def fetch_imagenet_file(backbone: str, input_size: int = 300, **options) -> str:
    """The backbone's ImageNet weights file in the Keras cache, downloaded first if missing.

    The same file and download as ``keras.applications`` (``keras.utils.get_file``, which also
    fetches again a file whose declared hash does not match), then the checks of
    :func:`check_imagenet_file`; ``WeightsUnavailableError`` when no good file can be had
    (offline, or a damaged file of a backbone that declares no hash: MobileNet)."""
    import keras

    from ssdzoo.models.backbone import weights_unavailable

    request = _requested(backbone, input_size, options)
    try:
        path = keras.utils.get_file(request.fname, request.origin, file_hash=request.file_hash,
                                    cache_subdir=request.cache_subdir)
    except Exception as err:  # download failures surface as many exception types
        raise weights_unavailable(backbone, err) from err
    problem = _problem(path, request.file_hash)
    if problem:
        raise weights_unavailable(backbone, ValueError(f"{path}: {problem}"))
    return path


def _file_hash(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Shipped weight sets


def manifest_path() -> str:
    """The weight-set manifest: ``$SSDZOO_WEIGHTS_MANIFEST``, else the installed one.

    The installed one is the top-level ``weights/`` folder, installed as the ``ssdzoo.weight_sets``
    package."""
    if os.environ.get(MANIFEST_ENV):
        return os.environ[MANIFEST_ENV]
    import ssdzoo.weight_sets

    return os.path.join(os.path.dirname(os.path.abspath(ssdzoo.weight_sets.__file__)), "manifest.json")


def weight_sets(path: str | None = None) -> dict[str, dict]:
    """The manifest's entries by name (``path`` defaults to :func:`manifest_path`)."""
    path = path or manifest_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weight-set manifest at {path} (set {MANIFEST_ENV} to use "
                                f"another)")
    with open(path) as f:
        entries = json.load(f)["weight_sets"]
    for entry in entries:
        missing = [field for field in ENTRY_FIELDS if field not in entry]
        if missing:
            raise ValueError(f"{path}: weight set {entry.get('name')!r} lacks {', '.join(missing)}")
    return {entry["name"]: entry for entry in entries}


def is_weight_set_name(weights: object) -> bool:
    """Whether a ``weights`` argument names a weight set (``"bccd"``).

    That is a string that is not ``"imagenet"`` and not a file path (no directory, no suffix, no
    such file)."""
    return (isinstance(weights, str) and weights != "imagenet" and not os.path.dirname(weights)
            and not os.path.splitext(weights)[1] and not os.path.exists(weights))


def _entry_arch(entry: dict) -> ArchConfig:
    """The architecture of a manifest entry (its fields named as :class:`ArchConfig`'s)."""
    from ssdzoo.models.config import ArchConfig

    fields = {k: entry[k] for k in ArchConfig.field_names() if k in entry}
    return ArchConfig.from_dict({**fields, "num_classes": len(entry["classes"]),
                                 "class_names": entry["classes"]})


def _build_call(name: str, arch: ArchConfig) -> str:
    """The ``ssdzoo.build(...)`` call that loads weight set ``name`` of architecture ``arch``."""
    args = [repr(arch.backbone), str(arch.num_classes), f"weights={name!r}"]
    args += [f"{k}={v!r}" for k, v in arch.non_default().items()
             if k not in ("backbone", "num_classes", "class_names", "backbone_options")]
    args += [f"{k}={v!r}" for k, v in arch.backbone_options.items()]
    return f"ssdzoo.build({', '.join(args)})"


def load_weight_set(name: str, config: ArchConfig | None = None, *,
                    manifest: str | None = None) -> SSD:
    """The SSD of weight set ``name`` (what ``ssdzoo.build(..., weights=name)`` returns).

    ``config`` is the requested architecture (``None``: the set's own). It must be the set's
    (class names default to the set's); otherwise ``ValueError`` tells how to build the set and
    copy what fits into another model with :func:`ssdzoo.transfer_weights`.
    """
    from ssdzoo.models.backbone import WeightsUnavailableError
    from ssdzoo.models.ssd import SSD

    path = manifest or manifest_path()
    sets = weight_sets(path)
    if name not in sets:
        raise ValueError(f"no weight set {name!r} in {path} (available: "
                         f"{', '.join(sorted(sets)) or 'none yet'}); weights must be 'imagenet', "
                         f"None, a file path or a weight set name")
    entry = sets[name]
    expected = _entry_arch(entry)
    asked = config or expected
    if asked.class_names is None and asked.num_classes == expected.num_classes:
        asked = asked.updated(class_names=expected.class_names)
    have, want = asked.resolved().to_dict(), expected.resolved().to_dict()
    differ = [f"{k}={have[k]!r} (the set has {v!r})" for k, v in want.items()
              if have[k] != v and (k != "class_names" or asked.class_names is not None)]
    if differ:
        call = _build_call(name, expected)
        raise ValueError(
            f"weight set {name!r} ({entry['dataset']}, classes {entry['classes']}) does not fit the "
            f"requested model: {'; '.join(differ)}. Build it as {call}, or reuse it for your "
            f"model with ssdzoo.transfer_weights({call}, model, class_map=...)")
    file = os.path.join(os.path.dirname(os.path.abspath(path)), entry["file"])
    if not os.path.isfile(file):
        raise WeightsUnavailableError(f"weight set {name!r}: {file} is missing")
    actual = _file_hash(file, "sha256")
    if actual != entry["sha256"]:
        raise WeightsUnavailableError(f"weight set {name!r}: sha256 of {file} is {actual}, the "
                                      f"manifest says {entry['sha256']} (damaged or replaced file)")
    model = SSD(expected, weights=None)
    model.load_weights(file)
    return model


def imagenet_file_status(backbone: str) -> list[str]:
    """``[expected path, declared hash, status]`` of a backbone's cached ImageNet file (``ssdzoo weights path``)."""
    try:
        path, file_hash = expected_imagenet_file(backbone)
    except ValueError as err:
        return ["?", "?", str(err)]
    declared = f"{_hash_algorithm(file_hash)} {file_hash}" if file_hash else "none declared"
    problem = _problem(path, file_hash)
    status = problem or "present, valid" if problem in (None, "missing") else f"INVALID: {problem}"
    return [path, declared, status]


def weight_set_rows(path: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and one row per installed weight set (for ``ssdzoo weights list``)."""
    header = ["name", "backbone", "classes", "input", "head width", "mAP", "file", "status"]
    rows = []
    folder = os.path.dirname(os.path.abspath(path or manifest_path()))
    for name, entry in sorted(weight_sets(path).items()):
        file = os.path.join(folder, entry["file"])
        status = "present" if os.path.isfile(file) else "MISSING"
        rows.append([name, entry["backbone"], ", ".join(entry["classes"]), str(entry["input_size"]),
                     str(entry["head_width"]), f"{entry['map']['value']:.4f} ({entry['map']['metric']})",
                     entry["file"], status])
    return header, rows
