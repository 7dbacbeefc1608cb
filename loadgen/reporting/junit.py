"""JUnit XML for CI systems: one test case per SLO objective (run) or per compared metric (compare).

The layout is the common subset every CI reader accepts (Jenkins, GitLab, GitHub actions
reporters): ``<testsuites><testsuite name tests failures skipped><testcase classname name
time><failure message>...</failure></testcase>...``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from userinput.errors import InputError


def _suite(root: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, tests="0", failures="0", skipped="0", errors="0")


def _case(suite: ET.Element, classname: str, name: str, failure: str | None = None,
          skipped: str | None = None, output: str = "") -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    if failure is not None:
        ET.SubElement(case, "failure", message=failure, type="failure").text = failure
        suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    elif skipped is not None:
        ET.SubElement(case, "skipped", message=skipped)
        suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    if output:
        ET.SubElement(case, "system-out").text = output


def run_junit(summary: dict[str, Any]) -> ET.Element:
    """A suite per run: one case per SLO objective, the error-rate bound and run validity."""
    root = ET.Element("testsuites", name="inferload")
    name = f"inferload.{summary.get('scenario', 'scenario')}"
    suite = _suite(root, name)
    slo = summary.get("slo") or {}
    for o in slo.get("objectives") or []:
        label = f"{o['metric']} p{o['percentile']:g} <= {o['max_ms']:g} ms"
        judged = o.get("judged_ms", o.get("value_ms"))
        value = "no samples" if judged is None else f"{judged:.1f} ms"
        if o.get("judged_on") == "upper_bound":
            value = f"upper bound ({o.get('ci_confidence', 0):.0%}) " + (o.get("note") or value)
        detail = f"{value} (point {o.get('value_ms')}, n={o.get('samples')}, phases {', '.join(slo.get('judged_phases', []))})"
        _case(suite, name, label, None if o["passed"] else f"{label}: {detail}", output=detail)
    if slo.get("max_error_rate") is not None:
        label = f"error rate <= {slo['max_error_rate']:g}"
        detail = f"error rate {slo.get('error_rate', 0):.4f}"
        _case(suite, name, label, None if slo.get("error_rate_passed") else f"{label}: {detail}", output=detail)
    v = summary.get("verdict") or {}
    valid = bool(summary.get("valid", True))
    _case(suite, name, "run is valid (load generator kept up)",
          None if valid else f"invalid run: {v.get('rule', '')}", output=str(v.get("rule", "")))
    return root


def compare_junit(comparisons: list[Any]) -> ET.Element:
    """One suite per compared run; one case per judged metric and phase (skipped when not tested)."""
    root = ET.Element("testsuites", name="inferload-compare")
    for c in comparisons:
        name = f"inferload.compare.{c.base}.vs.{c.other}"
        suite = _suite(root, name)
        for r in c.rows:
            if not r.judged:
                continue
            d = r.to_dict()
            label = f"{r.phase} {r.metric}"
            rel = "unbounded" if d["relative_unbounded"] else ("-" if d["relative"] is None else f"{d['relative']:+.1%}")
            detail = f"{r.base} -> {r.other} ({rel}); {d['test']} p = {d['p_value']}"
            if r.regression:
                _case(suite, name, label, f"regression beyond {r.bound:.1%}: {detail}", output=detail)
            elif d["p_value"] is None:
                _case(suite, name, label, skipped=f"not tested (too few per-request records): {detail}")
            else:
                _case(suite, name, label, output=detail)
    return root


def write(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None


__all__ = ["compare_junit", "run_junit", "write"]
