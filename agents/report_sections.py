"""Report sections of a higher app: campaign delivery.

The reports (`agents.reports`) cover conversations; campaigns are the notifications app's,
which registers its delivery report here from its `AppConfig.ready()`:

    register_campaign_report(campaign_delivery_report)

`fn(start=..., end=...)` returns a row per campaign that sent in [start, end). Without one
registered the reports have no campaign rows. This keeps the app graph one-way:
notifications imports agents, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

CampaignReportFn = Callable[..., list[dict[str, Any]]]
_CAMPAIGN_REPORT: list[CampaignReportFn] = []


def register_campaign_report(fn: CampaignReportFn) -> None:
    """Register (or replace) the campaign delivery report."""
    _CAMPAIGN_REPORT[:] = [fn]


def campaign_report(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The registered campaign delivery report for [start, end); [] when none is."""
    return _CAMPAIGN_REPORT[0](start=start, end=end) if _CAMPAIGN_REPORT else []
