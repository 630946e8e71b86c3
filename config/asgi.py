"""ASGI entry point: HTTP (Django, behind a body-size limit; its middleware run inline on the
event loop, config.inline_middleware; the WhatsApp webhook's POST answered in front of it
where its store is batched, conversations.webhook_asgi) and websockets: the desk's (session
auth, origin among ALLOWED_HOSTS) and web chat visitors' (token and inbox origins, checked by
their consumer)."""

import os

import django
from django.urls import re_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from config.inline_middleware import InlineASGIHandler  # noqa: E402

django_asgi_app = InlineASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.api_errors import ApiErrorBodies  # noqa: E402
from config.body_limit import BodySizeLimitMiddleware  # noqa: E402
from config.websocket_urls import webchat_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402
from conversations.webhook_asgi import WebhookReceiver  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimitMiddleware(WebhookReceiver(ApiErrorBodies(django_asgi_app))),
        "websocket": URLRouter(
            [
                *webchat_websocket_urlpatterns,
                re_path(r"", AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
            ]
        ),
    }
)
