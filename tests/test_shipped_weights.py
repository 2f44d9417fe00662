"""The detectors shipped in weights/ load by name and score what their manifest says."""

import json
from pathlib import Path

import pytest

import ssdzoo

ROOT = Path(__file__).parents[1]
ENTRIES = json.loads((ROOT / "weights" / "manifest.json").read_text())["weight_sets"]


def test_bccd_builds_by_name_with_its_architecture():
    entry = next(e for e in ENTRIES if e["name"] == "bccd")
    model = ssdzoo.build(entry["backbone"], len(entry["classes"]), weights="bccd",
                         head_width=entry["head_width"], **entry["backbone_options"])
    assert model.class_names == entry["classes"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_weight_set_reproduces_its_manifest_map(entry):
    model = ssdzoo.load_weight_set(entry["name"])
    assert model.class_names == entry["classes"] and model.backbone_name == entry["backbone"]
    test = ssdzoo.data.load(ROOT / "data" / "BCCD", format="voc", split="test")
    result = ssdzoo.evaluate(model, test, coco=False, verbose=False)
    assert result.map == pytest.approx(entry["map"]["value"], abs=0.01)
    assert (ROOT / "weights" / entry["file"]).stat().st_size < 10e6  # "a few MB"
