"""Taking a person's name, id and e-mail out of a text (authors for reviewers, and back)."""

import re
import unicodedata


def _with_or_without_accents(word: str) -> str:
    """A pattern for `word` in decomposed text, each letter with or without accents (Etienne)."""
    letters = [c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c)]
    return "".join(re.escape(c) + "[\u0300-\u036f]*" for c in letters)


def redact_person(text: str, name: str, person_id: str, email: str, replacement: str) -> str:
    """`text` with the e-mail, id, name and name parts (3+ letters) as `replacement`, in any
    letter case, with or without accents.

    >>> redact_person("Signed: ETIENNE (e@x.org)", "Étienne Tremblay", "p07", "e@x.org", "[reviewer]")
    'Signed: [reviewer] ([reviewer])'
    """
    if not text:
        return text
    targets = [email.strip(), person_id.strip(), name.strip()]
    targets += [part for part in re.split(r"[\s,]+", name) if len(part) >= 3]
    text = unicodedata.normalize("NFD", text)
    for target in sorted({t for t in targets if t}, key=len, reverse=True):
        pattern = rf"(?<!\w){_with_or_without_accents(target)}(?!\w)"
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    return unicodedata.normalize("NFC", text)
