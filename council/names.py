"""A citizen's name as others see it: cleaned of what could hide, reorder or fake text, and
marked as a citizen's wherever it stands for them on Matrix.

A name typed into the appeal form is shown to deputies and the secretariat as the display
name of the citizen's ghost. Without care it could read "Секретаріат", the bot's name or a
deputy's, be turned around by bidi overrides (U+202E shows "toB tenibaK" for "Kabinet Bot"),
or carry line breaks and invisible characters. So:
- `clean_name` drops control characters, bidi marks/overrides/isolates, zero-width and other
  invisible format characters, surrogates and private-use characters, turns any run of
  whitespace (line breaks too) into one space and normalizes to NFC. Intake stores the name
  cleaned; a name that is empty once cleaned is no name (refused as anonymous).
- `citizen_display_name` puts the citizen's marker in front ("Громадянин: …", in the council's
  language), so a ghost is visibly a citizen whatever its name says, and caps the length.
"""

from __future__ import annotations

import re
import unicodedata

from council.language import _

DISPLAY_NAME_MAX = 120  # characters of the citizen's name shown after the marker

# Invisible characters that Unicode does not class as format (Cf) characters: Hangul fillers,
# the braille blank, the combining grapheme joiner, variation selectors, Mongolian ones.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5"
                       "\u180b\u180c\u180d\u180e\u180f") | frozenset(map(chr, range(0xFE00, 0xFE10)))
# Cc: controls (newlines are whitespace, handled first); Cf: bidi marks, overrides and
# isolates (U+200E/F, U+202A–U+202E, U+2066–U+2069, U+061C), zero-width characters (U+200B–D,
# U+2060, U+FEFF), tags, soft hyphen; Cs: lone surrogates (JSON can carry them); Co: private use.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_SPACES = re.compile(r"\s+")


def _kept(char: str) -> bool:
    return char not in _INVISIBLE and unicodedata.category(char) not in _DROPPED_CATEGORIES


def clean_name(raw: object) -> str:
    """The name with nothing hidden in it: see the module's notes. '' for no name at all."""
    if not isinstance(raw, str):
        return ""
    # Whitespace of every kind (line and paragraph separators too) becomes a space first, so
    # that "Ім'я\nПрізвище" does not glue into one word when the controls go.
    spaced = "".join(" " if ch.isspace() else ch for ch in raw)
    kept = "".join(ch for ch in spaced if _kept(ch))
    return _SPACES.sub(" ", unicodedata.normalize("NFC", kept)).strip()


def citizen_display_name(name: str) -> str:
    """What a citizen's ghost is called in their appeal room: the marker, then the cleaned name
    (cut to `DISPLAY_NAME_MAX` characters). Cleaned again: names stored before intake cleaned
    them are shown safely too."""
    cleaned = clean_name(name)
    if len(cleaned) > DISPLAY_NAME_MAX:
        cleaned = cleaned[:DISPLAY_NAME_MAX - 1].rstrip() + "…"
    return _("Citizen: {name}", name=cleaned).strip()


def citizen_marker() -> str:
    """What every citizen's display name starts with ("Громадянин: ")."""
    return _("Citizen: {name}", name="")
