#!/usr/bin/env python3
"""test_plot.py - bench/plot.py: the charts committed in docs/img are exactly what it makes of the
JSON committed in docs/bench-data (so neither drifts from the other), each is well-formed SVG
whose bars carry the figures of the JSON, docs/benchmarks.md shows every chart, and input it
cannot chart is refused with a message and exit status 1. Run by CTest (bench_test_plot)."""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PLOT = os.path.join(HERE, "plot.py")
DATA = sorted(glob.glob(os.path.join(ROOT, "docs", "bench-data", "*.json")))
IMG = os.path.join(ROOT, "docs", "img")
SVG = "{http://www.w3.org/2000/svg}"

sys.path.insert(0, HERE)
import plot  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_plot(out, files):
    return subprocess.run([sys.executable, PLOT, "--out", out] + files, capture_output=True, text=True)


class PlotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.res = run_plot(cls.tmp.name, DATA)
        cls.made = sorted(os.listdir(cls.tmp.name))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_committed_data_charts(self):
        self.assertGreaterEqual(len(DATA), 2, "docs/bench-data holds the sample JSON")
        self.assertEqual(self.res.returncode, 0, self.res.stderr)
        self.assertGreaterEqual(len(self.made), 5)

    def test_committed_charts_are_regenerated(self):
        committed = sorted(os.path.basename(p) for p in glob.glob(os.path.join(IMG, "*.svg")))
        self.assertEqual(committed, self.made, "docs/img holds exactly the charts plot.py makes")
        for name in self.made:
            with open(os.path.join(self.tmp.name, name), "rb") as a, open(os.path.join(IMG, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), "%s differs from what plot.py makes of docs/bench-data: "
                                 "rerun the command in docs/benchmarks.md" % name)

    def test_svgs_parse_and_have_bars(self):
        for name in self.made:
            root = ET.parse(os.path.join(self.tmp.name, name)).getroot()
            self.assertEqual(root.tag, SVG + "svg", name)
            bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
            self.assertGreater(len(bars), 0, name)
            for r in bars:
                self.assertGreaterEqual(float(r.get("height")), 0, name)

    def test_bars_carry_the_figures(self):
        """The writes chart's bars are the JSON's writes_per_s and puts_per_s, tallest the tallest."""
        src = [p for p in DATA if json.loads(load(p)).get("bench") == "dir-bench"]
        self.assertTrue(src, "a dir-bench sample")
        j = json.loads(load(src[0]))
        root = ET.parse(os.path.join(self.tmp.name, "dir-bench-writes.svg")).getroot()
        bars = {}
        for r in root.iter(SVG + "rect"):
            t = r.find(SVG + "title")
            if t is not None:
                bars[t.text] = float(r.get("height"))
        for run in j["runs"]:
            n = run["clients"]
            label = "%d client%s" % (n, "" if n == 1 else "s")
            key = "Strata, %s: %s" % (label, plot.fmt(run["strata"]["writes_per_s"]))
            self.assertIn(key, bars)
        top = max(max(r["strata"]["writes_per_s"], r["etcd"]["puts_per_s"]) for r in j["runs"])
        tall = max(bars.values())
        for title, h in bars.items():
            v = float(re.sub(r"[^0-9.]", "", title.split(": ")[-1])) * (1000 if title.endswith("k") else 1)
            self.assertAlmostEqual(h / tall, v / top, delta=0.02, msg=title)

    def test_benchmarks_md_shows_every_chart(self):
        md = load(os.path.join(ROOT, "docs", "benchmarks.md"))
        for name in self.made:
            self.assertIn("img/%s" % name, md)
        self.assertIn("bench/plot.py", md)

    def test_bad_input_refused(self):
        with tempfile.TemporaryDirectory() as d:
            cases = {"other.json": {"bench": "no-such-bench"}, "norun.json": {"bench": "dir-bench"},
                     "broken.json": None}
            for name, obj in cases.items():
                with open(os.path.join(d, name), "w") as f:
                    f.write("{not json" if obj is None else json.dumps(obj))
                out = os.path.join(d, "out-" + name)
                r = run_plot(out, [os.path.join(d, name)])
                self.assertEqual(r.returncode, 1, name)
                self.assertIn(name, r.stderr)
                self.assertEqual(os.listdir(out), [], name)

    def test_nice_axis(self):
        self.assertEqual(plot.nice_ceiling(37000), 50000)
        self.assertEqual(plot.nice_ceiling(1.7), 2)
        self.assertEqual(plot.nice_ceiling(0.21), 0.25)
        self.assertEqual(plot.fmt(23500), "23.5k")
        self.assertEqual(plot.fmt(0.26), "0.26")


if __name__ == "__main__":
    unittest.main(verbosity=2)
