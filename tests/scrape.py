"""Reading the app's ``/metrics`` in tests: the text exposition parsed by prometheus_client's
own parser, sample values looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: its raw text and every sample's value by ``(name, labels)``."""

    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(text, samples)

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a series not exposed yet (a counter never incremented)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def exposed_types(self) -> dict[str, str]:
        """Name → type of each ``# TYPE`` line, without prometheus_client's ``_created`` series."""
        types = {}
        for line in self.text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                if not name.endswith("_created"):
                    types[name] = kind
        return types


def scrape(base_url: str) -> Scrape:
    """``GET {base_url}/metrics`` over real HTTP; asserts a 200 in the text format."""
    response = httpx.get(f"{base_url}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    """How much one series changed between two scrapes."""
    return after.value(name, **labels) - before.value(name, **labels)
