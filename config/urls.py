from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api_errors import api_not_found
from config.health import healthz
from conversations.providers.webchat.views import widget_js

api_v1 = [
    path("", include("conversations.api_urls")),
    path("", include("agents.api_urls")),
    path("", include("bots.api_urls")),
    path("", include("notifications.api_urls")),
]

urlpatterns = [
    path("webhooks/", include("conversations.webhook_urls")),
    path("widget.js", widget_js, name="webchat-widget"),
    path("webchat/", include("conversations.webchat_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # A browser without a session is sent to sign in, then back to the docs.
    path("api/docs/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("media/", include("conversations.media_urls")),
    path("", include("agents.urls")),
    path("", include("notifications.compliance_urls")),
    # Last: any other path under /api/ answers the API's JSON 404, not the site's page. Only
    # paths ending in a slash, so a path missing its slash is still redirected to it.
    re_path(r"^api/.*/$", api_not_found),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("conversations.providers.sandbox.urls")))
    # The demo's own order API, called by the demo flow's HTTP lookup step.
    urlpatterns.append(path("demo/", include("bots.demo_urls")))
