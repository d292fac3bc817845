"""The operator console's engine pages: staff see every tenant's live calls and every node; others see nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from callback.models import AsteriskNode

pytestmark = pytest.mark.django_db


def test_enterprise_admins_cannot_open_the_console(client: Client, enterprise_admin) -> None:  # type: ignore[no-untyped-def]
    client.force_login(enterprise_admin)
    for name in ("console:live_calls", "console:nodes"):
        assert client.get(reverse(name)).status_code == 302  # to the staff login


def test_staff_see_each_nodes_ami_state(client: Client, admin_user) -> None:  # type: ignore[no-untyped-def]
    AsteriskNode.objects.create(name="pbx-east", host="10.0.0.5", username="huibo", secret="s", ami_state="down")
    client.force_login(admin_user)
    page = client.get(reverse("console:nodes")).content.decode()
    assert "pbx-east" in page and "10.0.0.5:5038" in page and "Down" in page
