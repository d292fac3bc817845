from django.urls import path

from cdr import views

app_name = "cdr"

urlpatterns = [
    path("", views.cdr_list, name="cdrs"),
    path("export.csv", views.cdr_export, name="cdrs_export"),
    path("recordings/", views.recording_list, name="recordings"),
    path("recordings/settings/", views.recording_settings, name="recording_settings"),
    path("recordings/<int:pk>/play/", views.recording_file, name="recording_play"),
    path("recordings/<int:pk>/download/", views.recording_file, {"download": True}, name="recording_download"),
]
