"""The shortcuts a large import takes give exactly what the plain code gives."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

from hypothesis import example, given
from hypothesis import strategies as st
from lokal import parse_phone
from text_unidecode import unidecode

from bungkesmas import tenancy
from bungkesmas.forms import normalise_phone
from bungkesmas.members import nik as nik_rules
from bungkesmas.members.services import name_key

phone_like = st.one_of(
    st.text(alphabet="0123456789+-() .", max_size=18),
    st.builds(lambda prefix, digits: prefix + digits,
              st.sampled_from(["", "0", "62", "+62", "+620", "08", "8", "628", "0628"]),
              st.text(alphabet="0123456789", min_size=6, max_size=14)),
)


@given(phone_like)
@example("081234567890")
@example("+6281234567890")
@example("6281234567")
@example("62812345678")
@example("0812345678901234")
@example("８１２３４５６７８９")  # fullwidth digits: not [0-9]
def test_a_phone_is_normalised_as_lokal_reads_it(value):
    info = parse_phone(value)
    assert normalise_phone(value) == (info.e164 if info.valid else None)


def _name_key_by_regex(name: str) -> str:
    folded = (name if name.isascii() else unidecode(name)).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", folded)).strip()


@given(st.text(max_size=40))
@example("  Andi  Muhammad\tRusdi ")
@example("Ṣiti Nur'aini-Daeng Ñ. Ölçü")
@example("İbrahim ǅ ß 漢字 🙂")
def test_the_name_key_is_the_lower_case_ascii_words(name):
    assert name_key(name) == _name_key_by_regex(name)


@given(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_the_nik_digester_is_the_hmac_of_digest(nik):
    for key in ("bench-digest-key", "k" * 64, "x" * 65 + "ä", ""):
        reference = hmac.digest(key.encode(), nik.encode(), hashlib.sha256).hex()
        assert nik_rules.digester(key)(nik) == reference


def test_ids_made_in_bulk_are_time_ordered_uuid7_like_single_ones():
    single = tenancy.new_id()
    bulk = tenancy.new_ids(500)
    assert len(set(bulk)) == 500
    for value in bulk:
        assert isinstance(value, uuid.UUID) and value.version == 7
        assert value.variant == uuid.RFC_4122
        # The same millisecond clock in the first 48 bits (or a later one).
        assert value.int >> 80 >= single.int >> 80
    assert tenancy.new_ids(0) == []
