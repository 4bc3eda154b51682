"""The API describing itself: /api/v1/openapi.json, and /api/v1/docs, the document rendered for people by one
small self-contained page (no assets from outside the box: the appliance often has no internet)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from web.api.openapi import Content, document, operation

bp = Blueprint("docs", __name__, url_prefix="/api/v1")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smsgw API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
h1{font-size:1.5rem} .op{border:1px solid #ccc;border-radius:6px;margin:.6rem 0}
.op summary{cursor:pointer;padding:.5rem;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.delete{color:#c30}
.body{padding:0 .8rem .6rem} pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:13px}
table{border-collapse:collapse} td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}
</style></head><body>
<h1 id="title">smsgw API</h1>
<p>Authenticate with <code>Authorization: Bearer KEY</code> or <code>X-API-Key: KEY</code>.
The machine-readable document is at <a href="openapi.json">openapi.json</a>.</p>
<div id="ops">Loading…</div>
<script>
function el(tag, attrs, ...kids){const e=document.createElement(tag);Object.assign(e,attrs||{});
  for(const k of kids){e.append(k)}return e}
function resolve(doc, s){while(s&&s.$ref){s=s.$ref.split('/').slice(1).reduce((o,k)=>o[k],doc)}return s}
function show(doc, s){return JSON.stringify(s,(k,v)=>v&&v.$ref?Object.assign({"$ref":v.$ref},resolve(doc,v)):v,2)}
fetch('openapi.json').then(r=>r.json()).then(doc=>{
  const ops=document.getElementById('ops'); ops.textContent='';
  document.getElementById('title').textContent=doc.info.title+' '+doc.info.version;
  for(const [path,item] of Object.entries(doc.paths)){
    for(const [method,op] of Object.entries(item)){
      if(method==='parameters')continue;
      const body=el('div',{className:'body'},el('p',{},op.summary||''));
      const params=[...(item.parameters||[]),...(op.parameters||[])];
      if(params.length){const t=el('table',{},el('tr',{},el('th',{},'parameter'),el('th',{},'in'),el('th',{},'type')));
        for(const p of params){t.append(el('tr',{},el('td',{},p.name),el('td',{},p.in),el('td',{},JSON.stringify(p.schema))))}
        body.append(t)}
      const rb=op.requestBody&&op.requestBody.content;
      if(rb){for(const [type,c] of Object.entries(rb)){body.append(el('h4',{},'Request '+type),el('pre',{},show(doc,c.schema)))}}
      for(const [status,r] of Object.entries(op.responses||{})){
        const c=r.content&&Object.values(r.content)[0];
        body.append(el('h4',{},status+' '+r.description));
        if(c&&status<'300')body.append(el('pre',{},show(doc,c.schema)))}
      ops.append(el('details',{className:'op'},el('summary',{},el('span',{className:'m '+method},method),' '+path),body))}}
}).catch(e=>{document.getElementById('ops').textContent='Could not load openapi.json: '+e});
</script></body></html>
"""


@bp.get("/openapi.json")
@operation("This document", dict[str, Any])
def openapi_document():
    return document(current_app)


@bp.get("/docs")
@operation("This document rendered for people (assets served by the box)", Content("text/html", "HTML"))
def docs():
    return Response(PAGE, content_type="text/html; charset=utf-8")
