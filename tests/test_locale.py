"""The compiled catalogues in locale/ are committed: each .mo must match its .po."""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale"
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


def test_every_shipped_customer_language_has_a_catalogue():
    languages = {po.parent.parent.name for po in CATALOGUES}
    assert {"es", "pt", "de", "fr", "hi"} <= languages


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_compiled_catalogue_matches_its_source(po, tmp_path):
    compiled = tmp_path / "out.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(po)], check=True)  # noqa: S603,S607
    with compiled.open("rb") as fresh, po.with_suffix(".mo").open("rb") as committed:
        # Compared as catalogues (every message and plural form), not byte for byte, so another
        # gettext version's file layout does not matter.
        expected = gettext.GNUTranslations(fresh)._catalog  # type: ignore[attr-defined]
        actual = gettext.GNUTranslations(committed)._catalog  # type: ignore[attr-defined]
    assert actual == expected, f"{po.with_suffix('.mo')} is stale: run `python manage.py compilemessages`"
