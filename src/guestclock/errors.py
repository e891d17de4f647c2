"""The one error tree of guestclock.

Every failure a user can cause is one of these; the CLI is the only place that
turns them into text on stderr and an exit code::

    GuestclockError                  base; ``.message`` is the libvirt-matching text, ``.subject`` what it is about
    +-- UsageError                   options that do not fit together (the CLI exits 2)
    |   +-- RecommendError           recommendation options that contradict the guest (--utc-registry for Linux)
    +-- InputError                   a file that cannot be read or written (missing, a directory, a FIFO, ...)
    +-- XMLError                     the document cannot be read as a <clock>/<domain>
    |   +-- MalformedXMLError        not well-formed, hostile (DTD, entities), too big or too deep
    +-- UnsupportedConfigError       valid XML that this QEMU cannot implement; ``.refusals`` has every one
    +-- CapabilityError              a -help text, capability dump or version that cannot be read
    +-- ProbeError                   a QEMU binary that cannot be asked (missing, hangs, not QEMU)
    +-- VerifyError                  a running QEMU did not start or could not be read back
    +-- OSInfoError                  an OS id that no osinfo-db entry (nor the built-in table) knows

:class:`Refusals` collects the refusals of one translation and raises them together.

Messages that libvirt also raises keep libvirt's words, and ``str(err)`` carries
libvirt's prefix (``XML error: ``, ``unsupported configuration: ``) so that a
user who pastes the line into a search engine finds the libvirt discussions.
"""

from __future__ import annotations

__all__ = [
    "CapabilityError",
    "GuestclockError",
    "InputError",
    "MalformedXMLError",
    "OSInfoError",
    "ProbeError",
    "RecommendError",
    "Refusals",
    "UnsupportedConfigError",
    "UsageError",
    "VerifyError",
    "XMLError",
    "shown",
]


def shown(value: str, limit: int = 200) -> str:
    """``value`` as it appears inside quotes in a one-line message: control characters
    escaped, at most ``limit`` characters (then "...")."""
    text = value if value.isprintable() else value.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."


class GuestclockError(Exception):
    """Base of every error guestclock raises on purpose."""

    prefix = ""

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: what the error is about: an element, a timer, a file, a binary
        self.subject = subject

    def __str__(self) -> str:
        return f"{self.prefix}{self.message}"


class UsageError(GuestclockError):
    """Options that contradict each other or name nothing usable (found after argument parsing)."""


class InputError(GuestclockError):
    """A file guestclock was asked to read or write cannot be (``.subject`` is its path)."""


class XMLError(GuestclockError):
    """A parse-time error; libvirt reports these as ``XML error: ...``."""

    prefix = "XML error: "

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        element: str | None = None,
        attribute: str | None = None,
        value: str | None = None,
        unsupported: bool = False,
    ) -> None:
        super().__init__(message, subject=element)
        if unsupported:
            # parse-time checks libvirt reports as VIR_ERR_CONFIG_UNSUPPORTED
            self.prefix = UnsupportedConfigError.prefix
        self.line = line
        self.element = element
        self.attribute = attribute
        self.value = value


class MalformedXMLError(XMLError):
    """The bytes are not a document guestclock will read (syntax, DTD, size, depth)."""


class UnsupportedConfigError(GuestclockError):
    """Valid configuration that the given QEMU cannot implement.

    ``capability`` names the capability whose absence caused the refusal, or is
    None when no QEMU can implement it (e.g. the 'platform' timer).
    """

    prefix = "unsupported configuration: "

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        capability: str | None = None,
        line: int | None = None,
        more: tuple[UnsupportedConfigError, ...] = (),
    ) -> None:
        super().__init__(message, subject=subject)
        self.capability = capability
        self.line = line
        #: every refusal found, this one first (the translation reports all of them)
        self.refusals: tuple[UnsupportedConfigError, ...] = (self, *more)


class Refusals:
    """Collects the refusals of one translation; :meth:`finalize` raises them together.

    The error raised is the first refusal's (its text, subject, capability and line are
    what a user sees first) carrying every refusal in ``.refusals``.
    """

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: list[UnsupportedConfigError] = []

    def __bool__(self) -> bool:
        return bool(self._found)

    def refuse(self, message: str, *, subject: str, capability: str | None = None, line: int | None = None) -> None:
        """Record one refusal."""
        self._found.append(UnsupportedConfigError(message, subject=subject, capability=capability, line=line))

    def add(self, refusal: UnsupportedConfigError) -> None:
        """Record a refusal made elsewhere."""
        self._found.append(refusal)

    def finalize(self) -> None:
        """Raise the collected refusals, if any."""
        if not self._found:
            return
        first = self._found[0]
        raise UnsupportedConfigError(
            first.message,
            subject=first.subject,
            capability=first.capability,
            line=first.line,
            more=tuple(self._found[1:]),
        )


class CapabilityError(GuestclockError):
    """A capability source (-help text, libvirt dump, version number) is unreadable."""


class ProbeError(GuestclockError):
    """A QEMU binary could not be probed."""


class VerifyError(GuestclockError):
    """A QEMU started for verification failed, or its state could not be read."""


class RecommendError(UsageError):
    """Options of ``recommend``/``check --os`` that contradict each other or the guest."""


class OSInfoError(GuestclockError):
    """An OS id that cannot be resolved, or an osinfo-db file that cannot be read.

    ``subject`` is the id (or the file); ``suggestions`` the nearest known ids.
    """

    def __init__(self, message: str, *, subject: str | None = None, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message, subject=subject)
        self.suggestions = suggestions
