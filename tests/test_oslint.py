"""``check FILE --os OS``: each finding of core/lint.py, with its exact text, and the clean cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus import CORPUS
from guestclock.core.lint import Finding, Severity, exit_status, lint, os_argument
from guestclock.core.read.domain import read_domain
from guestclock.core.rules.os_profiles import GuestOS, classify
from guestclock.errors import OSInfoError, RecommendError
from guestclock.host import osinfo

FIXTURE = Path(__file__).parent / "data" / "osinfo"


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GuestOS]:
    cache = str(tmp_path_factory.mktemp("c"))
    return {
        ref: classify(osinfo.lookup(ref, directory=str(FIXTURE), cache_dir=cache))
        for ref in ("win11", "win7", "debian12")
    }


def _domain(clock: str, hyperv: str = "", cpu: str = "", metadata: str = "") -> bytes:
    features = f"<features><hyperv>{hyperv}</hyperv></features>" if hyperv else ""
    return (
        f"<domain type='kvm'><name>g</name>{metadata}<os><type arch='x86_64' machine='q35'>hvm</type></os>"
        f"{features}{cpu}{clock}</domain>"
    ).encode()


def _codes(findings: tuple[Finding, ...]) -> list[str]:
    return [f.code for f in findings]


def test_windows_hpet_off_without_stimer(guests: dict[str, GuestOS]) -> None:
    domain = read_domain(_domain("<clock offset='localtime'><timer name='hpet' present='no'/></clock>")).domain
    (finding,) = lint(domain, guests["win11"])
    assert finding.severity is Severity.WARNING and finding.code == "windows-hpet-off-without-stimer"
    assert str(finding) == (
        "the HPET is off for a Windows guest without hv-stimer or the Hyper-V clock: Windows then falls back to the "
        "RTC for its timer interrupts and keeps a host CPU busy while it idles (QEMU docs/system/i386/hyperv.rst "
        "(qemu/qemu @ 521500bd803b), hv-stimer); fix: add <timer name='hypervclock' present='yes'/> and vpindex, "
        "synic and stimer to <features><hyperv>, or drop <timer name='hpet' present='no'/>"
    )
    assert finding.line == 1
    with_clock = _domain(
        "<clock offset='localtime'><timer name='hpet' present='no'/><timer name='hypervclock' present='yes'/></clock>"
    )
    assert lint(read_domain(with_clock).domain, guests["win11"]) == ()


def test_missing_dependency_names_the_missing_one(guests: dict[str, GuestOS]) -> None:
    domain = read_domain(
        _domain(
            "<clock offset='localtime'><timer name='hypervclock' present='yes'/></clock>",
            "<synic state='on'/><stimer state='on'><direct state='on'/></stimer><ipi state='on'/>",
        )
    ).domain
    findings = lint(domain, guests["win11"])
    assert [(f.code, f.message) for f in findings] == [
        ("hyperv-missing-dependency", "Hyper-V 'synic' is on without 'vpindex'"),
        ("hyperv-missing-dependency", "Hyper-V 'stimer' is on without 'vpindex'"),
        ("hyperv-missing-dependency", "Hyper-V 'stimer-direct' is on without 'vpindex'"),
        ("hyperv-missing-dependency", "Hyper-V 'ipi' is on without 'vpindex'"),
    ]
    assert findings[0].fix == "add <vpindex state='on'/> in <features><hyperv>"
    no_time = read_domain(
        _domain("<clock offset='localtime'/>", "<vpindex state='on'/><synic state='on'/><stimer state='on'/>")
    ).domain
    (finding,) = lint(no_time, guests["win11"])
    assert finding.message == "Hyper-V 'stimer' is on without 'time'"
    assert finding.fix == "add <timer name='hypervclock' present='yes'/> in <clock>"
    assert "QEMU refuses to start the guest under KVM" in finding.reason


def test_libvirts_own_stimer_direct_case_lacks_time(guests: dict[str, GuestOS]) -> None:
    """libvirt 9.0 accepts it; QEMU under KVM would not start it."""
    xml = CORPUS / "libvirt-9.0" / "cases" / "hyperv-stimer-direct.xml"
    findings = lint(read_domain(xml.read_bytes()).domain, guests["win11"])
    assert ("hyperv-missing-dependency", "Hyper-V 'stimer' is on without 'time'") in [
        (f.code, f.message) for f in findings
    ]


def test_linux_localtime(guests: dict[str, GuestOS]) -> None:
    for clock in ("<clock offset='localtime'/>", "<clock offset='timezone' timezone='Europe/Paris'/>"):
        (finding,) = lint(read_domain(_domain(clock)).domain, guests["debian12"])
        assert finding.code == "linux-localtime"
        assert finding.reason.startswith("Linux keeps the RTC in UTC: with a local-time RTC the guest's clock jumps")
    variable = "<clock offset='variable' adjustment='10' basis='localtime'/>"
    assert _codes(lint(read_domain(_domain(variable)).domain, guests["debian12"])) == ["linux-localtime"]
    assert lint(read_domain(_domain("<clock offset='utc'/>")).domain, guests["debian12"]) == ()


def test_windows_utc_and_the_registry(guests: dict[str, GuestOS]) -> None:
    utc = read_domain(_domain("<clock offset='utc'/>")).domain
    (finding,) = lint(utc, guests["win7"])
    assert finding.code == "windows-utc"
    assert finding.message == "offset 'utc' for a Windows guest that keeps its RTC in local time"
    assert lint(utc, guests["win7"], utc_registry=True) == ()
    local = read_domain(_domain("<clock offset='localtime'/>")).domain
    assert _codes(lint(local, guests["win7"], utc_registry=True)) == ["windows-localtime-utc-registry"]
    with pytest.raises(RecommendError, match="--utc-registry says a Windows guest keeps its RTC in UTC"):
        lint(utc, guests["debian12"], utc_registry=True)


def test_rtc_catchup_is_harmless_on_windows_8_and_later(guests: dict[str, GuestOS]) -> None:
    domain = read_domain(_domain("<clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/></clock>")).domain
    (finding,) = lint(domain, guests["win11"])
    assert (finding.code, finding.severity) == ("rtc-catchup-not-counted", Severity.INFO)
    assert "harmless" in finding.reason
    assert lint(domain, guests["win7"]) == ()  # Windows 7 counts them
    assert exit_status((finding,), strict=True) == 0


def test_migratable_findings(guests: dict[str, GuestOS]) -> None:
    cpu = "<cpu mode='host-model'><feature policy='require' name='invtsc'/></cpu>"
    domain = read_domain(
        _domain(
            "<clock offset='localtime'><timer name='hypervclock' present='yes'/></clock>",
            "<frequencies state='on'/><reenlightenment state='on'/>",
            cpu,
        )
    ).domain
    assert lint(domain, guests["win11"]) == ()
    findings = lint(domain, guests["win11"], migratable=True)
    assert _codes(findings) == ["invtsc-migratable", "reenlightenment-migratable"]
    assert findings[0].message == "invtsc without a TSC frequency on a migratable guest"
    fixed = read_domain(
        _domain(
            "<clock offset='localtime'><timer name='hypervclock' present='yes'/>"
            "<timer name='tsc' frequency='2500000000'/></clock>",
            "<frequencies state='on'/><reenlightenment state='on'/>",
            cpu,
        )
    ).domain
    assert lint(fixed, guests["win11"], migratable=True) == ()
    passthrough = read_domain(
        _domain("<clock offset='localtime'/>").replace(
            b"</os>", b"</os><features><hyperv mode='passthrough'/></features>"
        )
    ).domain
    assert _codes(lint(passthrough, guests["win11"], migratable=True)) == ["hyperv-passthrough-migratable"]
    assert exit_status(findings, strict=True) == 1
    assert exit_status(findings, strict=False) == 0


def test_os_auto_reads_the_metadata() -> None:
    meta = (
        "<metadata><libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>"
        "<libosinfo:os id='http://microsoft.com/win/11'/></libosinfo:libosinfo></metadata>"
    )
    domain = read_domain(_domain("<clock offset='utc'/>", metadata=meta)).domain
    assert os_argument(domain, "auto") == "http://microsoft.com/win/11"
    assert os_argument(domain, "debian12") == "debian12"
    bare = read_domain(_domain("<clock offset='utc'/>")).domain
    with pytest.raises(OSInfoError) as caught:
        os_argument(bare, "auto")
    assert str(caught.value) == (
        "--os auto: the domain names no OS (no <libosinfo:os id=.../> in its <metadata>); give one with --os ID"
    )


def test_the_example_domains(guests: dict[str, GuestOS]) -> None:
    root = Path(__file__).parents[1] / "examples"
    windows = read_domain((root / "windows-guest.xml").read_bytes()).domain
    linux = read_domain((root / "linux-guest.xml").read_bytes()).domain
    # the Windows example runs localtime with the Hyper-V clock; the Linux example runs utc
    assert [f for f in lint(windows, guests["win11"]) if f.severity is Severity.WARNING] == []
    assert lint(linux, guests["debian12"]) == ()
