"""A small, hostile-input-safe XML reader built on expat.

Python's ElementTree keeps no line numbers and, by default, accepts a DTD with
internal entities. guestclock refuses any DTD (so no entity can expand and no
external entity can be fetched), bounds the size, the nesting depth and the
length of one attribute, and records the line of every element so that errors
can point at the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from .errors import MalformedXMLError

__all__ = ["MAX_ATTRIBUTE", "MAX_BYTES", "MAX_DEPTH", "Element", "parse_document"]

#: a domain XML is a few kB; libvirt's own domains stay far below this
MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 256
MAX_ATTRIBUTE = 64 * 1024


@dataclass
class Element:
    """One element: its tag, attributes, children, text and source line."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""

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


def parse_document(data: bytes | str) -> Element:
    """Parse ``data`` into an :class:`Element` tree or raise MalformedXMLError."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise MalformedXMLError(f"document is {len(raw)} bytes; guestclock reads at most {MAX_BYTES} bytes")
    if not raw.strip():
        raise MalformedXMLError("document is empty")
    parser = expat.ParserCreate()
    stack: list[Element] = []
    root: list[Element] = []

    def refuse(message: str) -> None:
        raise _Refused(message)

    def start(tag: str, attrib: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            refuse(f"elements are nested more than {MAX_DEPTH} deep")
        for name, value in attrib.items():
            if len(value) > MAX_ATTRIBUTE:
                refuse(
                    f"attribute '{name}' of element '{tag}' is {len(value)} characters long; "
                    f"the limit is {MAX_ATTRIBUTE}"
                )
        element = Element(tag, dict(attrib), parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(element)
        else:
            root.append(element)
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack and len(stack[-1].text) < MAX_ATTRIBUTE:
            stack[-1].text += data

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
        parser.Parse(raw, True)
    except _Refused as refused:
        raise MalformedXMLError(refused.message, line=parser.CurrentLineNumber) from None
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise MalformedXMLError(
            f"document is not well-formed XML: {reason} (column {exc.offset})", line=exc.lineno
        ) from None
    except RecursionError:  # pragma: no cover - depth is bounded above
        raise MalformedXMLError("document is nested too deeply") from None
    if not root:
        raise MalformedXMLError("document has no root element")
    return root[0]
