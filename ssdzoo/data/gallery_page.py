"""The gallery's page: one self-contained HTML file (CSS and JS inline, data as embedded JSON).

The script reads ``{title, pageSize, classes: [{name, color, count}], images: [{name, thumb,
width, height, boxes: [[x1, y1, x2, y2, label]], findings: [{text, action}], dets, missed}],
unplaced, predictions, iou}`` (boxes in pixels of the original image; with ``predictions``,
``dets: [[x1, y1, x2, y2, label, score, tp]]`` and ``missed``: indices into ``boxes``) and draws
each box as an element placed in percent of its image, so overlays sit right at any thumbnail size.
"""

from __future__ import annotations

import html
import json

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 16px; color: #222; }}
header {{ display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-bottom: 12px; }}
#grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }}
figure {{ margin: 0; border: 1px solid #ccc; border-radius: 4px; padding: 6px; }}
.frame {{ position: relative; line-height: 0; }}
.frame img {{ width: 100%; height: auto; display: block; }}
.box, .det {{ position: absolute; box-sizing: border-box; border: 2px solid; pointer-events: none; }}
.box span, .det span {{ position: absolute; top: -14px; left: -2px; font-size: 10px; line-height: 12px;
            color: #fff; padding: 0 2px; white-space: nowrap; }}
.det {{ border-style: dashed; }} .det span {{ top: auto; bottom: -14px; }}
.det.tp {{ border-color: #0b0; }} .det.tp span {{ background: #0b0; }}
.det.fp {{ border-color: #e00; }} .det.fp span {{ background: #e00; }}
.box.missed {{ border-style: dotted; border-width: 3px; }}
.errors {{ font-size: 12px; }}
figcaption {{ margin-top: 4px; word-break: break-all; }}
.finding {{ color: #a00; font-size: 12px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; text-align: left; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
</style></head>
<body>
<h1>{title}</h1>
<table id="classes"><tr><th>class</th><th>boxes</th></tr></table>
<header>
<label>class <select id="class-filter"><option value="">all classes</option></select></label>
<label>finding <select id="finding-filter"><option value="">all images</option>
<option value="any">with any finding</option></select></label>
<span id="prediction-controls" hidden><label>errors <select id="error-filter">
<option value="">all images</option><option value="any">with any error</option>
<option value="fp">with false positives</option><option value="missed">with missed boxes</option></select></label>
<label>order <select id="order"><option value="">file order</option>
<option value="errors">most errors first</option></select></label></span>
<button id="prev">&larr;</button><span id="page"></span><button id="next">&rarr;</button>
<span id="count"></span>
</header>
<div id="grid"></div>
<ul id="unplaced"></ul>
<script id="data" type="application/json">{data}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const state = {{ cls: "", finding: "", errors: "", order: "", page: 0 }};
const el = (tag, props, children) => {{
  const node = Object.assign(document.createElement(tag), props || {{}});
  (children || []).forEach((c) => node.append(c));
  return node;
}};
const classFilter = document.getElementById("class-filter");
const findingFilter = document.getElementById("finding-filter");
data.classes.forEach((c, i) => {{
  classFilter.append(el("option", {{ value: String(i), textContent: c.name }}));
  const swatch = el("span", {{ className: "swatch" }});
  swatch.style.background = c.color;
  document.getElementById("classes").append(
    el("tr", {{}}, [el("td", {{}}, [swatch, c.name]), el("td", {{ textContent: String(c.count) }})]));
}});
[...new Set(data.images.flatMap((im) => im.findings.map((f) => f.action)))].sort().forEach((a) =>
  findingFilter.append(el("option", {{ value: a, textContent: a }})));
data.unplaced.forEach((text) =>
  document.getElementById("unplaced").append(el("li", {{ className: "finding", textContent: text }})));

const falsePositives = (im) => (im.dets || []).filter((d) => !d[6]).length;
const errorCount = (im) => falsePositives(im) + (im.missed || []).length;
document.getElementById("prediction-controls").hidden = !data.predictions;

function shown(im) {{
  if (state.cls !== "" && !im.boxes.some((b) => b[4] === Number(state.cls))) return false;
  if (state.errors === "fp" && !falsePositives(im)) return false;
  if (state.errors === "missed" && !(im.missed || []).length) return false;
  if (state.errors === "any" && !errorCount(im)) return false;
  if (state.finding === "any") return im.findings.length > 0;
  return state.finding === "" || im.findings.some((f) => f.action === state.finding);
}}

function place(node, im, [x1, y1, x2, y2]) {{
  Object.assign(node.style, {{ left: `${{(100 * x1) / im.width}}%`, top: `${{(100 * y1) / im.height}}%`,
    width: `${{(100 * (x2 - x1)) / im.width}}%`, height: `${{(100 * (y2 - y1)) / im.height}}%` }});
  return node;
}}

function card(im) {{
  const frame = el("div", {{ className: "frame" }}, [el("img", {{ src: im.thumb, alt: im.name }})]);
  const missed = new Set(im.missed || []);
  im.boxes.forEach((b, i) => {{
    if (state.cls !== "" && b[4] !== Number(state.cls)) return;
    const c = data.classes[b[4]];
    const text = missed.has(i) ? `missed ${{c.name}}` : c.name;
    const box = place(el("div", {{ className: missed.has(i) ? "box missed" : "box" }},
                         [el("span", {{ textContent: text }})]), im, b);
    box.style.borderColor = c.color;
    box.firstChild.style.background = c.color;
    box.dataset.label = c.name;
    frame.append(box);
  }});
  (im.dets || []).forEach((d) => {{
    if (state.cls !== "" && d[4] !== Number(state.cls)) return;
    const name = data.classes[d[4]].name;
    const det = place(el("div", {{ className: d[6] ? "det tp" : "det fp" }},
                         [el("span", {{ textContent: `${{name}} ${{d[5].toFixed(2)}}` }})]), im, d);
    det.dataset.label = name;
    frame.append(det);
  }});
  const caption = el("figcaption", {{}}, [`${{im.name}} (${{im.boxes.length}} boxes)`]);
  if (data.predictions) {{
    const fp = falsePositives(im);
    const text = `${{im.dets.length - fp}} true positive, ${{fp}} false positive, ${{im.missed.length}} missed`;
    caption.append(el("div", {{ className: "errors", textContent: `${{text}} (IoU ${{data.iou}})` }}));
  }}
  im.findings.forEach((f) => caption.append(el("div", {{ className: "finding", textContent: f.text }})));
  return el("figure", {{ className: "card" }}, [frame, caption]);
}}

function render() {{
  const hits = data.images.filter(shown);
  if (state.order === "errors") hits.sort((a, b) => errorCount(b) - errorCount(a));  // stable: ties keep file order
  const pages = Math.max(1, Math.ceil(hits.length / data.pageSize));
  state.page = Math.min(state.page, pages - 1);
  const start = state.page * data.pageSize;
  document.getElementById("grid").replaceChildren(...hits.slice(start, start + data.pageSize).map(card));
  document.getElementById("page").textContent = ` page ${{state.page + 1}} of ${{pages}} `;
  document.getElementById("count").textContent = `${{hits.length}} of ${{data.images.length}} images`;
  document.getElementById("prev").disabled = state.page === 0;
  document.getElementById("next").disabled = state.page >= pages - 1;
}}
classFilter.addEventListener("change", () => {{ state.cls = classFilter.value; state.page = 0; render(); }});
findingFilter.addEventListener("change", () => {{ state.finding = findingFilter.value; state.page = 0; render(); }});
for (const key of ["errors", "order"]) {{
  const select = document.getElementById(key === "errors" ? "error-filter" : "order");
  select.addEventListener("change", () => {{ state[key] = select.value; state.page = 0; render(); }});
}}
document.getElementById("prev").addEventListener("click", () => {{ state.page -= 1; render(); }});
document.getElementById("next").addEventListener("click", () => {{ state.page += 1; render(); }});
render();
</script>
</body></html>
"""


def page(title: str, data: dict) -> str:
    """The gallery page for ``data`` (the JSON the script reads, boxes in image pixels)."""
    payload = json.dumps(data).replace("</", "<\\/")
    return _PAGE.format(title=html.escape(title), data=payload)
