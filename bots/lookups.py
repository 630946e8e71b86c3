"""Values a flow can look up by what the customer told it. Each lookup returns the values
it found (merged into the collected values) or None when nothing matches."""

from __future__ import annotations

import re

from bots.models import DemoOrder, FlowStep


def order_status(reference: str) -> dict[str, str] | None:
    cleaned = re.sub(r"[\s#]+", "", reference or "").upper()
    if not cleaned:
        return None
    order = DemoOrder.objects.filter(order_number__iexact=cleaned).first()
    if order is None:
        return None
    return {"order_number": order.order_number, "order_status": order.status, "order_detail": order.detail}


LOOKUPS = {FlowStep.Lookup.ORDER_STATUS: order_status}


def lookup_run(step: FlowStep, values: dict[str, str]) -> dict[str, str] | None:
    function = LOOKUPS.get(step.lookup)  # type: ignore[call-overload]
    if function is None:
        return None
    return function(values.get(step.value_name, ""))
