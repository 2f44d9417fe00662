"""The BCCD detector shipped in weights/ loads by name and scores what its manifest says."""

import json
from pathlib import Path

import pytest

import ssdzoo

ROOT = Path(__file__).parents[1]


def test_bccd_weight_set_reproduces_its_manifest_map():
    entries = {e["name"]: e for e in json.loads((ROOT / "weights" / "manifest.json").read_text())["weight_sets"]}
    entry = entries["bccd"]
    model = ssdzoo.build(entry["backbone"], len(entry["classes"]), weights="bccd",
                         head_width=entry["head_width"], **entry["backbone_options"])
    assert model.class_names == entry["classes"]
    test = ssdzoo.data.load(ROOT / "data" / "BCCD", format="voc", split="test")
    result = ssdzoo.evaluate(model, test, coco=False, verbose=False)
    assert result.map == pytest.approx(entry["map"]["value"], abs=0.01)
    assert (ROOT / "weights" / entry["file"]).stat().st_size < 10e6  # "a few MB"
