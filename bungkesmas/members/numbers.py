"""Member numbers: partner code + per-partner sequence + a Damm check digit.

Damm catches every single-digit error and every transposition of adjacent digits, which
is what happens when a number is read over the phone. Format: PPPP-SSSSSS-C
(e.g. 0012-000345-7); the partner code grows to five digits past partner 9999."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bungkesmas.extensions import db

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def check_digit(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def is_valid(number: str) -> bool:
    """True if `number` (dashes and spaces allowed) carries a correct check digit."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if len(digits) < 11 or len(digits) != len([c for c in number if c not in "- "]):
        return False
    return check_digit(digits) == 0


def normalise(number: str) -> str:
    """The canonical form PPPP-SSSSSS-C of a typed member number (or '' if malformed)."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if len(digits) < 11 or not is_valid(number):
        return ""
    return f"{digits[:-7]}-{digits[-7:-1]}-{digits[-1]}"


def format_number(partner_id: int, sequence: int) -> str:
    body = f"{partner_id:04d}{sequence:06d}"
    return f"{partner_id:04d}-{sequence:06d}-{check_digit(body)}"


def next_value(tenant_id: int, name: str) -> int:
    """Take the next value of a per-partner counter. The UPDATE locks the counter row,
    so concurrent transactions take turns and never see the same value; a missing counter
    row is created race-free with INSERT … ON CONFLICT DO NOTHING, then updated."""
    from bungkesmas.members.models import Counter
    from bungkesmas.tenancy import new_id

    increment, params = _increment_by_one(), {"counter_tenant": tenant_id, "counter_name": name}
    value = db.session.execute(increment, params).scalar_one_or_none()
    if value is not None:  # the counter exists (all but the first use): one statement
        return value
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(Counter).values(tenant_id=tenant_id, id=new_id(), name=name, value=0)
                       .on_conflict_do_nothing(index_elements=["tenant_id", "name"]))
    return db.session.execute(increment, params).scalar_one()


@cache
def _increment_by_one():
    """Built once (a receipt or member number is taken on every payment and enrollment).
    synchronize_session=False: no Counter object is kept in a session (the value is only
    ever read from RETURNING), so there is nothing to bring up to date."""
    from bungkesmas.members.models import Counter

    return (update(Counter).where(Counter.tenant_id == bindparam("counter_tenant"),
                                  Counter.name == bindparam("counter_name"))
            .values(value=Counter.value + 1).returning(Counter.value)
            .execution_options(synchronize_session=False))


def next_member_number(tenant_id: int) -> str:
    return format_number(tenant_id, next_value(tenant_id, "member_number"))


def take_values(tenant_id: int, name: str, count: int) -> range:
    """Take `count` consecutive values of a per-partner counter in one statement
    (UPDATE value = value + count RETURNING value) — for bulk imports. Same locking as
    `next_value`: concurrent takers wait for this transaction and never overlap."""
    from bungkesmas.members.models import Counter
    from bungkesmas.tenancy import new_id

    if count < 1:
        return range(0)
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(Counter).values(tenant_id=tenant_id, id=new_id(), name=name, value=0)
                       .on_conflict_do_nothing(index_elements=["tenant_id", "name"]))
    last = db.session.execute(
        update(Counter).where(Counter.tenant_id == tenant_id, Counter.name == name)
        .values(value=Counter.value + count).returning(Counter.value)).scalar_one()
    return range(last - count + 1, last + 1)


def take_member_numbers(tenant_id: int, count: int) -> list[str]:
    """`count` new member numbers of a partner, allocated at once."""
    return format_numbers(tenant_id, take_values(tenant_id, "member_number", count))


def format_numbers(partner_id: int, sequences: range) -> list[str]:
    """`format_number` of many sequence numbers: the check digit's state after the
    partner code and all but the last two sequence digits is computed once per 100."""
    out, head_state = [], {}
    prefix = f"{partner_id:04d}"
    for sequence in sequences:
        body = f"{sequence:06d}"
        head = body[:-2]
        interim = head_state.get(head)
        if interim is None:
            interim = head_state[head] = _damm_state(0, prefix + head)
        check = _DAMM[_DAMM[interim][ord(body[-2]) - 48]][ord(body[-1]) - 48]
        out.append(f"{prefix}-{body}-{check}")
    return out


def _damm_state(interim: int, digits: str) -> int:
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim
