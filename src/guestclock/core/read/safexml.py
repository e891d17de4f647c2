"""A small, hostile-input-safe XML reader built on expat.

Python's ElementTree keeps no line numbers and, by default, accepts a DTD with
internal entities. guestclock refuses any DTD (so no entity can expand and no
external entity can be fetched), bounds the size, the nesting depth, the number
of elements, the attributes of one element, the length of one attribute and of
one tag (so every hostile document is refused in well under a second and a few
tens of MB), names bytes that are not UTF-8 as such, and records the line of every element so that errors
can point at the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.parsers import expat

from guestclock.errors import MalformedXMLError, shown

__all__ = [
    "MAX_ATTRIBUTE",
    "MAX_ATTRIBUTES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_TOKEN",
    "Element",
    "parse_document",
]

#: a domain XML is a few kB; libvirt's own domains stay far below this
MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 256
MAX_ATTRIBUTE = 64 * 1024
#: a domain with hundreds of devices has a few thousand elements. Without this
#: bound, 10 MB of ``<a/>`` is 2.6 million Element objects: 9 s and 700 MB.
MAX_ELEMENTS = 50_000
#: libvirt's widest element has about 20 attributes; 10 MB of ``a1="" a2=""``
#: in one tag would otherwise cost a second and 300 MB
MAX_ATTRIBUTES = 256
#: the longest single piece of markup (a tag with its attributes, a comment):
#: expat sees a tag only once it is complete, so the per-attribute bounds above
#: cannot stop one 10 MB tag from being scanned; this bound can
MAX_TOKEN = 2 * 1024 * 1024
#: bytes handed to expat at a time (between two checks of MAX_TOKEN)
_CHUNK = 256 * 1024


class Element:
    """One element: its tag, attributes, children, text and source line.

    A plain class with ``__slots__``: a domain has ~50 elements and a fleet run
    builds millions, where a dataclass with a default factory costs twice as much.
    """

    __slots__ = ("attrib", "children", "line", "tag", "text")

    def __init__(self, tag: str, attrib: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrib = attrib
        self.line = line
        self.children: list[Element] = []
        self.text = ""

    def __repr__(self) -> str:
        return f"Element({self.tag!r}, {self.attrib!r}, line={self.line})"

    def find(self, tag: str) -> Element | None:
        """The first child called ``tag``."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[Element]:
        """Every child called ``tag``."""
        return [child for child in self.children if child.tag == tag]


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _non_utf8(raw: bytes, index: int) -> str | None:
    """Why ``raw`` is not UTF-8 at byte ``index`` (where expat stopped), when it
    declares no other encoding; else None."""
    head = raw[:200].lstrip()
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        head.startswith(b"<?xml") and b"encoding" in head.split(b"?>", 1)[0]
    ):
        return None  # UTF-16 or a declared encoding: expat's own message stands
    try:
        raw[: index + 4].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start == index:
            return f"document is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
    return None


#: which subtrees to build: tag -> the same for its children, or ALL for the whole subtree
Keep = Mapping[str, "Keep | None"]
ALL = None
#: a child a Keep does not name (compared by identity)
_SKIP: Keep = {"": None}


def parse_document(data: bytes | str, keep: Keep | None = None) -> Element:
    """Parse ``data`` into an :class:`Element` tree or raise MalformedXMLError.

    With ``keep``, only the root and the subtrees ``keep`` names become Elements
    (``{"domain": {"clock": ALL, "os": {"type": {}}}}``); the rest of the document
    is still parsed and checked against every bound, but builds nothing and
    collects no text. A domain reader needs 10 of a domain's ~50 elements: this
    halves the time to read one.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise MalformedXMLError(f"document is {len(raw)} bytes; guestclock reads at most {MAX_BYTES} bytes")
    if not raw.strip():
        raise MalformedXMLError("document is empty")
    parser = expat.ParserCreate()
    # one callback per 8 kB of text, not one per character reference
    parser.buffer_text = True
    stack: list[Element | None] = []
    specs: list[Keep | None] = []
    root: list[Element] = []
    count = 0

    def refuse(message: str) -> None:
        raise _Refused(message)

    # A document no longer than MAX_ATTRIBUTE cannot hold a longer attribute, nor (at
    # 4 bytes for the smallest element, "<a/>") more than MAX_ELEMENTS elements: for
    # the few-kB domains of a fleet those two per-element checks are skipped
    small = len(raw) <= MAX_ATTRIBUTE

    def collects_text(spec: Keep | None) -> bool:
        # text matters in whole kept subtrees and kept leaves, not in containers
        # kept for a few children (<domain>, <devices>): their whitespace is noise
        return keep is None or spec is ALL or not spec

    def start(tag: str, attrib: dict[str, str]) -> None:
        nonlocal count
        if len(stack) >= MAX_DEPTH:
            refuse(f"elements are nested more than {MAX_DEPTH} deep")
        if not small:
            count += 1
            if count > MAX_ELEMENTS:
                refuse(f"document has more than {MAX_ELEMENTS} elements")
            # expat builds the dict in C; MAX_TOKEN already bounds what one tag can hold
            if attrib and max(map(len, attrib.values())) > MAX_ATTRIBUTE:
                name, value = max(attrib.items(), key=lambda item: len(item[1]))
                refuse(
                    f"attribute '{shown(name, 64)}' of element '{shown(tag, 64)}' is {len(value)} characters long; "
                    f"the limit is {MAX_ATTRIBUTE}"
                )
        if len(attrib) > MAX_ATTRIBUTES:
            refuse(f"element '{shown(tag, 64)}' has {len(attrib)} attributes; the limit is {MAX_ATTRIBUTES}")
        if stack:
            top = stack[-1]
            if top is None:  # inside a skipped subtree: nothing to build
                stack.append(None)
                return
            parent = specs[-1]
            spec = ALL if parent is ALL else parent.get(tag, _SKIP)
            if spec is _SKIP:
                stack.append(None)
                parser.CharacterDataHandler = None
                return
        else:
            top = None
            spec = ALL if keep is None else keep.get(tag, {})
        element = Element(tag, attrib, parser.CurrentLineNumber)
        if top is None:
            root.append(element)
        else:
            top.children.append(element)
        stack.append(element)
        specs.append(spec)
        if keep is not None:
            parser.CharacterDataHandler = text if collects_text(spec) else None

    def end(tag: str) -> None:
        if stack.pop() is not None:
            specs.pop()
        if keep is not None and stack and stack[-1] is not None:
            # back in a kept element (from a kept or a skipped child)
            parser.CharacterDataHandler = text if collects_text(specs[-1]) else None

    def text(data: str) -> None:
        top = stack[-1] if stack else None
        if top is not None and len(top.text) < MAX_ATTRIBUTE:
            top.text += data

    def doctype(*_args: object) -> None:
        refuse("DTDs are not accepted (no entity expansion, no external entities)")

    def entity(*_args: object) -> None:
        refuse("entity declarations are not accepted")

    def external(*_args: object) -> int:
        refuse("external entities are not accepted")
        return 0

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        for offset in range(0, len(raw), _CHUNK):
            parser.Parse(raw[offset : offset + _CHUNK], False)
            # between calls expat's position is the start of the token it still
            # waits to complete (or the last one it finished)
            if offset + _CHUNK - parser.CurrentByteIndex > MAX_TOKEN:
                refuse(f"a single tag, comment or text run is longer than {MAX_TOKEN} bytes")
        parser.Parse(b"", True)
    except _Refused as refused:
        raise MalformedXMLError(refused.message, line=parser.CurrentLineNumber) from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        bad = (
            _non_utf8(raw, parser.ErrorByteIndex)
            if exc.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]
            else None
        )
        if bad is not None:
            # expat says only "invalid token" for bytes that are not UTF-8
            raise MalformedXMLError(bad, line=exc.lineno) from None
        raise MalformedXMLError(
            f"document is not well-formed XML: {reason} (column {exc.offset})", line=exc.lineno
        ) from None
    except RecursionError:  # pragma: no cover - depth is bounded above
        raise MalformedXMLError("document is nested too deeply") from None
    if not root:
        raise MalformedXMLError("document has no root element")
    return root[0]
