"""The OpenAPI schema declares every answer an operation can give.

Views declare their success body and their own refusals (409 codes, a 502 from WhatsApp);
this schema class adds the errors every operation shares, derived from what the operation
takes, so no decorator has to repeat them:

- 403 on every operation (no valid session or token, or not allowed), and 503 (the
  database briefly unreachable);
- 400 where the operation reads a body or query parameters (malformed JSON or multipart,
  a field that does not validate); 413 and 415 where it reads a body (over the size
  limit, a content type it does not parse);
- 404 where the path names an object (none, or one the user may not see) and on paginated
  lists (a page past the end).

Every error response, declared or added, carries the one `Error` component: the body
config.api_errors produces for every failure.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi

from config.api_errors import ErrorSerializer

SHARED_ERRORS = {
    "400": "`invalid`: the body or a parameter is malformed (not valid JSON or multipart, or a field "
    "that does not validate); `fields` says which, where it can.",
    "403": "`not_authenticated`: no valid session or token; `forbidden`: signed in but not allowed "
    "(also a session request without its CSRF token).",
    "404": "`not_found`: no such object, or not one this user may see.",
    "404_page": "`not_found`: no such page of the list.",
    "413": "`too_large`: the body is over the size limit (form and multipart bodies).",
    "415": "`unsupported_media_type`: the body's content type is not one this operation reads.",
    "503": "`unavailable`: the database is briefly unreachable; retry after `Retry-After` seconds.",
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        parameters = operation.get("parameters", [])
        locations = {parameter["in"] for parameter in parameters}
        names = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
        body = "requestBody" in operation

        shared = {"403": SHARED_ERRORS["403"], "503": SHARED_ERRORS["503"]}
        if body or "query" in locations:
            shared["400"] = SHARED_ERRORS["400"]
        if body:
            shared["413"] = SHARED_ERRORS["413"]
            shared["415"] = SHARED_ERRORS["415"]
        if "path" in locations:
            shared["404"] = SHARED_ERRORS["404"]
        elif "page" in names:
            shared["404"] = SHARED_ERRORS["404_page"]

        error = self.resolve_serializer(ErrorSerializer(), "response").ref
        media_types = self.map_renderers("media_type")
        for code, description in shared.items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400:
                response["content"] = {media_type: {"schema": error} for media_type in media_types}
                response["description"] = response.get("description") or shared.get(code, "An error.")
        operation["responses"] = dict(sorted(responses.items()))
        return operation
