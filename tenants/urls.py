from django.contrib.auth import views as auth_views
from django.urls import path

from tenants import views

app_name = "portal"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("settings/", views.settings_edit, name="settings"),
    path("numbers/", views.bound_number_list, name="bound_numbers"),
    path("numbers/new/", views.bound_number_edit, name="bound_number_new"),
    path("numbers/<int:pk>/", views.bound_number_edit, name="bound_number_edit"),
    path("numbers/<int:pk>/delete/", views.bound_number_delete, name="bound_number_delete"),
    path("hours/", views.working_hours_edit, name="working_hours"),
    path("hours/holidays/<int:pk>/delete/", views.holiday_delete, name="holiday_delete"),
]
