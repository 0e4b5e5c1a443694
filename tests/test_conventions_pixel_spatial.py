"""The shared conventions (``tests/conventions.py``) on the pixel-wise, distance-based, topology
and adjacency losses; ``test_conventions_region.py`` has the rest of the table."""

from tests.conventions import *  # noqa: F403 - the checks, parametrized by CASE_NAMES
from tests.conventions import PIXEL_SPATIAL_FAMILIES, cases_of

CASE_NAMES = cases_of(*PIXEL_SPATIAL_FAMILIES)
