"""A space map as one standalone HTML page: inline SVG and a little JavaScript, no network at view time.

Hovering a point shows its thumbnail (embedded as a data: URI) and path; a picker recolours the points
by folder, tag, cluster or caption presence; another draws each image as its thumbnail at its place (an image
atlas), framed in its colour; the mouse wheel zooms and dragging pans. Queries are drawn as black diamonds,
with their nearest images ringed.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from typing import Any

from multimodal.errors import ConfigError
from multimodal.space_map import SpaceMap

COLOUR_BY = ("auto", "folder", "tag", "cluster", "caption")  # auto: tags if any, else clusters of the space
DRAW = ("points", "thumbnails")  # thumbnails: an image atlas (needs the thumbnails embedded)
_MAX_CATEGORIES = 10  # distinct colours; rarer values share "other"


def render_page(space_map: SpaceMap, *, colour_by: str = "auto", thumbnails: dict[str, str] | None = None,
                title: str = "multimodal: map of the embedding space", draw: str = "points") -> str:
    """The map as a self-contained HTML document, drawn first as `draw` (the page can switch)."""
    if colour_by not in COLOUR_BY:
        raise ConfigError(f"--colour-by must be one of {', '.join(COLOUR_BY)}, got {colour_by!r}")
    if draw not in DRAW:
        raise ConfigError(f"--draw must be one of {', '.join(DRAW)}, got {draw!r}")
    if draw == "thumbnails" and not any((thumbnails or {}).values()):
        raise ConfigError("drawing thumbnails needs the thumbnails (leave out --no-thumbnails)")
    data = _page_data(space_map, resolve_colouring(space_map, colour_by), thumbnails or {})
    data["draw"] = draw
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)


def resolve_colouring(space_map: SpaceMap, colour_by: str) -> str:
    """"auto" shows structure: the tags when the images were tagged, else the clusters of the space."""
    if colour_by != "auto":
        return colour_by
    return "tag" if any(p.tag for p in space_map.points) else "cluster"


def _page_data(space_map: SpaceMap, colour_by: str, thumbnails: dict[str, str]) -> dict[str, Any]:
    points = space_map.points
    root = os.path.commonpath([p.folder for p in points]) if points and all(p.folder for p in points) else ""
    folders = [os.path.relpath(p.folder, root) if root else p.folder for p in points]
    index = {p.id: n for n, p in enumerate(points)}
    method = space_map.method.upper()
    subtitle = f"{len(points)} of {space_map.total} images, {method}"
    if space_map.explained is not None:
        subtitle += f" (the two axes keep {space_map.explained:.0%} of the variance)"
    return {
        "subtitle": subtitle,
        "colourBy": colour_by,
        "x": [round(p.x, 5) for p in points],
        "y": [round(p.y, 5) for p in points],
        "path": [p.path for p in points],
        "thumb": [thumbnails.get(p.path, "") for p in points],
        "groups": {
            "folder": _categories(folders),
            "tag": _categories([p.tag or "(untagged)" for p in points]),
            "cluster": _categories([f"cluster {p.cluster + 1}" for p in points]),
            "caption": _categories(["captioned" if p.captioned else "no caption" for p in points]),
        },
        "queries": [{"label": q.label, "x": q.x, "y": q.y, "matches": [index[i] for i in q.matches if i in index]}
                    for q in space_map.queries],
    }


def _categories(values: list[str]) -> dict[str, Any]:
    common = [v for v, _ in Counter(values).most_common(_MAX_CATEGORIES)]
    if len(set(values)) > _MAX_CATEGORIES:
        common = [*common[: _MAX_CATEGORIES - 1], "other"]
    lookup = {v: n for n, v in enumerate(common)}
    other = lookup.get("other", len(common) - 1)
    return {"names": common, "of": [lookup.get(v, other) for v in values]}


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px system-ui,sans-serif;margin:12px;color:#222}
#map{width:100%;height:78vh;border:1px solid #ccc;background:#fff;cursor:grab}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:4px;display:none;
max-width:320px;font-size:12px;word-break:break-all;box-shadow:0 2px 6px #0003}
#tip img{display:block;max-width:96px;max-height:96px;margin-bottom:3px}
.legend span{display:inline-block;margin-right:12px}#mode{color:#555;margin-right:8px}
.legend i{display:inline-block;width:10px;height:10px;
border-radius:5px;margin-right:4px}
</style></head><body>
<h3 style="margin:0">__TITLE__</h3><div id="sub"></div>
<label>colour by <select id="by"><option>folder</option><option>tag</option><option>cluster</option>
<option>caption</option></select>
</label> <label>draw <select id="draw"><option value="points">points</option>
<option value="thumbnails">thumbnails (image atlas)</option></select></label>
<div class="legend"><span id="mode"></span><span id="legend"></span></div>
<svg id="map" xmlns="http://www.w3.org/2000/svg"></svg><div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
(function(){
const D=JSON.parse(document.getElementById('data').textContent), svg=document.getElementById('map');
const tip=document.getElementById('tip'), NS='http://www.w3.org/2000/svg', W=1000, H=700, P=30;
const C=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#17becf','#bcbd22','#7f7f7f'];
document.getElementById('sub').textContent=D.subtitle;
const xs=D.x.concat(D.queries.map(q=>q.x)), ys=D.y.concat(D.queries.map(q=>q.y));
const x0=Math.min(...xs), x1=Math.max(...xs), y0=Math.min(...ys), y1=Math.max(...ys);
const sx=v=>P+(v-x0)/((x1-x0)||1)*(W-2*P), sy=v=>H-P-(v-y0)/((y1-y0)||1)*(H-2*P);
let view=[0,0,W,H]; const setView=()=>svg.setAttribute('viewBox',view.join(' ')); setView();
const dots=D.x.map((x,i)=>{const c=document.createElementNS(NS,'circle');
  c.setAttribute('cx',sx(x));c.setAttribute('cy',sy(D.y[i]));c.setAttribute('r',4);c.setAttribute('opacity',.8);
  c.addEventListener('mousemove',e=>{tip.style.display='block';tip.style.left=(e.clientX+14)+'px';
    tip.style.top=(e.clientY+14)+'px';tip.replaceChildren();
    if(D.thumb[i]){const im=document.createElement('img');im.src=D.thumb[i];tip.appendChild(im);}
    tip.appendChild(document.createTextNode(D.path[i]));});
  c.addEventListener('mouseleave',()=>{tip.style.display='none';});
  svg.appendChild(c);return c;});
const T=30, atlas=document.createElementNS(NS,'g');atlas.setAttribute('id','atlas');svg.appendChild(atlas);
const frames=[];D.x.forEach((x,i)=>{if(!D.thumb[i])return;const X=sx(x)-T/2, Y=sy(D.y[i])-T/2;
  const f=document.createElementNS(NS,'rect');f.setAttribute('x',X-2);f.setAttribute('y',Y-2);
  f.setAttribute('width',T+4);f.setAttribute('height',T+4);f.setAttribute('data-i',i);atlas.appendChild(f);frames.push(f);
  const im=document.createElementNS(NS,'image');im.setAttribute('href',D.thumb[i]);im.setAttribute('x',X);
  im.setAttribute('y',Y);im.setAttribute('width',T);im.setAttribute('height',T);
  im.setAttribute('preserveAspectRatio','xMidYMid slice');
  im.addEventListener('mousemove',e=>{tip.style.display='block';tip.style.left=(e.clientX+14)+'px';
    tip.style.top=(e.clientY+14)+'px';tip.replaceChildren(document.createTextNode(D.path[i]));});
  im.addEventListener('mouseleave',()=>{tip.style.display='none';});atlas.appendChild(im);});
D.queries.forEach(q=>{q.matches.forEach(i=>{const r=document.createElementNS(NS,'circle');
    r.setAttribute('cx',sx(D.x[i]));r.setAttribute('cy',sy(D.y[i]));r.setAttribute('r',7);
    r.setAttribute('fill','none');r.setAttribute('stroke','#000');r.setAttribute('stroke-width',1.5);
    r.setAttribute('pointer-events','none');svg.appendChild(r);});
  const X=sx(q.x), Y=sy(q.y), m=document.createElementNS(NS,'path');
  m.setAttribute('d',`M${X} ${Y-9}L${X+9} ${Y}L${X} ${Y+9}L${X-9} ${Y}Z`);m.setAttribute('class','query');
  m.setAttribute('pointer-events','none');
  svg.appendChild(m);const t=document.createElementNS(NS,'text');t.setAttribute('x',X+12);t.setAttribute('y',Y+4);
  t.setAttribute('pointer-events','none');
  t.textContent=q.label;svg.appendChild(t);});
function colour(by){const g=D.groups[by];dots.forEach((c,i)=>c.setAttribute('fill',C[g.of[i]%C.length]));
  frames.forEach(f=>f.setAttribute('fill',C[g.of[+f.getAttribute('data-i')]%C.length]));
  document.getElementById('mode').textContent=(draw.value==='thumbnails'?
    'Each thumbnail is an image at its place on the plane, framed in the colour of its '+by+':':
    'Each dot is an image, coloured by its '+by+':');
  const L=document.getElementById('legend');L.replaceChildren();g.names.forEach((n,k)=>{
    const s=document.createElement('span'),b=document.createElement('i');b.style.background=C[k%C.length];
    s.appendChild(b);s.appendChild(document.createTextNode(n));L.appendChild(s);});
  if(D.queries.length){const s=document.createElement('span');
    s.textContent='\\u25c6 where a query lands (text often sits apart from the images: CLIP\\'s modality gap), '+
      '\\u25cb its nearest images';
    L.appendChild(s);}}
const by=document.getElementById('by'), draw=document.getElementById('draw');
if(!frames.length)draw.querySelector('[value=thumbnails]').disabled=true;
function show(){const t=draw.value==='thumbnails';atlas.style.display=t?'':'none';
  dots.forEach(c=>{c.style.display=t?'none':'';});colour(by.value);}
by.value=D.colourBy;draw.value=frames.length?D.draw:'points';show();
by.addEventListener('change',()=>colour(by.value));draw.addEventListener('change',show);
svg.addEventListener('wheel',e=>{e.preventDefault();const f=e.deltaY>0?1.2:1/1.2, r=svg.getBoundingClientRect();
  const mx=view[0]+(e.clientX-r.left)/r.width*view[2], my=view[1]+(e.clientY-r.top)/r.height*view[3];
  view=[mx-(mx-view[0])*f,my-(my-view[1])*f,view[2]*f,view[3]*f];setView();},{passive:false});
let drag=null;svg.addEventListener('mousedown',e=>{drag=[e.clientX,e.clientY,view[0],view[1]];});
window.addEventListener('mouseup',()=>{drag=null;});
window.addEventListener('mousemove',e=>{if(!drag)return;const r=svg.getBoundingClientRect();
  view[0]=drag[2]-(e.clientX-drag[0])/r.width*view[2];view[1]=drag[3]-(e.clientY-drag[1])/r.height*view[3];setView();});
})();
</script></body></html>
"""
