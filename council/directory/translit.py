"""Normalising names for search: case, apostrophes and Ukrainian → Latin transliteration.

The table is the official one (Resolution of the Cabinet of Ministers of Ukraine No. 55 of
27.01.2010): Ткачук → tkachuk, Щ → shch, Г → h, Ґ → g, И → y, І → i. Є, Ї, Й, Ю, Я have one
form at the start of a word (ye, yi, y, yu, ya) and another inside it (ie, i, i, iu, ia), and
"зг" is "zgh" so that it is not read as "ж". People type either form anywhere (Iurii, Yurii),
so a roster word is matched in both spellings (`variants`).
"""

from __future__ import annotations

import re
import unicodedata

# Letters whose Latin form does not depend on the position in the word.
_PLAIN = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "y", "і": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ь": "", "ъ": "",
    # Russian letters met in older spellings of names: read the way Ukrainian readers do.
    "ы": "y", "э": "e", "ё": "io",
}
# (at the start of a word, inside it)
_POSITIONAL = {"є": ("ye", "ie"), "ї": ("yi", "i"), "й": ("y", "i"), "ю": ("yu", "iu"),
               "я": ("ya", "ia")}
APOSTROPHES = "'’ʼ`´‘ʹ"
_APOSTROPHES = re.compile(f"[{APOSTROPHES}]")
_SEPARATORS = re.compile(r"[\s\-‐‑–—_.,;:/()«»\"№#]+")
_CYRILLIC = re.compile(r"[а-яіїєґёыэъ]")


def fold(text: str) -> str:
    """Case-folded, apostrophes removed, compatibility forms unified (NFKC)."""
    return _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())


def words(text: str) -> list[str]:
    """The folded words of a text: split at spaces, hyphens and punctuation."""
    return [w for w in _SEPARATORS.split(fold(text)) if w]


def has_cyrillic(word: str) -> bool:
    return _CYRILLIC.search(word) is not None


def to_latin(word: str, *, initial_forms: bool = True) -> str:
    """One folded word in Latin letters. `initial_forms=False` spells Є, Ї, Й, Ю, Я the inner
    way even at the start (the other spelling people use)."""
    out: list[str] = []
    for i, ch in enumerate(word):
        if ch in _POSITIONAL:
            start, inner = _POSITIONAL[ch]
            out.append(start if i == 0 and initial_forms else inner)
        elif ch == "г" and i > 0 and word[i - 1] == "з":
            out.append("gh")  # зг → zgh
        else:
            out.append(_PLAIN.get(ch, ch))
    return "".join(out)


def variants(word: str) -> frozenset[str]:
    """Every Latin spelling a folded word is matched under."""
    return frozenset({to_latin(word), to_latin(word, initial_forms=False)})


def latin_words(text: str) -> list[str]:
    """The text's words in the official Latin spelling."""
    return [to_latin(w) for w in words(text)]
