"""The application's URLs plus `bench/ping/`: a bare async Django view, the baseline
the webhook intake is measured against on the same server."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
async def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


urlpatterns = [
    path("bench/ping/", ping),
    path("", include("config.urls")),
]
