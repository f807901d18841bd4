"""Web page bytes to text: the declared charset first, kept with replacement; detection last.

Order: the HTTP header's charset, then a ``<meta>`` tag's (each tried strictly, then as its
superset, as browsers do: GB2312/GBK as GB18030, Latin-1 as windows-1252...); bytes that are
valid UTF-8 as UTF-8; the declared charset with U+FFFD for the bytes that do not decode, while
they are at most ``MAX_REPLACED`` of the text; else resiliparse's detection.
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)


def _lookup_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


#: labels whose bytes are better decoded by a superset codec (as browsers do, WHATWG Encoding)
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_cn": "gb18030", "ascii": "cp1252",
              "latin_1": "cp1252", "iso8859_1": "cp1252", "big5": "big5hkscs", "shift_jis": "cp932",
              "euc_kr": "cp949", "ks_c_5601_1987": "cp949"}
#: a declared charset is kept, with replacement characters, while at most this share of the
#: text fails to decode; beyond it the declaration is taken to be wrong and the bytes detected
MAX_REPLACED = 0.1


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Bytes to text: the charset declared by the HTTP header, then by a meta tag, then detected.

    A declared charset wins even when a few bytes do not decode (they become U+FFFD): a GB2312
    page with a dozen bad bytes stays Chinese instead of turning into Latin-1 mojibake. When
    the declaration fails, bytes that are valid UTF-8 are read as UTF-8; when more than
    ``MAX_REPLACED`` of the text fails, the declaration is ignored and the charset detected
    (resiliparse)."""
    candidates = []
    encoding = _lookup_codec(header_charset)
    if encoding is not None:
        candidates.append((encoding, "header"))
    m = _META_CHARSET.search(body[:4096])
    meta = _lookup_codec(m.group(1).decode("ascii", "ignore")) if m else None
    if meta is not None and meta != encoding:
        candidates.append((meta, "meta"))
    for enc, source in candidates:
        for codec in dict.fromkeys((enc, _SUPERSETS.get(enc, enc))):
            try:
                return body.decode(codec), f"{enc} ({source})"
            except (UnicodeDecodeError, LookupError):
                pass
    if candidates:
        try:  # bytes that are valid UTF-8 (and not ASCII) almost never are by chance
            return body.decode("utf-8"), f"utf-8 (valid UTF-8; declared {candidates[0][0]})"
        except UnicodeDecodeError:
            pass
    for enc, source in candidates:
        codec = _SUPERSETS.get(enc, enc)
        try:
            text = body.decode(codec, errors="replace")
        except LookupError:
            continue
        bad = text.count("\ufffd") - body.count("\xef\xbf\xbd".encode("latin-1"))
        if bad <= max(1, MAX_REPLACED * len(text)):
            return text, f"{enc} ({source}, {bad} bytes replaced)"
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    detected = detect_encoding(body)
    return bytes_to_str(body, detected), f"{detected} (detected)"
