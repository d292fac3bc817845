"""Operations endpoints at the site root: liveness, readiness and Prometheus metrics."""

from django.urls import path

from integrations import health, metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
]
