"""Test settings: the real settings, with tasks run inline after commit and fast hashing.

`DATABASE_URL` and `REDIS_URL` still decide the database, channel layer and cache, so
`.ci/run` exercises PostgreSQL and Redis.
"""

import os

os.environ.setdefault("DEBUG", "1")

from config.settings import *  # noqa: E402,F403

TASKS_MODE = os.environ.get("TEST_TASKS_MODE", "inline")
# Webhooks posted through Django's test client are stored in the request's thread, inside
# the test's transaction; tests/conversations/test_webhook_store.py covers the batched store.
WEBHOOK_STORE_BATCHED = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SANDBOX_ENABLED = True
WHATSAPP_API_BASE = "http://127.0.0.1:9/unreachable-graph"
