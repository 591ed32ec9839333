"""Developer tool: merge translations into the Indonesian catalogue.

    .venv/bin/python -m tests.translate FILE.py   # FILE defines TR = {msgid: msgstr}

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
        if message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
    catalog.obsolete.clear()
    with PO.open("wb") as f:
        write_po(f, catalog, width=100)
    for message in catalog:
        if message.id and not message.string:
            print("untranslated:", repr(message.id))


if __name__ == "__main__":
    main(sys.argv[1:])
