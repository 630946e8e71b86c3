"""The API keeps to its OpenAPI schema, checked by schemathesis from the schema itself.

For every operation, schemathesis builds requests from the schema: its coverage phase
(boundary values, missing and wrongly typed fields, invalid path parameters) and a few
generated ones (valid and invalid, in every content type the operation reads). Each
request goes to the live ASGI application (config.asgi) with a persona's API token;
every answer must be no server error and must have a documented status code, content
type and body. Path parameters name real objects of the agent's team, so the outsider
meets the 404 of another team's objects and the others the real code paths.

The run is bounded: generation is derandomized and capped per operation, so it costs the
same every time (`SCHEMA_FUZZ_EXAMPLES` raises the cap for a deeper local run). The data
is made once for the module and committed, since the application answers from its own
threads and database connections, and flushed when the module ends: one flush instead of
one per operation (each costs most of a second on PostgreSQL).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from config.asgi import application
from tests.factories import NumberFactory, TeamFactory, UserFactory
from tests.support.api_world import api_world
from tests.support.graph_server import start_graph_server

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PERSONAS = ("admin", "supervisor", "agent", "outsider")

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application
schema.config.generation.update(max_examples=int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "3")))
# A method an operation does not have answers 405, which none of these checks judges.
schema.config.phases.coverage.unexpected_methods = set()


@pytest.fixture
def _django_db_helper(django_db_setup, django_db_blocker):
    """This module's tests share the committed data of `world` instead of pytest-django's
    per-test transaction or flush; the `django_db` mark still makes sure the test database
    is the one in use."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The personas of tests/conftest.py (same names, teams and roles) and `api_world`,
    made once for the module; the number's Graph API is a real local stand-in."""
    graph, server = start_graph_server()
    try:
        with django_db_blocker.unblock():
            team = TeamFactory(name="Support", slug="support")
            agent = UserFactory(username="agent")
            team.members.add(agent)
            outsider = UserFactory(username="outsider")
            TeamFactory(name="Sales", slug="sales").members.add(outsider)
            supervisor = UserFactory(username="supervisor")
            team.supervisors.add(supervisor)
            admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
            try:
                yield api_world(
                    number=NumberFactory(api_base=graph.base_url), team=team,
                    admin=admin, supervisor=supervisor, agent=agent, outsider=outsider,
                )
            finally:
                call_command("flush", interactive=False, verbosity=0)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, world):
    phase = case.meta.phase if case.meta is not None else None
    coverage = phase is not None and phase.name == "coverage"
    if coverage and case.media_type not in (None, "application/json"):
        # The coverage phase repeats every body case per media type; form and multipart
        # bodies come in the generated cases and in tests/api/test_api_errors.py.
        return
    if not (coverage and phase.data.parameter_location == "path"):
        # Real objects, unless the case is about an invalid path parameter.
        for name in list(case.path_parameters or {}):
            if name in world["path"]:
                case.path_parameters[name] = world["path"][name]
    # Coverage cases probe input validation, the same for everyone past the access check:
    # the admin sends them. Generated cases go out as every persona.
    for persona in ("admin",) if coverage else PERSONAS:
        case.call_and_validate(headers=world["headers"][persona], checks=CHECKS)
