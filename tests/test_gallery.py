"""``ssdzoo view``: the HTML gallery, opened in a real headless Chromium (system package, driven by
Playwright): it renders, box overlays sit at the right pixels, filters change what is shown, paging
works, the console stays clean, and BCCD's two zero-area boxes appear under their finding.

``SSDZOO_SCREENSHOT=docs/images/gallery.png`` also saves the README's screenshot there. Without a
browser the browser test skips, unless ``SSDZOO_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then it fails."""

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import find_chromium

from ssdzoo.cli.data import add_parser
from ssdzoo.data import load
from ssdzoo.data.gallery import match_detections, write_gallery
from ssdzoo.models.detector import Detections

IDS = ["BloodImage_00000", "BloodImage_00001", "BloodImage_00002", "BloodImage_00003",
       "BloodImage_00338", "BloodImage_00343", "BloodImage_00004", "BloodImage_00005"]
CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    """Eight BCCD images in their own VOC folder, two of them with a zero-area box."""
    root = tmp_path_factory.mktemp("voc")
    bccd = Path(__file__).parents[1] / "data" / "BCCD"
    for folder, suffix in (("Annotations", ".xml"), ("JPEGImages", ".jpg")):
        (root / folder).mkdir()
        for i in IDS:
            shutil.copy(bccd / folder / f"{i}{suffix}", root / folder)
    return root


def test_cli_view_writes_the_gallery_and_thumbnails_once(voc, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["view", str(voc), "--out", str(tmp_path / "g"), "--thumb-size", "200"])
    assert args.func(args) == 0
    assert "8 images, 2 findings" in capsys.readouterr().out
    thumbs = sorted((tmp_path / "g" / "thumbs").iterdir())
    assert len(thumbs) == 8
    stamp = thumbs[0].stat().st_mtime_ns
    args.func(args)
    assert thumbs[0].stat().st_mtime_ns == stamp  # made once
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="page_size must be >= 1"):
        write_gallery(load(voc, check_images=False), tmp_path / "h", page_size=0)


def _one_hit_one_miss(dataset) -> list[Detections]:
    """Detections: on the first image its first box (score 0.9) and that box 200 px to the right (0.8)."""
    first = dataset[0]
    name = dataset.class_names[int(first.labels[0])]
    boxes = np.array([first.boxes[0], first.boxes[0] + [200, 0, 200, 0]], np.float32)
    hits = Detections(boxes, np.array([0.9, 0.8], np.float32), np.zeros(2, np.int64), [name, name])
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), [])
    return [hits] + [empty] * (len(dataset) - 1)


def test_match_detections_takes_each_box_once_in_score_order():
    gt, gt_labels = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]), np.array([0, 0, 1])
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 31], [50, 50, 60, 60], [0, 0, 10, 10]])
    true_positive, missed = match_detections(gt, gt_labels, boxes, np.array([0, 0, 0, 0, 1]),
                                             np.array([0.5, 0.9, 0.8, 0.7, 0.6]))
    assert true_positive.tolist() == [False, True, True, False, True]  # the 0.5 one comes second to box 0
    assert missed.tolist() == [False, False, False]
    assert match_detections(gt, gt_labels, boxes[:2], np.array([1, 1]), np.array([0.5, 0.9]), iou=0.9)[1].tolist() \
        == [True, True, False]  # box 1 (IoU 0.81) is not enough at 0.9: only box 0 hits the class-1 box


@pytest.mark.slow  # 15-24 s on 2 shared cores, most of it tracing detect; the browser test covers the page
def test_cli_view_with_a_model_marks_every_box_found_or_missed(voc, tmp_path, capsys):
    import ssdzoo

    model = ssdzoo.build("small", 3, weights=None, class_names=["Platelets", "RBC", "WBC"], prior_probability=0.3)
    model.save(tmp_path / "m.keras")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["view", str(voc), "--out", str(tmp_path / "g"), "--thumb-size", "64",
                              "--model", str(tmp_path / "m.keras"), "--score", "0.2", "--iou", "0.3"])
    assert args.func(args) == 0
    assert "detections of" in capsys.readouterr().out
    html = (tmp_path / "g" / "index.html").read_text()
    data = json.loads(html.split('type="application/json">')[1].split("</script>")[0].replace("<\\/", "</"))
    assert data["predictions"] is True and data["iou"] == 0.3
    assert sum(len(im["dets"]) for im in data["images"]) > 0
    for im in data["images"]:
        found = sum(d[6] for d in im["dets"])
        assert found + len(im["missed"]) == len(im["boxes"]) and all(d[5] >= 0.2 for d in im["dets"])
    args = parser.parse_args(["view", str(voc), "--out", str(tmp_path / "g"), "--iou", "0"])
    with pytest.raises(ValueError, match=r"--score must be in \[0, 1\) and --iou in \(0, 1\], got 0.5 and 0.0"):
        args.func(args)


def _playwright_or_skip():
    """Playwright's sync API when it and a Chromium are installed; else skip, or fail under SSDZOO_REQUIRE_BROWSER=1."""
    try:
        from playwright import sync_api
    except ImportError:
        sync_api, why = None, "Playwright missing: pip install playwright"
    else:
        why = "no Chromium (apt-get install chromium, or python -m playwright install chromium)"
    if sync_api is not None and CHROMIUM is not None:
        return sync_api
    if os.environ.get("SSDZOO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SSDZOO_REQUIRE_BROWSER=1 and {why}")
    pytest.skip(why)


def test_gallery_in_headless_chromium(voc, tmp_path):
    sync_api = _playwright_or_skip()
    with pytest.warns(UserWarning):
        dataset = load(voc, "voc")
    index = write_gallery(dataset, tmp_path / "gallery", "BCCD sample", page_size=4)
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 560})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        assert page.inner_text("#count") == "8 of 8 images"
        assert page.inner_text("#page").strip() == "page 1 of 2"
        assert page.locator("figure.card").count() == 4
        counts = page.locator("#classes tr").all_inner_texts()
        per_class = [[name, str(sum(int((r.labels == i).sum()) for r in dataset))]
                     for i, name in enumerate(dataset.class_names)]
        assert [c.split() for c in counts[1:]] == per_class

        # the first box of BloodImage_00000 (WBC 260 177 491 376 in 640 x 480) on its thumbnail
        card = page.locator("figure.card", has_text="BloodImage_00000.jpg")
        image = card.locator("img").bounding_box()
        box = card.locator(".box").first.bounding_box()
        assert card.locator(".box").first.get_attribute("data-label") == "WBC"
        expected = (image["x"] + 260 / 640 * image["width"], image["y"] + 177 / 480 * image["height"],
                    231 / 640 * image["width"], 199 / 480 * image["height"])
        assert [box["x"], box["y"], box["width"], box["height"]] == pytest.approx(expected, abs=1.0)
        if os.environ.get("SSDZOO_SCREENSHOT"):
            page.screenshot(path=os.environ["SSDZOO_SCREENSHOT"])

        page.select_option("#class-filter", label="WBC")
        assert page.inner_text("#count") == "8 of 8 images"  # every image has a WBC
        labels = set(page.locator(".box").evaluate_all("boxes => boxes.map(b => b.dataset.label)"))
        assert labels == {"WBC"}
        page.select_option("#class-filter", label="Platelets")
        with_platelets = sum(1 for r in dataset if (r.labels == 0).any())
        assert 0 < with_platelets < 8 and page.inner_text("#count") == f"{with_platelets} of 8 images"

        page.select_option("#class-filter", label="all classes")
        page.select_option("#finding-filter", "box dropped")
        cards = page.locator("figure.card figcaption").all_inner_texts()
        assert [c.splitlines()[0].split()[0] for c in cards] == ["BloodImage_00338.jpg", "BloodImage_00343.jpg"]
        assert all("has zero area (box dropped)" in c for c in cards)

        page.select_option("#finding-filter", "")
        page.click("#next")
        assert page.inner_text("#page").strip() == "page 2 of 2"
        assert page.locator("figure.card").count() == 4
        assert page.locator("#next").is_disabled()
        assert not page.locator("#prediction-controls").is_visible()

        detections = _one_hit_one_miss(dataset)
        page.goto(write_gallery(dataset, tmp_path / "predictions", "with detections", 4, 480, detections).as_uri())
        page.wait_for_load_state("load")
        card = page.locator("figure.card", has_text="BloodImage_00000.jpg")
        missed = len(dataset[0].labels) - 1
        assert f"1 true positive, 1 false positive, {missed} missed (IoU 0.5)" in card.inner_text()
        assert card.locator(".det.tp").count() == card.locator(".det.fp").count() == 1
        assert card.locator(".box.missed").count() == missed
        tp = card.locator(".det.tp").bounding_box()
        assert [tp["x"], tp["y"], tp["width"], tp["height"]] == pytest.approx(expected, abs=1.0)
        page.select_option("#error-filter", "fp")
        assert page.inner_text("#count") == "1 of 8 images"
        page.select_option("#error-filter", "missed")
        assert page.inner_text("#count") == "8 of 8 images"  # nothing detected on the others
        page.select_option("#error-filter", "")
        page.select_option("#order", "errors")  # errors: missed boxes, plus the first image's false positive
        wrong = [len(r.labels) for r in dataset]
        most = sorted(range(len(dataset)), key=lambda i: -wrong[i])[:4]
        names = [c.split()[0] for c in page.locator("figure.card figcaption").all_inner_texts()]
        assert names == [Path(dataset[i].image_path).name for i in most]
        browser.close()
    assert errors == []
