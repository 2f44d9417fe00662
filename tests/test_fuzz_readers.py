"""Property-based tests (hypothesis) of the annotation readers (VOC, YOLO with classes.txt or
an Ultralytics data.yaml, COCO, CSV, VoTT v1/v2, CVAT XML, Label Studio JSON): random bytes,
byte-level mutations of valid files and JSON documents with a node replaced either load or
raise a ``ValueError`` naming the file — never another exception.

The default suite tries ``EXAMPLES`` examples per test; ``pytest -m slow`` runs the same
properties with ``LONG_EXAMPLES``.
"""

import json
import tempfile
import warnings
from pathlib import Path

import pytest
from badinputs import jpeg, voc_xml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssdzoo.data import load

EXAMPLES, LONG_EXAMPLES = 60, 1500

COCO = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 29, 38], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
VOTT = {"assets": {"x": {"asset": {"name": "a.jpg", "path": "file:a.jpg", "size": {"width": 64, "height": 48}},
                         "regions": [{"tags": ["cat"], "boundingBox": {"left": 1, "top": 2, "width": 29,
                                                                       "height": 38}}]}},
        "tags": [{"name": "cat"}, {"name": "dog"}]}
VOTT1 = {"frames": {"a.jpg": [{"x1": 1, "y1": 2, "x2": 30, "y2": 40, "width": 64, "height": 48,
                               "tags": ["cat"]}]}, "inputTags": "cat,dog"}
LABELSTUDIO = [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"id": 1, "result": [
    {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 64,
     "original_height": 48, "value": {"x": 1.5625, "y": 4.1667, "width": 45.3125, "height": 79.1667,
                                      "rotation": 0, "rectanglelabels": ["cat"]}}]}]}]
CVAT = (b'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task><labels>'
        b'<label><name>cat</name></label><label><name>dog</name></label></labels></task></meta>'
        b'<image id="0" name="a.jpg" width="64" height="48">'
        b'<box label="cat" xtl="1" ytl="2" xbr="30" ybr="40"/><box label="dog" xtl="3" ytl="4" xbr="20" ybr="20"/>'
        b'</image></annotations>\n')
#: ``train: .`` lists the dataset folder (a.jpg with a.txt beside it; JPEGImages/a.jpg has no labels)
DATA_YAML = b"path: .\ntrain: .\nnames:\n  0: cat\n  1: dog\n"

#: format -> (file the content goes to, a valid content)
FILES = {
    "voc": ("Annotations/a.xml", voc_xml("a.jpg", (("cat", (1, 2, 30, 40)), ("dog", (3, 4, 20, 20)))).encode()),
    "yolo": ("a.txt", b"0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n"),
    "yolo-names": ("classes.txt", b"cat\ndog\n"),
    "coco": ("coco.json", json.dumps(COCO).encode()),
    "csv": ("boxes.csv", b"path,x1,y1,x2,y2,class\na.jpg,1,2,30,40,cat\na.jpg,3,4,20,20,dog\n"),
    "vott": ("vott.json", json.dumps(VOTT).encode()),
    "vott1": ("vott.json", json.dumps(VOTT1).encode()),
    "cvat": ("annotations.xml", CVAT),
    "labelstudio": ("labelstudio.json", json.dumps(LABELSTUDIO).encode()),
    "yolo-yaml": ("data.yaml", DATA_YAML),
}
JSON_SEEDS = {"coco": COCO, "vott": VOTT, "vott1": VOTT1, "labelstudio": LABELSTUDIO}


def _load(kind: str, content: bytes) -> int | None:
    """Write ``content`` as the ``kind`` annotation file beside a valid rest of the dataset; load
    it: the boxes loaded, or None after a ValueError naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "Annotations").mkdir()
        (root / "JPEGImages").mkdir()
        for where in ("a.jpg", "JPEGImages/a.jpg"):
            (root / where).write_bytes(IMAGE)
        if kind.startswith("yolo"):  # the label files and classes.txt; data.yaml only for its own kind
            for name, (file, valid) in FILES.items():
                if name.startswith("yolo") and name != "yolo-yaml":
                    (root / file).write_bytes(valid)
        (root / FILES[kind][0]).write_bytes(content)
        fmt = kind.split("-")[0].rstrip("1")
        path = root / FILES[kind][0] if fmt in ("coco", "csv", "vott", "labelstudio") else root
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return sum(len(r.labels) for r in load(path, fmt))
        except ValueError as error:
            assert tmp in str(error), f"the error names no file: {error}"
            return None


IMAGE = jpeg(64, 48)


@st.composite
def mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with 1-4 slices deleted, inserted, replaced or duplicated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        j = draw(st.integers(i, min(len(data), i + 24)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        chunk = draw(st.binary(min_size=1, max_size=12)) if kind in ("insert", "replace") else b""
        data[i:j] = {"delete": b"", "insert": chunk + data[i:j], "replace": chunk,
                     "duplicate": data[i:j] * 2}[kind]
    return bytes(data)


EDGE_VALUES = st.sampled_from([float("inf"), float("-inf"), float("nan"), 0, -1, 1e308, 2**70, "", "7", [], {}])
JSON_VALUES = st.recursive(
    EDGE_VALUES | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path inside a JSON document."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    out = []
    for key, child in children:
        out += [(*prefix, key)] + _paths(child, (*prefix, key))
    return out


@st.composite
def json_mutations(draw: st.DrawFn, seed: dict) -> bytes:
    """``seed`` with one node (a key's value or a list item) replaced by an arbitrary JSON value."""
    doc = json.loads(json.dumps(seed))
    *parents, last = draw(st.sampled_from(_paths(doc)))
    node = doc
    for key in parents:
        node = node[key]
    node[last] = draw(JSON_VALUES)
    return json.dumps(doc).encode()  # NaN and Infinity written as JSON readers accept them


def _property_tests(examples: int) -> tuple:
    """The three properties at ``examples`` examples each."""
    config = settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])

    @config
    @given(kind=st.sampled_from(sorted(FILES)), content=st.binary(max_size=600))
    def random_bytes(kind, content):
        _load(kind, content)

    @config
    @given(data=st.data(), kind=st.sampled_from(sorted(FILES)))
    def mutated_files(data, kind):
        _load(kind, data.draw(mutations(FILES[kind][1])))

    @config
    @given(data=st.data(), kind=st.sampled_from(sorted(JSON_SEEDS)))
    def mutated_json(data, kind):
        _load(kind, data.draw(json_mutations(JSON_SEEDS[kind])))

    return random_bytes, mutated_files, mutated_json


test_random_bytes, test_mutated_files, test_mutated_json = _property_tests(EXAMPLES)
test_random_bytes_long, test_mutated_files_long, test_mutated_json_long = (
    pytest.mark.slow(t) for t in _property_tests(LONG_EXAMPLES))


@pytest.mark.parametrize("kind", sorted(FILES))
def test_the_valid_seeds_load(kind):
    assert _load(kind, FILES[kind][1]) == (1 if kind in JSON_SEEDS else 2)
