"""Reminders: the Indonesian text, what is produced on a date, sending through the
configured sender exactly once (also when run twice or at the same time), members
without a phone, failures and retries, reminders that are no longer due, transfers and
the log sender's privacy."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from bungkesmas import tenancy
from bungkesmas.audit.models import AuditEvent
from bungkesmas.contributions import services as ledger
from bungkesmas.contributions.coverage import add_months
from bungkesmas.extensions import db
from bungkesmas.members import services as members
from bungkesmas.members.models import Member
from bungkesmas.partners.services import transition
from bungkesmas.reminders import services
from bungkesmas.reminders.models import Reminder, ReminderReason, ReminderStatus
from bungkesmas.reminders.senders import LogSender, SendFailed, mask_phone, sender
from bungkesmas.timeutil import local_today
from tests.reminders.conftest import TODAY, Book, C


class RecordingSender:
    """A sender for the tests: keeps what it sent (class-wide, across instances)."""

    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    def __init__(self, config=None):
        pass

    def send(self, to: str, body: str, *, reference: str) -> None:
        with self.lock:
            self.sent.append((to, body))


class RefusingSender:
    def __init__(self, config=None):
        pass

    def send(self, to: str, body: str, *, reference: str) -> None:
        raise SendFailed("gateway quota exceeded")


@pytest.fixture
def recording():
    RecordingSender.sent = []
    return RecordingSender()


def reminders_of(partner) -> list[Reminder]:
    with tenancy.scoped(tenancy.Scope.tenants(partner.id)):
        return list(db.session.scalars(select(Reminder).order_by(Reminder.due_on)))


def phone_of(enrollment) -> str:
    return db.session.get(Member, (enrollment.tenant_id, enrollment.member_id)).phone


# --- the text ---------------------------------------------------------------------------


def test_the_text_names_the_member_the_amount_the_date_and_whom_to_pay_in_indonesian(app):
    text = services.reminder_text(
        ReminderReason.DUE_SOON, name="Siti Aminah", product="Bungkesmas", amount=150_000,
        due_on=date(2025, 3, 20), grace_until=date(2025, 4, 19), partner="YLP2EM Parepare",
        partner_phone="+6281234567890")
    assert text == ("Yth. Siti Aminah, iuran Bungkesmas Rp150.000 jatuh tempo 20-03-2025. "
                    "Mohon bayar di YLP2EM Parepare 0812-3456-7890")
    grace = services.reminder_text(
        ReminderReason.GRACE, name="Siti Aminah", product="Bungkesmas", amount=100_000,
        due_on=date(2025, 3, 1), grace_until=date(2025, 3, 31), partner="YLP2EM",
        partner_phone="+6281234567890")
    assert "Rp100.000" in grace and "01-03-2025" in grace and "31-03-2025" in grace
    assert grace.startswith("Yth. Siti Aminah, iuran Bungkesmas")
    lapsed = services.reminder_text(
        ReminderReason.LAPSED, name="Siti Aminah", product="Bungkesmas", amount=150_000,
        due_on=date(2025, 1, 15), grace_until=date(2025, 2, 14), partner="YLP2EM",
        partner_phone="+6281234567890")
    assert "14-02-2025" in lapsed and "Rp150.000" in lapsed and "aktif kembali" in lapsed
    for message in (text, grace, lapsed):
        assert len(message) <= services.SMS_LENGTH


@pytest.mark.parametrize("reason", list(ReminderReason))
def test_long_names_are_shortened_at_word_boundaries_to_fit_one_sms(app, reason):
    text = services.reminder_text(
        reason, name="Hajjah Andi Besse Sitti Nurhayati Daeng Tayang Binti Muhammad Saleh",
        product="Bungkesmas", amount=1_500_000, due_on=date(2025, 12, 31),
        grace_until=date(2026, 1, 30),
        partner="Yayasan Lembaga Pengkajian dan Pengembangan Ekonomi Masyarakat Parepare",
        partner_phone="+6281234567890")
    assert len(text) <= services.SMS_LENGTH, text
    assert text.startswith("Yth. Hajjah Andi")
    assert "Rp1.500.000" in text and "0812-3456-7890" in text and "Yayasan" in text


# --- producing and sending --------------------------------------------------------------


def test_a_run_produces_the_reminders_due_on_the_date_and_sends_each_once(book, recording):
    soon = book.paid_on(date(2024, 3, 20))     # cover ends in 5 days: due soon
    book.paid_on(date(2024, 3, 31))            # ends in 16 days: not yet
    grace = book.paid_on(date(2024, 3, 1))     # ended: in grace
    lapsed = book.paid_on(date(2024, 1, 15))   # lapsed 29 days ago
    book.paid_on(date(2024, 1, 2))             # lapsed 42 days ago: not reminded any more
    book.member()                              # never paid: no reminder
    book.paid_on(date(2024, 3, 5), phone=None)  # in grace, no phone: skipped and counted
    book.member((date(2024, 3, 12), 2 * C))    # prepaid

    counts = services.run(recording, today=TODAY)
    assert (counts.produced, counts.sent, counts.failed, counts.skipped_no_phone) == (3, 3, 0, 1)
    stored = reminders_of(book.partner)
    assert [(r.reason, r.due_on, r.status, r.amount_due, r.attempts) for r in stored] == [
        (ReminderReason.LAPSED, date(2025, 1, 15), ReminderStatus.SENT, C, 1),
        (ReminderReason.GRACE, date(2025, 3, 1), ReminderStatus.SENT, C, 1),
        (ReminderReason.DUE_SOON, date(2025, 3, 20), ReminderStatus.SENT, C, 1)]
    assert all(r.sent_at is not None for r in stored)
    assert sorted(recording.sent) == sorted((r.recipient, r.body) for r in stored)
    assert {r.recipient for r in stored} == {phone_of(e) for e in (soon, grace, lapsed)}
    assert "20-03-2025" in stored[2].body and book.partner.name[:10] in stored[2].body

    again = services.run(recording, today=TODAY)
    assert (again.produced, again.sent) == (0, 0)
    assert len(recording.sent) == 3 and len(reminders_of(book.partner)) == 3
    # The next day, nothing new either: one reminder per enrollment, reason and due date.
    assert services.run(recording, today=TODAY + timedelta(days=1)).produced == 0


def test_the_next_stage_of_the_same_due_date_is_a_new_reminder(book, recording):
    book.paid_on(date(2024, 3, 20))
    services.run(recording, today=TODAY)                 # due soon
    services.run(recording, today=date(2025, 3, 21))     # in grace
    services.run(recording, today=date(2025, 4, 25))     # lapsed on 19 April
    assert [(r.reason, r.due_on) for r in reminders_of(book.partner)] == [
        (ReminderReason.DUE_SOON, date(2025, 3, 20)), (ReminderReason.GRACE, date(2025, 3, 20)),
        (ReminderReason.LAPSED, date(2025, 3, 20))]
    assert len(recording.sent) == 3


def test_a_reminder_whose_member_paid_before_it_was_sent_is_not_sent(book, recording):
    enrollment = book.paid_on(date(2024, 3, 1))  # in grace on TODAY
    services.produce(book.partner, TODAY)
    tenancy.enter_workspace(book.partner.id)
    ledger.record_payment(None, enrollment, "cash", C, date(2024, 12, 1))
    db.session.commit()

    counts = services.send_pending(book.partner, recording, TODAY)
    assert (counts.sent, counts.obsolete) == (0, 1)
    assert recording.sent == []
    assert [r.status for r in reminders_of(book.partner)] == [ReminderStatus.OBSOLETE]


def test_a_failed_reminder_is_tried_again_by_later_runs_up_to_the_limit(app, book, recording):
    book.paid_on(date(2024, 3, 1))
    first = services.run(RefusingSender(), today=TODAY)
    assert (first.produced, first.sent, first.failed) == (1, 0, 1)
    (reminder,) = reminders_of(book.partner)
    assert reminder.status == ReminderStatus.FAILED and reminder.failed_at is not None
    assert reminder.error == "gateway quota exceeded" and reminder.attempts == 1

    app.config["REMINDER_MAX_ATTEMPTS"] = 2
    assert services.run(RefusingSender(), today=TODAY).failed == 1  # attempt 2 of 2
    assert services.run(RefusingSender(), today=TODAY).failed == 0  # given up
    app.config["REMINDER_MAX_ATTEMPTS"] = 3
    assert services.run(recording, today=TODAY).sent == 1
    (reminder,) = reminders_of(book.partner)
    assert (reminder.status, reminder.attempts) == (ReminderStatus.SENT, 3)
    assert services.run(recording, today=TODAY).sent == 0


def test_each_partner_reminds_its_own_members_with_its_own_name(make, recording):
    parent = Book(make, make.partner(name="Yayasan Induk Parepare"))
    child = Book(make, make.partner(parent=parent.partner, name="Bank Sampah Labukkang"))
    parent.paid_on(date(2024, 3, 1))
    child.paid_on(date(2024, 3, 2))
    counts = services.run(recording, today=TODAY)
    assert counts.sent == 2
    (of_parent,) = reminders_of(parent.partner)
    (of_child,) = reminders_of(child.partner)
    assert "Yayasan Induk" in of_parent.body and "Bank Sampah" in of_child.body
    # A suspended partner's data is read-only: its members are not messaged.
    suspended = Book(make, make.partner())
    suspended.paid_on(date(2024, 3, 3))
    with tenancy.everything():
        transition(make.admin, suspended.partner, "suspend", "Laporan terlambat")
        db.session.commit()
    assert services.run(recording, today=TODAY).produced == 0
    assert reminders_of(suspended.partner) == []
    with tenancy.everything():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "reminders.send")).all()
    assert sorted(e.partner_id for e in events) == sorted([parent.partner.id, child.partner.id])
    assert events[0].after["sent"] == 1


def test_reminders_follow_a_transferred_member_and_are_not_sent_again(make, book, recording):
    enrollment = book.paid_on(date(2024, 3, 1))
    services.run(recording, today=TODAY)
    other = Book(make, make.partner())
    with tenancy.everything():
        members.transfer(make.admin, [enrollment.member_id], other.partner)
        db.session.commit()
    assert reminders_of(book.partner) == []
    (moved,) = reminders_of(other.partner)
    assert moved.status == ReminderStatus.SENT
    assert services.run(recording, today=TODAY).produced == 0
    assert len(recording.sent) == 1


def test_the_command_sends_what_is_due_today_once_however_often_it_runs(app, book, recording):
    today = local_today()
    # Paid a year ago: the cover ends today (grace from today on).
    book.paid_on(add_months(today, -12))
    book.paid_on(add_months(today, -12), phone=None)
    app.config["REMINDER_SENDER"] = "tests.reminders.test_reminders:RecordingSender"
    runner = app.test_cli_runner()

    first = runner.invoke(args=["reminders", "send"])
    assert first.exit_code == 0, first.output
    assert "1 new, 1 sent" in first.output and "1 members skipped" in first.output
    second = runner.invoke(args=["reminders", "send", "--partner", book.partner.slug])
    assert second.exit_code == 0 and "0 new, 0 sent" in second.output
    assert len(RecordingSender.sent) == 1
    unknown = runner.invoke(args=["reminders", "send", "--partner", "tidak-ada"])
    assert unknown.exit_code != 0 and "No active partner" in unknown.output


def test_concurrent_runs_send_every_reminder_exactly_once(app, make, pg_only, recording):
    book = Book(make, make.partner())
    for day in range(1, 13):
        book.paid_on(date(2024, 3, day))
    runs = 4
    start = threading.Barrier(runs)
    errors: list[BaseException] = []

    def work():
        try:
            with app.app_context():
                start.wait(timeout=30)
                services.run(RecordingSender(), today=TODAY)
                db.session.remove()
        except BaseException as err:  # noqa: BLE001 — reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(RecordingSender.sent) == 12
    assert len({body for _to, body in RecordingSender.sent}) == 12
    stored = reminders_of(book.partner)
    assert len(stored) == 12 and {r.status for r in stored} == {ReminderStatus.SENT}
    with tenancy.everything():
        assert db.session.scalar(select(func.sum(Reminder.attempts))) == 12


# --- the sender -------------------------------------------------------------------------


def test_the_default_sender_writes_the_message_to_the_log_with_the_phone_masked(app, caplog):
    assert isinstance(sender(), LogSender)
    with caplog.at_level(logging.INFO, logger="bungkesmas.reminders.senders"):
        LogSender().send("+6281234567890", "Yth. Siti, iuran ...", reference="r-1")
    assert "+62812*****890" in caplog.text and "Yth. Siti" in caplog.text
    assert "81234567890" not in caplog.text
    assert mask_phone("+6281234567890") == "+62812*****890"


def test_an_unknown_sender_setting_is_refused_with_a_clear_message(app):
    app.config["REMINDER_SENDER"] = "tidak.ada:Pengirim"
    with pytest.raises(RuntimeError, match="BUNGKESMAS_REMINDER_SENDER"):
        sender()
