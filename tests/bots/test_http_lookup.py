"""The flow bots' HTTP lookup step against real local servers: found, not found, and every
way the business's API can let us down (timeout, 500, bad JSON, HTML, 10 MB, a private
address), which hands the customer to a person as a bot error. And the demo's order lookup
against the order API the demo serves itself."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from bots.actions import HandOff, SendText, SetValue
from bots.demo import demo_flow_create, demo_lookup_service, demo_orders_load
from bots.demo_views import demo_lookup_token
from bots.flow import FlowRunner
from bots.inbound import Inbound
from bots.lookups import FAILED, FOUND, NOT_FOUND, lookup_run, path_get
from bots.models import Bot, BotSession, EscalationPolicy, FlowStep, Handoff, LookupService
from conversations.demo import load
from conversations.models import Conversation
from tests.factories import ConversationFactory
from tests.support.receiver_server import start_receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(settings):
    """The business's API: a real local HTTP server."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.OUTBOUND_REQUIRE_HTTPS = False
    state, server = start_receiver()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def service(api):
    return LookupService.objects.create(
        name="Shop", base_url=f"{api.url}/v1/", timeout_seconds=1.0,
        headers=json.dumps({"Authorization": "Bearer shop-secret", "X-Tenant": "acme"}),
    )


def lookup_step(service, **fields) -> FlowStep:
    bot = Bot.objects.create(name=f"Bot {time.monotonic_ns()}", kind=Bot.Kind.FLOW)
    values = {
        "key": "lookup", "kind": FlowStep.Kind.LOOKUP, "lookup": FlowStep.Lookup.HTTP, "lookup_service": service,
        "lookup_path": "customers/{customer}/orders/{order}", "lookup_params": "email",
        "lookup_map": {"status": "order.status", "first_item": "order.items[0].name", "total": "order.total",
                       "paid": "order.paid", "missing": "order.nothing"},
        "text": "Your order is {status}.", "not_found_text": "No such order.",
    }
    values.update(fields)
    return FlowStep.objects.create(bot=bot, **values)


VALUES = {"customer": "c/../42", "order": "A 1001?x=1", "email": "ana@example.com"}
ORDER = {"order": {"status": "shipped", "items": [{"name": "Lamp"}], "total": 19.5, "paid": True}}


def test_found_maps_answer_fields_and_sends_values_and_secret_headers(service, api):
    api.script(200, ORDER)
    result = lookup_run(lookup_step(service), dict(VALUES))

    assert result.outcome == FOUND
    assert result.values == {"status": "shipped", "first_item": "Lamp", "total": "19.5", "paid": "yes", "missing": ""}
    request = api.requests[0]
    assert request.method == "GET"
    # Collected values stay inside their path segment: no traversal, no extra query.
    assert request.path == "/v1/customers/c%2F..%2F42/orders/A%201001%3Fx%3D1"
    assert request.query == {"email": ["ana@example.com"]}
    assert request.headers["Authorization"] == "Bearer shop-secret" and request.headers["X-Tenant"] == "acme"


def test_post_sends_the_values_as_a_json_body(service, api):
    api.script(200, ORDER)
    result = lookup_run(lookup_step(service, lookup_method="POST", lookup_params="email, order"), dict(VALUES))

    assert result.outcome == FOUND
    assert api.requests[0].method == "POST"
    assert api.requests[0].json() == {"email": "ana@example.com", "order": "A 1001?x=1"}


@pytest.mark.parametrize("status, body, found_path", [
    (404, {"error": "no such order"}, ""),
    (200, {}, ""),
    (200, [], ""),
    (200, {"order": None}, "order"),
    (200, {"orders": []}, "orders[0].id"),
])
def test_not_found_answers(service, api, status, body, found_path):
    api.script(status, body)
    assert lookup_run(lookup_step(service, lookup_found_path=found_path), dict(VALUES)).outcome == NOT_FOUND


@pytest.mark.parametrize("answer, why", [
    ({"status": 500, "body": {"error": "db down"}}, "answered 500"),
    ({"status": 401, "body": {"error": "bad token"}}, "answered 401"),
    ({"status": 302, "body": {}, "headers": {"Location": "http://169.254.169.254/"}}, "answered 302"),
    ({"status": 200, "body": b"{not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
    ({"status": 200, "body": b"<html><body>Login</body></html>", "headers": {"Content-Type": "text/html"}},
     "text/html, not JSON"),
    ({"status": 200, "body": b"[" + b"1," * (5 * 1024 * 1024) + b"1]",
      "headers": {"Content-Type": "application/json"}}, "too_large"),
])
def test_failures_are_reported_with_a_reason(service, api, answer, why):
    api.script(answer["status"], answer["body"], headers=answer.get("headers"))
    result = lookup_run(lookup_step(service), dict(VALUES))
    assert result.outcome == FAILED and why in result.detail


def test_a_hanging_api_times_out(service, api):
    api.script(200, ORDER, delay=3)
    started = time.monotonic()
    result = lookup_run(lookup_step(service), dict(VALUES))
    assert result.outcome == FAILED and "timeout" in result.detail
    assert time.monotonic() - started < 2.5


def test_a_private_address_is_refused_without_the_setting(service, api, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    result = lookup_run(lookup_step(service), dict(VALUES))
    assert result.outcome == FAILED and "private or local address" in result.detail
    assert api.requests == []


def test_a_failing_lookup_hands_off_as_a_bot_error(service, api):
    api.script(200, b"<html>oops</html>", headers={"Content-Type": "text/html"})
    step = lookup_step(service)
    session = BotSession(conversation=ConversationFactory(), current_step=None)
    runner = FlowRunner(bot=step.bot, policy=EscalationPolicy(name="p"))
    step.bot.start_step = step
    step.bot.save()

    actions = runner.respond(session=session, inbound=Inbound("hi"))

    assert isinstance(actions[-1], HandOff) and actions[-1].reason == Handoff.Reason.BOT_ERROR
    assert "not JSON" in actions[-1].detail
    assert not [a for a in actions if isinstance(a, SendText)]


def test_found_and_not_found_branch_in_the_flow(service, api):
    step = lookup_step(service)
    step.next_step = FlowStep.objects.create(bot=step.bot, key="end", kind=FlowStep.Kind.END, text="Bye.")
    step.else_step = FlowStep.objects.create(bot=step.bot, key="sorry", kind=FlowStep.Kind.END, text="Sorry.")
    step.save()
    step.bot.start_step = step
    step.bot.save()
    runner = FlowRunner(bot=step.bot, policy=EscalationPolicy(name="p"))

    api.script(200, ORDER)
    found = runner.respond(session=BotSession(conversation=ConversationFactory(), values=VALUES), inbound=Inbound("x"))
    assert [a.text for a in found if isinstance(a, SendText)] == ["Your order is shipped.", "Bye."]
    assert SetValue("first_item", "Lamp") in found

    api.script(404, {})
    missing = runner.respond(session=BotSession(conversation=ConversationFactory(), values=VALUES), inbound=Inbound("x"))
    assert [a.text for a in missing if isinstance(a, SendText)] == ["No such order.", "Sorry."]


def test_customer_is_handed_to_a_person_when_the_order_api_hangs(customer, demo_bot, order_api, agent_online):
    LookupService.objects.filter(pk=demo_bot.steps.get(key="lookup-order").lookup_service_id).update(
        timeout_seconds=0.5)
    customer.says("hello")
    customer.taps("order-status", "Order status")
    order_api.script(200, {"order": {"number": "A1001"}}, delay=3)

    customer.says("A1001")

    assert customer.conversation.status in (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)
    handoff = Handoff.objects.get(conversation=customer.conversation)
    assert handoff.reason_code == Handoff.Reason.BOT_ERROR and "timeout" in handoff.detail


def test_path_syntax():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}, "list": [[5, 6]]}
    assert path_get(data, "a.b[1].c") == 2
    assert path_get(data, "a.b.0.c") == 1
    assert path_get(data, "list[0][1]") == 6
    assert path_get(data, "a.x") is not None and path_get(data, "a.b[5].c") is path_get(data, "a.x")


def test_service_headers_are_encrypted_at_rest(service):
    with connection.cursor() as cursor:
        cursor.execute("SELECT headers FROM bots_lookupservice WHERE id = %s", [service.pk])
        raw = cursor.fetchone()[0]
    assert "shop-secret" not in raw
    assert LookupService.objects.get(pk=service.pk).header_dict()["Authorization"] == "Bearer shop-secret"


def test_service_base_must_be_allow_listed_and_https_in_production(settings):
    settings.LOOKUP_ALLOWED_BASES = ["https://api.shop.example/"]
    settings.OUTBOUND_REQUIRE_HTTPS = True
    with pytest.raises(ValidationError) as bad:
        LookupService(name="x", base_url="https://evil.example/", headers="{}").full_clean()
    assert "LOOKUP_ALLOWED_BASES" in str(bad.value)
    with pytest.raises(ValidationError):
        LookupService(name="y", base_url="http://api.shop.example/", headers="{}").full_clean()
    with pytest.raises(ValidationError):
        LookupService(name="z", base_url="https://api.shop.example/v1/", headers="not json").full_clean()
    LookupService(name="ok", base_url="https://api.shop.example/v1/", headers='{"X-Key": "k"}').full_clean()


def test_demo_order_api_wants_its_token(client):
    demo_orders_load()
    assert client.get("/demo/orders/A1001/").status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {demo_lookup_token()}"}
    assert client.get("/demo/orders/Z9999/", **auth).status_code == 404
    answer = client.get("/demo/orders/%23%20a1001/", **auth)
    assert answer.status_code == 200 and answer.json()["order"]["status"] == "shipped"


def test_demo_flow_looks_orders_up_at_the_demo_served_by_this_server(live_server, number, policy):
    demo_orders_load()
    bot = demo_flow_create(number=number, lookup_service=demo_lookup_service(base_url=f"{live_server.url}/demo/"))
    session = BotSession(conversation=ConversationFactory(contact__number=number), current_step=bot.steps.get(
        key="ask-order"))

    actions = FlowRunner(bot=bot, policy=EscalationPolicy(name="p")).respond(session=session, inbound=Inbound("a1002"))

    assert [a.text for a in actions if isinstance(a, SendText)][0] == "Order A1002 is being packed. It will ship tomorrow."


def test_answer_values_are_kept_short_and_free_of_nul_characters(service, api):
    api.script(200, {"order": {"status": "ship\u0000ped", "items": [{"name": "x" * 5000}]}})
    result = lookup_run(lookup_step(service), dict(VALUES))
    assert result.values["status"] == "shipped"
    assert len(result.values["first_item"]) == 1000


def test_the_demo_loader_points_the_order_lookup_at_the_port_the_demo_serves(settings):
    settings.WHATSAPP_API_BASE_IS_SET = False
    load(StringIO(), port=8123)
    service = LookupService.objects.get(name="Demo orders")
    assert service.base_url == "http://127.0.0.1:8123/demo/"
    step = FlowStep.objects.get(key="lookup-order", bot__name="Demo assistant")
    assert step.lookup_service == service and step.lookup_map["order_status"] == "order.status"
    load(StringIO(), port=8124)
    assert LookupService.objects.get(name="Demo orders").base_url == "http://127.0.0.1:8124/demo/"
