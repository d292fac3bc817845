"""The operator console (/console/): each app contributes its own staff-only pages."""

from billing import console as billing_console
from callback import console as callback_console
from cdr import console as cdr_console

app_name = "console"

urlpatterns = [*callback_console.urlpatterns, *cdr_console.urlpatterns, *billing_console.urlpatterns]
