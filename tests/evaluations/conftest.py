from __future__ import annotations

import pytest

from evaluations import sla


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def vendor(factory):
    return factory.vendor(name="Acme Outsourcing")


@pytest.fixture
def make_metric(admin, vendor):
    def make(entity=None, **fields):
        settings = {"name": "Availability", "unit": "%", "direction": "higher", "target": 99.9,
                    "aggregation": "mean", "period": "monthly", **fields}
        return sla.create_metric(admin, entity or vendor, **settings)

    return make
