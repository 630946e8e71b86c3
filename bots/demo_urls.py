"""Mounted under /demo/ only when settings.SANDBOX_ENABLED (see config/urls.py)."""

from django.urls import path

from bots import demo_views

urlpatterns = [
    path("orders/<str:reference>/", demo_views.demo_order, name="demo-order"),
]
