"""Test set-up shared by unit, integration and end-to-end tests.

The collection is imported straight from this checkout through the link that
scripts/setup.sh makes: .collections/ansible_collections/ananta/platform -> the repository.
"""

import os
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

FIXTURES = os.path.join(ROOT, "tests", "fixtures")

from inventory_helpers import inventory_vars  # noqa: E402  pylint: disable=wrong-import-position


def load_fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def lab_vars():
    return inventory_vars("lab")
