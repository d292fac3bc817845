"""Bad tenant configuration is refused with a clear message and nothing half-saved."""

from datetime import UTC, datetime, time

import pytest

from conftest import make_enterprise
from huibo.errors import ApplicationError
from tenants import selectors, services
from tenants.models import BoundNumber, Enterprise, WorkingHours
from tenants.phone import InvalidPhoneNumber

pytestmark = pytest.mark.django_db


def test_bound_number_is_normalised_to_e164(enterprise: Enterprise) -> None:
    bound = services.bound_number_create(enterprise=enterprise, number="139 0000 1005", label="Sales", priority=2)
    assert bound.number == "+8613900001005"


def test_invalid_bound_number_is_refused_and_nothing_saved(enterprise: Enterprise) -> None:
    # given
    before = list(BoundNumber.objects.values_list("number", flat=True))
    # when / then
    with pytest.raises(InvalidPhoneNumber, match="wrong length"):
        services.bound_number_create(enterprise=enterprise, number="+86 1390")
    assert list(BoundNumber.objects.values_list("number", flat=True)) == before


def test_the_same_number_cannot_be_bound_twice(enterprise: Enterprise) -> None:
    with pytest.raises(ApplicationError, match=r"\+8613800001100 is already bound"):
        services.bound_number_create(enterprise=enterprise, number="+86 138 0000 1100")
    assert BoundNumber.objects.filter(enterprise=enterprise).count() == 1


def test_two_enterprises_may_bind_the_same_number(enterprise: Enterprise) -> None:
    other = make_enterprise("initech", numbers=("+8613800001100",))
    assert other.bound_numbers.get().number == "+8613800001100"


def test_disabling_the_last_enabled_number_of_an_active_enterprise_is_refused(enterprise: Enterprise) -> None:
    bound = enterprise.bound_numbers.get()
    with pytest.raises(ApplicationError) as caught:
        services.bound_number_update(bound_number=bound, enabled=False)
    assert caught.value.code == "no_enabled_number"
    bound.refresh_from_db()
    assert bound.enabled is True


def test_deleting_the_last_enabled_number_is_refused(enterprise: Enterprise) -> None:
    with pytest.raises(ApplicationError, match="at least one enabled bound number"):
        services.bound_number_delete(bound_number=enterprise.bound_numbers.get())
    assert enterprise.bound_numbers.count() == 1


def test_activating_an_enterprise_without_numbers_is_refused(db: None) -> None:
    enterprise = services.enterprise_create(name="Empty Ltd", slug="empty")
    with pytest.raises(ApplicationError, match="at least one enabled bound number"):
        services.enterprise_update(
            enterprise=enterprise, status=Enterprise.Status.ACTIVE, hunting_strategy="simultaneous"
        )
    enterprise.refresh_from_db()
    assert (enterprise.status, enterprise.hunting_strategy) == ("suspended", "sequential")


def test_invalid_settings_are_refused_as_a_whole(enterprise: Enterprise) -> None:
    with pytest.raises(ApplicationError, match="Unknown time zone"):
        services.enterprise_update(enterprise=enterprise, ring_timeout_seconds=40, time_zone="Mars/Olympus")
    enterprise.refresh_from_db()
    assert (enterprise.ring_timeout_seconds, enterprise.time_zone) == (20, "Asia/Shanghai")


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ([], "at least one opening interval"),
        ([services.OpeningInterval(0, time(9), time(9))], "must be before the closing time"),
        ([services.OpeningInterval(0, time(18), time(9))], "must be before the closing time"),
        (
            [services.OpeningInterval(0, time(9), time(12)), services.OpeningInterval(0, time(11), time(14))],
            "09:00–12:00 and 11:00–14:00 overlap",
        ),
    ],
)
def test_bad_working_hours_are_refused_and_the_old_ones_kept(
    enterprise: Enterprise, intervals: list[services.OpeningInterval], message: str
) -> None:
    before = list(WorkingHours.objects.filter(enterprise=enterprise).values_list("weekday", "opens_at", "closes_at"))
    with pytest.raises(ApplicationError, match=message):
        services.working_hours_replace(enterprise=enterprise, intervals=intervals)
    after = list(WorkingHours.objects.filter(enterprise=enterprise).values_list("weekday", "opens_at", "closes_at"))
    assert after == before


def test_adjacent_intervals_are_allowed(enterprise: Enterprise) -> None:
    services.working_hours_replace(
        enterprise=enterprise,
        intervals=[services.OpeningInterval(0, time(9), time(12)), services.OpeningInterval(0, time(12), time(18))],
    )
    assert enterprise.working_hours.count() == 2


def test_next_opening_is_in_the_enterprise_time_zone_and_skips_holidays(enterprise: Enterprise) -> None:
    # given: open Monday to Friday 09:00–18:00 Shanghai time, and Monday 2026-11-23 is a holiday
    services.working_hours_replace(
        enterprise=enterprise, intervals=[services.OpeningInterval(d, time(9), time(18)) for d in range(5)]
    )
    services.holiday_add(enterprise=enterprise, date=datetime(2026, 11, 23).date(), name="Company day")
    saturday_noon_utc = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    # when
    opening = selectors.next_opening(enterprise=enterprise, at=saturday_noon_utc)
    # then: Tuesday 09:00 Shanghai is 01:00 UTC
    assert opening == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert not selectors.is_open(enterprise=enterprise, at=saturday_noon_utc)
    assert selectors.is_open(enterprise=enterprise, at=opening)
