"""Developer tool: merge translations into the Indonesian catalogue.

    .venv/bin/python -m tests.translate FILE.py   # FILE defines TR = {msgid: msgstr}

For a plural message the key is the singular msgid and the value a tuple with one
string per plural form (Indonesian has one: ("%(num)d peserta",)).
Prints the msgids that are still untranslated."""

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).parent.parent / "bungkesmas/translations/id/LC_MESSAGES/messages.po"


def main(paths: list[str]) -> None:
    translations: dict[str, str] = {}
    for path in paths:
        translations.update(runpy.run_path(path)["TR"])
    with PO.open("rb") as f:
        catalog = read_po(f)
    for message in catalog:
        key = message.id[0] if message.pluralizable else message.id
        if key not in translations:
            continue
        string = translations[key]
        if message.pluralizable:
            string = (string,) if isinstance(string, str) else tuple(string)
            if len(string) != catalog.num_plurals:
                sys.exit(f"{key!r}: give {catalog.num_plurals} plural form(s), not {len(string)}")
        elif not isinstance(string, str):
            sys.exit(f"{key!r} is not a plural message: give one string, not {string!r}")
        message.string = string
        message.flags.discard("fuzzy")
    catalog.obsolete.clear()
    with PO.open("wb") as f:
        write_po(f, catalog, width=76)  # as pybabel writes it: no churn
    for message in catalog:
        strings = message.string if message.pluralizable else (message.string,)
        if message.id and not all(strings):
            key = message.id[0] if message.pluralizable else message.id
            print("untranslated:", repr(key))


if __name__ == "__main__":
    main(sys.argv[1:])
