"""CDRs are written once and updated in place a few times (rated, reconciled, put on an invoice). Leaving a fifth of
each page free lets PostgreSQL make those updates in the same page (HOT) without touching the indexes that do not
change. Every index a CDR carries is written again when an invoice claims the row, so only the ones that pay their
way stay: the console orders by id instead of by start across tenants, a void finds its CDRs through the tenant's
index, and nothing looks CDRs up by callback request."""

from django.db import migrations, models


def fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cdr_calldetailrecord SET (fillfactor = 80)", params=None)


def fillfactor_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cdr_calldetailrecord RESET (fillfactor)", params=None)


class Migration(migrations.Migration):
    dependencies = [("cdr", "0002_callsummary_recordingsetting_and_more")]

    operations = [
        migrations.AlterField(
            model_name="calldetailrecord",
            name="callback_request_id",
            field=models.BigIntegerField(),
        ),
        migrations.RemoveIndex(model_name="calldetailrecord", name="cdr_invoice"),
        migrations.RemoveIndex(model_name="calldetailrecord", name="cdr_calldet_started_2ecb12_idx"),
        migrations.RunPython(fillfactor, fillfactor_default),
    ]
