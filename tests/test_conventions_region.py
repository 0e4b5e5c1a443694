"""The shared conventions (``tests/conventions.py``) on the region losses, Lovász and the compound
recipes; ``test_conventions_pixel_spatial.py`` has the rest of the table (two files, so that the
two halves run on different workers)."""

from tests.conventions import *  # noqa: F403 - the checks, parametrized by CASE_NAMES
from tests.conventions import (
    REGION_FAMILIES,
    cases_of,
    check_every_public_loss_is_in_the_table,
)

CASE_NAMES = cases_of(*REGION_FAMILIES)


def test_every_public_loss_is_in_the_table():
    check_every_public_loss_is_in_the_table()
