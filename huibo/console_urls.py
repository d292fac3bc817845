"""The operator console (/console/): each app contributes its own staff-only pages."""

from callback import console as callback_console

app_name = "console"

urlpatterns = [*callback_console.urlpatterns]
