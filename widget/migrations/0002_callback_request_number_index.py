"""An index for the in-flight checks every submission makes (``callback.selectors.requests_in_flight_for_number``
and ``request_in_flight`` filter callback requests by visitor number): without it each check reads the whole
table, a cost that grows with every request ever taken.

It is on the engine's table and belongs in ``CallbackRequest.Meta.indexes``; created here until the engine
declares it there.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("callback", "0001_initial"),
        ("widget", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS callback_request_visitor_number_idx"
            " ON callback_callbackrequest (visitor_number)",
            reverse_sql="DROP INDEX IF EXISTS callback_request_visitor_number_idx",
        ),
    ]
