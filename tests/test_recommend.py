"""``recommend``: golden files per OS family and profile, its own lint, every QEMU era, the XML
round trip, the profile tables against libvirt's corpus, and bad input.

Golden files: tests/golden/recommend/NAME.case (``key: value`` lines: ``os``, ``profile``,
``qemu``, ``machine``, ``migratable``, ``utc-registry``, ``tsc-frequency``, ``format``) beside
NAME.out (the rendering) or NAME.err (the one error line). ``qemu`` is ``version X.Y.Z``,
``caps {corpus}/caps/...xml`` or ``help {corpus}/help/...``. OS ids resolve in the fixture
osinfo-db (tests/data/osinfo, shown as ``{osinfo}``). GUESTCLOCK_REGEN=1 rewrites the
expectations on purpose.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from corpus import CORPUS, clock_items, dump, libvirt_items
from guestclock.core.lint import Severity, lint
from guestclock.core.model.caps import Capabilities
from guestclock.core.model.domain import TimerName
from guestclock.core.read.capsdump import load_libvirt_caps
from guestclock.core.read.domain import read_domain
from guestclock.core.read.helptext import parse_help
from guestclock.core.recommend import (
    Recommendation,
    RecommendOptions,
    parse_profile,
    recommend,
    recommendation_to_json,
    recommendation_to_xml,
    render_table,
    translate_recommendation,
)
from guestclock.core.render.argv import to_shell
from guestclock.core.rules.history import caps_for_version
from guestclock.core.rules.os_profiles import RULES, SOURCES, Element, OSFamily, Profile, classify, opinion
from guestclock.core.translate import Now
from guestclock.errors import GuestclockError, RecommendError
from guestclock.host import osinfo

GOLDEN = Path(__file__).parent / "golden" / "recommend"
FIXTURE = Path(__file__).parent / "data" / "osinfo"
REGEN = os.environ.get("GUESTCLOCK_REGEN") == "1"
CASES = sorted(GOLDEN.glob("*.case"))
#: the families issue 13 names, one OS each (Windows by release)
FAMILY_OSES = [
    "win7",
    "win10",
    "win11",
    "win2k22",
    "rhel9.4",
    "debian12",
    "fedora40",
    "macos13",
    "msdos6.22",
    "solaris11",
]
MORE_OSES = ["winxp", "win98", "freebsd14", "freedos1.2", "win8.1", "win2k8"]
# the "-device" files are device lists that go with a -help text, not -help texts
HELP_TEXTS = sorted(
    p
    for p in (CORPUS / "help").iterdir()
    if p.is_file() and p.suffix not in (".json", ".md") and not p.name.endswith("-device")
)
DUMPS = sorted((CORPUS / "caps").glob("caps_*.x86_64.xml"))
NOW = Now(1234567890)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("osinfo-cache"))


def _identity(ref: str, cache: str) -> osinfo.OSIdentity:
    return osinfo.lookup(ref, directory=str(FIXTURE), cache_dir=cache)


def _caps(spec: str) -> Capabilities:
    kind, _sep, value = spec.partition(" ")
    value = value.replace("{corpus}", str(CORPUS))
    if kind == "version":
        return caps_for_version(value)
    if kind == "caps":
        return load_libvirt_caps(Path(value).read_bytes(), source=f"libvirt-caps:{Path(value).name}")
    assert kind == "help", spec
    return parse_help(Path(value).read_text(errors="replace"), source=f"help:{Path(value).name}").capabilities


def _case(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _sep, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def _options(fields: dict[str, str]) -> RecommendOptions:
    frequency = fields.get("tsc-frequency")
    return RecommendOptions(
        profile=parse_profile(fields.get("profile", "guestclock")),
        machine=fields.get("machine"),
        migratable=fields.get("migratable") == "yes",
        utc_registry=fields.get("utc-registry") == "yes",
        tsc_frequency=int(frequency) if frequency is not None else None,
    )


def _lint_lines(rec: Recommendation) -> list[str]:
    domain = read_domain(recommendation_to_xml(rec)).domain
    findings = lint(domain, rec.guest, migratable=rec.options.migratable, utc_registry=rec.options.utc_registry)
    return [f"# lint {f.severity.value} {f.code}: {f}" for f in findings] or ["# lint: clean"]


def _render(fields: dict[str, str], cache: str) -> str:
    caps = _caps(fields.get("qemu", "version 7.2.0"))
    options = _options(fields)
    form = fields.get("format", "xml")
    if form == "table":
        recs = [recommend(_identity(ref, cache), caps, options) for ref in fields["os"].split()]
        return render_table(recs)
    rec = recommend(_identity(fields["os"], cache), caps, options)
    translation = translate_recommendation(rec, caps, NOW)
    if form == "json":
        document = recommendation_to_json(rec, translation)
        document["lint"] = _lint_lines(rec)
        return json.dumps(document, indent=2) + "\n"
    lines = [recommendation_to_xml(rec).rstrip("\n")]
    lines.append(f"# argv: {to_shell(translation, 'qemu-system-x86_64')}")
    lines += [f"# qemu warning: {w}" for w in translation.warnings]
    lines += [f"# note: {n}" for n in rec.notes]
    lines += _lint_lines(rec)
    return "\n".join(lines) + "\n"


def _compare(expected: Path, actual: str) -> None:
    actual = actual.replace(str(FIXTURE), "{osinfo}").replace(str(CORPUS), "{corpus}")
    if REGEN:
        expected.write_text(actual)
    assert expected.exists(), f"missing {expected.name}; run with GUESTCLOCK_REGEN=1 to create it"
    assert actual == expected.read_text()


def test_golden_glob_is_not_empty() -> None:
    assert len(CASES) >= 60
    named = {_case(p).get("os") for p in CASES}
    assert set(FAMILY_OSES) <= named
    profiles = {(_case(p).get("os"), _case(p).get("profile", "guestclock")) for p in CASES}
    for ref in FAMILY_OSES:
        for profile in Profile:
            assert (ref, profile.value) in profiles, (ref, profile.value)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path, cache: str) -> None:
    fields = _case(path)
    error = path.with_suffix(".err")
    if error.exists() or fields.get("expect") == "error":
        with pytest.raises(GuestclockError) as caught:
            _render(fields, cache)
        _compare(error, str(caught.value) + "\n")
        return
    _compare(path.with_suffix(".out"), _render(fields, cache))


# -- properties of every recommendation ---------------------------------------------------

ERAS = [
    "version 7.2.0",
    f"caps {CORPUS}/caps/caps_7.2.0.x86_64.xml",
    *(f"caps {p}" for p in DUMPS),
    *(f"help {p}" for p in HELP_TEXTS),
]


def test_the_eras_are_there() -> None:
    assert len(HELP_TEXTS) >= 15 and len(DUMPS) >= 10


@pytest.mark.parametrize("qemu", ERAS, ids=lambda s: Path(s.split(" ", 1)[1]).name if "/" in s else s)
def test_every_recommendation_translates_and_passes_its_lint(qemu: str, cache: str) -> None:
    """Each OS x profile on each QEMU era translates without a refusal; guestclock's own
    recommendation has no lint warning, and every output reads back to its model."""
    caps = _caps(qemu)
    for ref in FAMILY_OSES + MORE_OSES:
        identity = _identity(ref, cache)
        for profile in Profile:
            for migratable in (False, True):
                options = RecommendOptions(profile=profile, migratable=migratable)
                rec = recommend(identity, caps, options)
                translation = translate_recommendation(rec, caps, NOW)
                assert translation.argv or rec.clock.offset.value == "utc"
                domain = read_domain(recommendation_to_xml(rec)).domain
                assert domain == rec.domain(), (ref, profile)
                findings = lint(domain, rec.guest, migratable=migratable)
                if profile is Profile.GUESTCLOCK:
                    assert [f for f in findings if f.severity is Severity.WARNING] == [], (ref, qemu, findings)
                    assert findings == (), (ref, qemu, findings)


def test_old_qemu_is_taken_into_account(cache: str) -> None:
    """No hv-stimer-direct before 4.1; hpet=off against -no-hpet by era; nothing QEMU 0.9 lacks."""
    win11 = _identity("win11", cache)
    new = translate_recommendation(recommend(win11, caps_for_version("7.2.0")), caps_for_version("7.2.0"))
    assert "hv-stimer-direct=on" in new.argv[new.argv.index("-cpu") + 1]
    assert new.argv[new.argv.index("-machine") + 1] == "pc,hpet=off"
    caps = caps_for_version("3.1.0")
    rec = recommend(win11, caps)
    old = translate_recommendation(rec, caps)
    assert "stimer-direct" not in " ".join(old.argv) and "hv_stimer" in old.argv[old.argv.index("-cpu") + 1]
    assert "-no-hpet" in old.argv
    assert rec.choice(Element.HYPERV).adjusted == "stimer-direct: not in QEMU 3.1.0"
    ancient = _caps(f"help {CORPUS}/help/qemu-0.9.1")
    rec = recommend(win11, ancient)
    assert rec.hyperv is None and rec.clock.timer(TimerName.HYPERVCLOCK) is None
    # without the Hyper-V clock Windows would fall back to the RTC: the HPET stays
    assert rec.clock.timer(TimerName.HPET) is None
    assert translate_recommendation(rec, ancient).argv == ["-localtime"]


def test_migratable_rules(cache: str) -> None:
    win11 = _identity("win11", cache)
    caps = caps_for_version("7.2.0")
    rec = recommend(win11, caps, RecommendOptions(migratable=True))
    assert rec.hyperv is not None
    names = {feature.value for feature, _on in rec.hyperv.features}
    assert "reenlightenment" not in names and "frequencies" not in names and "stimer" in names
    assert rec.cpu is not None and rec.cpu.features == (("invtsc", "disable"),)
    assert "invtsc=off" in translate_recommendation(rec, caps).argv[3]
    fixed = recommend(win11, caps, RecommendOptions(migratable=True, tsc_frequency=2_500_000_000))
    assert fixed.hyperv is not None
    assert {"reenlightenment", "frequencies"} <= {f.value for f, _on in fixed.hyperv.features}
    assert fixed.cpu is not None and fixed.cpu.features == (("invtsc", "require"),)
    tsc = fixed.clock.timer(TimerName.TSC)
    assert tsc is not None and tsc.frequency == 2_500_000_000
    argv = translate_recommendation(fixed, caps).argv
    assert "tsc-frequency=2500000000" in argv[3] and argv[3].endswith(",invtsc=on")
    # peers' sets lose reenlightenment too, but keep frequencies (that is guestclock's own policy)
    nova = recommend(win11, caps, RecommendOptions(profile=Profile.NOVA, migratable=True))
    assert nova.hyperv is not None and "frequencies" in {f.value for f, _on in nova.hyperv.features}


def test_utc_registry(cache: str) -> None:
    caps = caps_for_version("7.2.0")
    rec = recommend(_identity("win10", cache), caps, RecommendOptions(utc_registry=True))
    assert rec.clock.offset.value == "utc"
    assert rec.choice(Element.OFFSET).adjusted == "guestclock says localtime; --utc-registry"
    with pytest.raises(RecommendError) as caught:
        recommend(_identity("debian12", cache), caps, RecommendOptions(utc_registry=True))
    assert str(caught.value) == (
        "--utc-registry says a Windows guest keeps its RTC in UTC, but debian12 (Debian 12; linux) is not Windows; "
        "drop the option"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (RecommendOptions(tsc_frequency=0), "invalid TSC frequency 0: expected Hz between 1 and 9223372036854775807"),
        (RecommendOptions(virt_type="xen"), "invalid domain type 'xen': expected kvm or qemu"),
    ],
)
def test_bad_options(options: RecommendOptions, message: str, cache: str) -> None:
    with pytest.raises(RecommendError, match=message):
        recommend(_identity("win11", cache), caps_for_version("7.2.0"), options)


def test_unknown_profile() -> None:
    with pytest.raises(RecommendError) as caught:
        parse_profile("ovirt")
    assert str(caught.value) == (
        "unknown profile 'ovirt': expected one of guestclock, libvirt, virt-manager, nova, proxmox, kubevirt"
    )


def test_non_x86_gets_only_the_offset(cache: str) -> None:
    caps = dump("7.0.0", "aarch64")
    rec = recommend(_identity("debian12", cache), caps)
    assert rec.clock.timers == () and rec.hyperv is None and rec.arch == "aarch64"
    assert rec.choice(Element.HPET).adjusted == "a aarch64 guest has no PC timers or Hyper-V enlightenments"
    assert translate_recommendation(rec, caps).argv == ["-rtc", "base=utc"]


# -- the profile tables ------------------------------------------------------------------------


def test_every_profile_and_element_has_a_row_for_every_family(cache: str) -> None:
    for ref in FAMILY_OSES + MORE_OSES:
        guest = classify(_identity(ref, cache))
        for profile in Profile:
            for element in Element:
                assert opinion(profile, element, guest, (7, 2)) is not None
    families = {classify(_identity(ref, cache)).family for ref in FAMILY_OSES + MORE_OSES}
    assert families == {OSFamily.WINDOWS, OSFamily.LINUX, OSFamily.MACOS, OSFamily.DOS, OSFamily.SOLARIS, OSFamily.BSD}


def test_every_profile_names_its_source() -> None:
    assert set(SOURCES) == set(Profile)
    for source in SOURCES.values():
        assert source.where and source.version
    assert {rule.profile for rule in RULES} == set(Profile)
    assert all(rule.reason for rule in RULES)


def test_windows_ranks(cache: str) -> None:
    ranks = {ref: classify(_identity(ref, cache)).generation for ref in ["win98", "winxp", "win2k8", "win7"]}
    ranks |= {ref: classify(_identity(ref, cache)).generation for ref in ["win8.1", "win10", "win11", "win2k22"]}
    assert ranks == {
        "win98": 4,
        "winxp": 5,
        "win2k8": 6,
        "win7": 7,
        "win8.1": 8,
        "win10": 10,
        "win11": 11,
        "win2k22": 11,
    }
    assert classify(_identity("freedos1.2", cache)).family is OSFamily.DOS  # osinfo files it under linux


def _virt_manager_cases() -> list[Path]:
    cases = CORPUS / "libvirt-9.0" / "cases"
    return [cases / f"{name}.xml" for name in ("q35-virt-manager-basic", "x86_64-q35-headless", "x86_64-pc-graphics")]


@pytest.mark.parametrize("xml", _virt_manager_cases(), ids=lambda p: p.stem)
def test_virt_manager_profile_is_libvirts_virt_manager_case(xml: Path, cache: str) -> None:
    """libvirt's test domains written the way virt-manager writes a Linux guest carry exactly
    the virt-manager profile's clock, and translate to libvirt's expected clock arguments."""
    domain = read_domain(xml.read_bytes()).domain
    caps = dump("8.0.0", "x86_64")
    rec = recommend(
        _identity("fedora40", cache),
        caps,
        RecommendOptions(profile=Profile.VIRT_MANAGER, machine=domain.machine),
    )
    assert rec.clock == domain.clock
    expected = sorted(xml.parent.glob(f"{xml.stem}.x86_64-latest.args"))
    assert expected, xml
    ours = translate_recommendation(rec, caps, NOW)
    assert clock_items(ours.argv, ours.environ) == libvirt_items(expected[0])


def test_libvirt_profile_is_libvirts_default(cache: str) -> None:
    """libvirt adds no timer: its hyperv case's <clock offset='utc'/> gives only -rtc base=utc."""
    case = CORPUS / "libvirt-9.0" / "cases" / "hyperv.x86_64-latest.args"
    domain = read_domain((case.parent / "hyperv.xml").read_bytes()).domain
    caps = dump("8.0.0", "x86_64")
    for ref in ("win11", "debian12"):
        rec = recommend(_identity(ref, cache), caps, RecommendOptions(profile=Profile.LIBVIRT))
        assert rec.clock == domain.clock and rec.hyperv is None
        ours = translate_recommendation(rec, caps, NOW)
        assert clock_items(ours.argv, ours.environ) == [
            item for item in libvirt_items(case) if not item.startswith("-cpu hv")
        ]


def test_peers_disagree_where_issue_13_says(cache: str) -> None:
    win11 = classify(_identity("win11", cache))
    values = {p: opinion(p, Element.PIT_TICKPOLICY, win11, (7, 2)).value for p in Profile}
    assert values[Profile.PROXMOX] == "discard" and values[Profile.VIRT_MANAGER] == "delay"
    assert values[Profile.NOVA] == "delay"
    assert opinion(Profile.KUBEVIRT, Element.OFFSET, win11, (7, 2)).value == "utc"
    assert opinion(Profile.VIRT_MANAGER, Element.OFFSET, win11, (7, 2)).value == "localtime"
    debian = classify(_identity("debian12", cache))
    assert opinion(Profile.PROXMOX, Element.HPET, debian, (10, 1)).value == "no"
    assert opinion(Profile.PROXMOX, Element.HPET, debian, (7, 2)).value is None


def test_table_marks_adjusted_values(cache: str) -> None:
    caps = caps_for_version("3.1.0")
    table = render_table([recommend(_identity("win11", cache), caps)])
    row = next(line for line in table.splitlines() if "hyperv set" in line)
    assert row.split("|")[3].strip().endswith("reenlightenment*")


def test_json_carries_every_profile(cache: str) -> None:
    caps = caps_for_version("7.2.0")
    rec = recommend(_identity("win11", cache), caps)
    document = recommendation_to_json(rec, translate_recommendation(rec, caps))
    elements = document["elements"]
    assert isinstance(elements, list) and len(elements) == len(Element)
    for element in elements:
        assert set(element["profiles"]) == {p.value for p in Profile}
    assert set(document["sources"]) == {p.value for p in Profile}  # type: ignore[arg-type]


def test_xml_comments_stay_comments(cache: str) -> None:
    rec = recommend(_identity("win10", cache), caps_for_version("7.2.0"), RecommendOptions(utc_registry=True))
    text = recommendation_to_xml(rec)
    for line in text.splitlines():
        if line.startswith("<!--"):
            assert "--" not in line[4:-3], line
    assert read_domain(text).domain == rec.domain()
    assert replace(rec.domain(), os_id=None) != rec.domain()
