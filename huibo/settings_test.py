"""Test settings: the real PostgreSQL and Redis of this machine unless the environment names others."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/huibo")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from huibo.settings import *  # noqa: E402,F403

# Hashing cost is not what the tests check.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Threads of the end-to-end tests (Celery worker, listener) must not keep connections that block dropping the test
# database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Several people may run the suite at once on one machine: each can pick their own test database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("HUIBO_TEST_DB", "test_huibo")}  # noqa: F405
