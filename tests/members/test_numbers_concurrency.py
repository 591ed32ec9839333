"""Member numbers: no collisions under concurrent enrollment (PostgreSQL, real
transactions in parallel threads), and the Damm check digit catches every single-digit
error and every adjacent transposition."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bungkesmas import tenancy
from bungkesmas.extensions import db
from bungkesmas.members import numbers
from bungkesmas.members import services as members
from bungkesmas.members.models import Member, MemberRegistry

THREADS = 8
EACH = 5


def test_concurrent_registrations_get_distinct_consecutive_numbers(app, make, pg_only):
    partner = make.partner()
    partner_id = partner.id
    # Test data made up front: the factory (Faker, its counter) is not shared by threads.
    batches = [[make.member_data() for _ in range(EACH)] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(batch):
        try:
            with app.app_context():
                from bungkesmas.partners.models import Partner

                with tenancy.everything():
                    me = db.session.get(Partner, partner_id)
                start.wait(timeout=30)
                for data in batch:
                    with tenancy.scoped(tenancy.Scope.tenants(partner_id)):
                        number = members.register(None, me, data).member_number
                        db.session.commit()
                    with lock:
                        results.append(number)
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 — reported below
            with lock:
                errors.append(err)

    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a registration thread hung"
    assert errors == []
    assert len(results) == THREADS * EACH == len(set(results))
    assert all(numbers.is_valid(n) for n in results)
    sequences = sorted(int(n.split("-")[1]) for n in results)
    assert sequences == list(range(1, THREADS * EACH + 1))
    assert all(n.startswith(f"{partner_id:04d}-") for n in results)
    with tenancy.everything():
        stored = set(db.session.scalars(select(Member.member_number).where(
            Member.tenant_id == partner_id)))
        registry = set(db.session.scalars(select(MemberRegistry.member_number)))
    assert stored == registry == set(results)


valid_numbers = st.builds(numbers.format_number, st.integers(1, 99_999),
                          st.integers(1, 999_999))


def _digit_positions(number: str) -> list[int]:
    return [i for i, ch in enumerate(number) if ch.isdigit()]


@given(valid_numbers)
def test_a_formatted_number_is_valid_and_canonical(number):
    assert numbers.is_valid(number)
    assert numbers.normalise(number) == number
    assert numbers.normalise(number.replace("-", "")) == number


@given(valid_numbers)
def test_every_single_digit_error_is_detected(number):
    for i in _digit_positions(number):
        for digit in "0123456789":
            if digit != number[i]:
                typo = number[:i] + digit + number[i + 1:]
                assert not numbers.is_valid(typo), typo
                assert numbers.normalise(typo) == ""


@given(valid_numbers)
def test_every_adjacent_transposition_is_detected(number):
    positions = _digit_positions(number)
    for i, j in zip(positions, positions[1:], strict=False):
        if number[i] == number[j]:
            continue
        chars = list(number)
        chars[i], chars[j] = chars[j], chars[i]
        swapped = "".join(chars)
        assert not numbers.is_valid(swapped), swapped


@given(st.integers(1, 99_999), st.integers(1, 2_000_000), st.integers(0, 400))
def test_numbers_formatted_in_bulk_are_those_formatted_one_by_one(partner_id, first, count):
    sequences = range(first, first + count)
    assert numbers.format_numbers(partner_id, sequences) == [
        numbers.format_number(partner_id, sequence) for sequence in sequences]
