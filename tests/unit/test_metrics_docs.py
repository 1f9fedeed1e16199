"""The Grafana dashboard and the metrics table in docs/deploy.md name exactly the metrics the
server exports, with the labels it gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from twofold.observability.metrics import PrometheusMetrics

DOCS = Path(__file__).resolve().parents[2] / "docs"


def exported() -> dict[str, set[str]]:
    """Metric name as scraped (counters with _total) -> its label names, from a scrape after
    one call of every method."""
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.grant("password", "success")
    metrics.mfa_failure("otp")
    metrics.mfa_rate_limited("otp", "attempts")
    metrics.send_cap_tripped("sms")
    metrics.delivery("email", "sent")
    metrics.token_signed("RS256", 0.001)
    metrics.backend_error("redis")
    metrics.http_request("GET", "/healthz", 200, 0.01)
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            names.setdefault(base(sample.name), set()).update(set(sample.labels) - {"le"})
    return names


def base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_dashboard_queries_only_exported_metrics_and_labels() -> None:
    names = exported()
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = set()
    for expr in exprs:
        for name in re.findall(r"\btwofold_[a-z_]+", expr):
            assert base(name) in names, (name, expr)
            used.add(base(name))
        for grouped in re.findall(r"by \(([^)]*)\)", expr):
            for label in (g.strip() for g in grouped.split(",")):
                if label != "le":
                    assert any(label in labels for labels in names.values()), (label, expr)
    # Every metric has a panel.
    assert used == set(names), set(names) - used


def test_the_deploy_guide_documents_every_metric_with_its_labels() -> None:
    text = (DOCS / "deploy.md").read_text()
    rows = {
        m.group(1): {label.strip(" `") for label in m.group(2).split(",")}
        for m in re.finditer(r"^\| `(twofold_[a-z_]+)` \| \w+ \| ([^|]+) \|", text, re.MULTILINE)
    }
    assert rows == exported()
