#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the JSON examples of docs/protocol.md (run from the
repository root: python3 fuzz/seed_corpus.py). Each example goes to the targets that decode
its shape; a few hand-written pages cover every change type and the status rules."""
import hashlib, json, os, re

doc = open("docs/protocol.md", encoding="utf-8").read()
blocks = re.findall(r"```json\n(.*?)```", doc, re.S)

def put(target, text):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    data = text.encode("utf-8")
    name = "seed-" + hashlib.sha256(data).hexdigest()[:16]
    open(os.path.join(d, name), "wb").write(data)

for b in blocks:
    if '"server_time"' in b:
        put("handshake", b)
    elif '"results"' in b:
        put("push_reply", b)
    elif '"changes"' in b:
        put("pull_page", b)
        put("apply_page", b)
    elif '"complete"' in b:
        put("photo_status", b)

ring = [[130.97, 45.295], [130.98, 45.295], [130.98, 45.305], [130.97, 45.305]]
changes = [
    {"type": "grid_upsert", "code": "G1", "name": "网格", "crs": "wgs84", "ring": ring},
    {"type": "point_upsert", "id": "P1", "grid_code": "G1", "name": "点", "crs": "gcj02",
     "lat": 45.3, "lon": 130.975, "radius_m": 0.0},
    {"type": "household_upsert", "id": "H1", "grid_code": "G1", "building": "1", "address": "a",
     "crs": "bd09", "lat": 45.3, "lon": 130.975, "tags": ["elderly_alone"]},
    {"type": "report_status", "report_id": "r-own", "status": "accepted", "department": "water",
     "note": None, "evaluation": None, "at": "2026-03-01T08:15:30Z"},
    {"type": "report_status", "report_id": "r-own", "status": "draft", "department": None,
     "note": None, "evaluation": None, "at": "2026-03-01T08:15:30Z"},
    {"type": "report_status", "report_id": "r-draft", "status": "accepted", "department": None,
     "note": None, "evaluation": None, "at": "2026-03-01T08:15:30Z"},
    {"type": "report_upsert", "id": "R9", "category": "c", "description": "d", "crs": "wgs84",
     "lat": 45.3, "lon": 130.975, "status": "queued", "created_at": "2026-03-01T08:15:30Z"},
    {"type": "task_upsert", "id": "T1", "title": "t", "description": "d", "crs": None, "lat": None,
     "lon": None, "address": None, "due_at": None, "linked_report_id": None,
     "status": "dispatched", "dispatched_at": "2026-03-01T08:15:30Z"},
    {"type": "worker_grids", "grid_codes": ["G1"]},
    {"type": "point_delete", "id": "P1"},
    {"type": "household_delete", "id": "H1"},
    {"type": "grid_delete", "code": "G1"},
]
page = json.dumps({"changes": changes, "next_cursor": "7", "has_more": False}, ensure_ascii=False)
put("pull_page", page)
put("apply_page", page)
hs = json.loads(next(b for b in blocks if '"server_time"' in b).replace('"0193c2a4-..."', '"s1"'))
hs["device_last_seq"] = 42
put("handshake", json.dumps(hs, ensure_ascii=False))
