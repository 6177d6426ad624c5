"""Inspection notes as warehouse staff type them: terse codes, full sentences, German/English shorthand, and
typos on top. Phrase banks per latent item state; see DATA_CARD.md ("Inspections") for the mix.

Only the *phrases* are hand-written here; which phrase, style, omission and typo a note gets is drawn from the
generator's random stream, so equal seeds give equal notes.
"""

from __future__ import annotations

import random

__all__ = ["NOTE_STYLES", "STYLE_P", "write_note"]

NOTE_STYLES = ("terse", "sentence", "de_en", "minimal")
STYLE_P = (0.35, 0.35, 0.22, 0.08)
_TYPO_NOTE_P = 0.3  # share of notes with typos
_TYPO_WORD_P = 0.08  # per word, within such a note
_STATE_PHRASE_P = 0.9  # otherwise the note never says what state the item is in
_CONFUSED_P = 0.05  # the inspector describes a neighbouring state (wrong word, hasty note)

# state -> style -> phrases
_STATE: dict[str, dict[str, tuple[str, ...]]] = {
    "new_sealed": {
        "terse": ("NIB", "NEW SEALED", "UNOPENED", "FACTORY SEAL OK", "NEW NO DMG"),
        "sentence": ("Item is new and still sealed in the original packaging.", "Unopened, factory seal intact.",
                     "Brand new, never opened, no damage."),
        "de_en": ("neu, OVP versiegelt", "ungeöffnet, seal ok", "Neuware, nicht geöffnet", "neu, kein Schaden"),
    },
    "like_new": {
        "terse": ("OB LIKE NEW", "OPENED NO WEAR", "TESTED OK", "NFF", "OPEN BOX A-STOCK"),
        "sentence": ("Box opened but the item shows no signs of use.", "Opened, looks unused, works fine.",
                     "Tested, fully functional, no marks, no damage.", "No fault found, item as new."),
        "de_en": ("geöffnet, wie neu", "keine Gebrauchsspuren, funktioniert", "getestet ok, kein Mangel",
                  "wie neu, test ok"),
    },
    "short_dated": {
        "terse": ("SHORT DATED", "BBD <30D", "EXP SOON", "SEALED SHORT DATE"),
        "sentence": ("Sealed, but the best-before date is in three weeks.", "Short-dated stock, expires next month."),
        "de_en": ("MHD kurz, läuft bald ab", "MHD < 4 Wochen", "kurzes MHD, sonst ok"),
    },
    "used": {
        "terse": ("USED", "WEAR VISIBLE", "LIGHT SCUFFS", "SIGNS OF USE", "USED TAGS OFF"),
        "sentence": ("Clearly used, light scuffs and dirt on the surface.", "Shows normal signs of use, works.",
                     "Worn and washed, tags removed.", "Used but functional, minor marks."),
        "de_en": ("Gebrauchsspuren, funktioniert", "benutzt, leicht verschmutzt", "getragen, Etikett fehlt",
                  "gebraucht, works"),
    },
    "cosmetic_damage": {
        "terse": ("SCRATCH HOUSING", "DENT FUNC OK", "COSMETIC DMG", "CRACKED COVER FUNC OK"),
        "sentence": ("Deep scratches and a dent on the housing; still works.",
                     "Cosmetic damage to the casing, functions normally.", "Cracked cover, item powers on."),
        "de_en": ("Kratzer am Gehäuse, funktioniert noch", "Delle, optisch beschädigt",
                  "Gehäuse gerissen, Funktion ok"),
    },
    "broken": {
        "terse": ("DMG NON FUNC", "BROKEN", "SMASHED", "PHYS DMG DOA", "CRUSHED"),
        "sentence": ("Item is broken, housing shattered and it does not power on.",
                     "Severe physical damage, not repairable on site.", "Crushed in transit, parts broken off."),
        "de_en": ("kaputt, Gehäuse gebrochen", "zerbrochen, geht nicht an", "Totalschaden, Bruch"),
    },
    "defective": {
        "terse": ("DOA", "NO POWER", "FAULT CONFIRMED", "MOTOR FAIL", "ERR CODE E4", "DEFECT REPRO"),
        "sentence": ("Does not power on; fault confirmed on the test bench, no physical damage.",
                     "Motor stops after a few seconds, defect reproduced.",
                     "Intermittent fault, error code on start-up."),
        "de_en": ("startet nicht, defekt bestätigt", "Motor dreht nicht, Fehler reproduziert", "kein Strom, Defekt",
                  "Fehlercode, defekt"),
    },
    "missing_parts": {
        "terse": ("INCOMPLETE", "MISS ACC", "PARTS MISSING", "NO CHARGER", "MISSING BATT"),
        "sentence": ("Accessories missing: charger and manual not in the box.",
                     "Incomplete, several parts missing from the kit.", "Battery pack missing."),
        "de_en": ("unvollständig, Zubehör fehlt", "Ladegerät fehlt", "Teile fehlen", "Akku fehlt"),
    },
    "expired": {
        "terse": ("EXPIRED", "PAST BBD", "EXP DATE PASSED"),
        "sentence": ("Past its expiry date.", "Expired batch, the date passed last month."),
        "de_en": ("abgelaufen", "MHD überschritten", "Verfallsdatum abgelaufen"),
    },
    "hazard": {
        "terse": ("BATT SWOLLEN", "BURN MARKS", "LEAKING", "HAZMAT ISOLATE"),
        "sentence": ("Battery is swollen; isolated, fire risk.", "Burn marks near the battery compartment.",
                     "Liquid leaking from the unit."),
        "de_en": ("Akku aufgebläht, Brandgefahr", "Brandspuren am Akku", "ausgelaufen, Gefahrgut"),
    },
    "wrong_item": {
        "terse": ("WRONG ITEM", "NOT OUR SKU", "DIFF MODEL", "ITEM DIFFERS FROM ORDER"),
        "sentence": ("The returned item is a different, cheaper model than the one shipped.",
                     "This is not the product we sold; different brand.", "Contents do not match the order."),
        "de_en": ("falscher Artikel, anderes Modell", "nicht unser Artikel", "Inhalt passt nicht zur Bestellung"),
    },
    "empty_box": {
        "terse": ("EMPTY BOX", "NO ITEM", "BOX ONLY", "BRICK IN BOX"),
        "sentence": ("The box was empty when opened.", "Only packaging received, no product inside.",
                     "The box contained a weight instead of the product."),
        "de_en": ("Karton leer", "kein Artikel im Paket", "nur Verpackung"),
    },
}
# A hasty inspector may use the wording of a neighbouring state.
_NEIGHBOURS = {
    "new_sealed": ("like_new",), "like_new": ("new_sealed", "used"), "short_dated": ("new_sealed", "expired"),
    "used": ("like_new", "cosmetic_damage"), "cosmetic_damage": ("used", "broken"),
    "broken": ("cosmetic_damage", "defective"), "defective": ("broken", "like_new"),
    "missing_parts": ("like_new", "used"), "expired": ("short_dated",), "hazard": ("broken",),
    "wrong_item": ("like_new",), "empty_box": ("missing_parts",),
}
_PACKAGING = {
    "sealed": {"terse": ("SEAL OK", "OVP SEALED"), "sentence": ("Original packaging sealed.",),
               "de_en": ("OVP versiegelt",)},
    "opened_intact": {"terse": ("BOX OPN OK", "PKG OK"), "sentence": ("Box opened, packaging intact.",),
                      "de_en": ("OVP geöffnet, ok", "Verpackung ok")},
    "damaged": {"terse": ("BOX CRUSHED", "PKG DMG"), "sentence": ("The outer box is crushed and torn.",),
                "de_en": ("OVP beschädigt", "Karton eingedrückt")},
    "missing": {"terse": ("NO OVP", "NO ORIG BOX"), "sentence": ("Returned without the original box.",),
                "de_en": ("ohne OVP", "Originalverpackung fehlt")},
}
_SERIAL = {
    "match": {"terse": ("SN OK", "S/N MATCH"), "sentence": ("Serial number matches the shipment.",),
              "de_en": ("SN passt", "Seriennr. ok")},
    "mismatch": {"terse": ("SN MISMATCH", "S/N DIFF"), "sentence": ("Serial number does not match what we shipped.",),
                 "de_en": ("SN stimmt nicht", "Seriennummer falsch")},
    "unreadable": {"terse": ("SN UNREADABLE", "S/N SCRATCHED OFF"), "sentence": ("Serial label unreadable.",),
                   "de_en": ("SN nicht lesbar",)},
}
_MINIMAL = ("see photos", "checked", "siehe Fotos", "ok", "insp done", "pls check pics", "")
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def write_note(rng: random.Random, style: str, state: str, packaging: str, serial_check: str) -> str:
    """One inspection note for an item in ``state``, written in ``style``."""
    if style == "minimal" or rng.random() >= _STATE_PHRASE_P:
        note = rng.choice(_MINIMAL)
        return _typos(rng, note) if rng.random() < _TYPO_NOTE_P else note
    said = state
    if rng.random() < _CONFUSED_P:
        said = rng.choice(_NEIGHBOURS[state])
    parts = [rng.choice(_STATE[said][style])]
    if rng.random() < 0.6:
        parts.append(rng.choice(_PACKAGING[packaging][style]))
    if serial_check in _SERIAL and rng.random() < 0.7:
        parts.append(rng.choice(_SERIAL[serial_check][style]))
    tail = parts[1:]
    rng.shuffle(tail)
    parts = [parts[0], *tail]
    sep = {"terse": " / ", "sentence": " ", "de_en": ", "}[style]
    note = sep.join(parts)
    if style == "terse" and rng.random() < 0.5:
        note = note.replace(" / ", " ")
    return _typos(rng, note) if rng.random() < _TYPO_NOTE_P else note


def _typos(rng: random.Random, note: str) -> str:
    words = note.split(" ")
    for k, word in enumerate(words):
        if len(word) < 4 or rng.random() >= _TYPO_WORD_P:
            continue
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:  # swapped neighbours
            word = word[: i - 1] + word[i] + word[i - 1] + word[i + 1:]
        elif kind == 1:  # dropped letter
            word = word[:i] + word[i + 1:]
        elif kind == 2:  # doubled letter
            word = word[:i] + word[i] + word[i:]
        else:  # fat finger
            word = word[:i] + rng.choice(_KEYBOARD) + word[i + 1:]
        words[k] = word
    return " ".join(words)
