"""Table-driven tests of the pure rule engine with the packaged default rule set: one row per trigger and
per suppression/merge rule."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.domain.engine import ActionKind, case_id_for, decide, evaluate
from psp_rules.domain.model import Context, GroupPolicy, Incident, Mode, OpenCase, Person, RuleSet, Urgency

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES: RuleSet = load_file().to_domain("default:1")
GROUP = GroupPolicy(staff_more_than=5, units_at_least=2)


def people(n: int) -> tuple[Person, ...]:
    return tuple(Person(f"ps_{i:08d}", "k1", "rn") for i in range(n))


def incident(**kw: object) -> Incident:
    base: dict[str, object] = {
        "incident_ref": "ref_a",
        "report_version": 1,
        "facility": "GEN",
        "unit": "ICU",
        "source_kind": "native",
        "event_class": "incident",
        "staff": people(1),
        "occurred_at": NOW,
        "harm_level": None,
        "cis_flags": frozenset(),
    }
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


@dataclass
class Row:
    name: str
    inc: Incident
    fired: set[str]
    urgency: Urgency | None
    tier: int = 0
    mode: Mode = Mode.INDIVIDUAL
    opened: int = 0


def flag(name: str) -> Incident:
    return incident(cis_flags=frozenset({name}), harm_level="no_harm")


TRIGGERS = [
    # ICISF top 9
    Row(
        "suicide of colleague",
        flag("suicide_of_colleague"),
        {"icisf-suicide-of-colleague"},
        Urgency.IMMEDIATE,
        3,
        opened=1,
    ),
    Row("line of duty death", flag("line_of_duty_death"), {"icisf-line-of-duty-death"}, Urgency.IMMEDIATE, 3, opened=1),
    Row(
        "disaster / multi-casualty",
        flag("disaster_or_multi_casualty"),
        {"icisf-disaster-or-multi-casualty"},
        Urgency.IMMEDIATE,
        2,
        opened=1,
    ),
    Row(
        "child event",
        flag("significant_event_involving_child"),
        {"icisf-significant-event-involving-child"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    Row(
        "prolonged loss",
        flag("prolonged_incident_ending_in_loss"),
        {"icisf-prolonged-incident-ending-in-loss"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    Row(
        "media", flag("excessive_media_interest"), {"icisf-excessive-media-interest"}, Urgency.WITHIN_DAYS, 1, opened=1
    ),
    Row(
        "threat to staff",
        flag("threat_to_staff_safety"),
        {"icisf-threat-to-staff-safety"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    Row(
        "on-the-job injury",
        flag("serious_on_the_job_injury"),
        {"icisf-serious-on-the-job-injury"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    Row(
        "relatives / known victims",
        flag("work_on_relatives_or_known_victims"),
        {"icisf-work-on-relatives-or-known-victims"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    # critical incidents
    Row(
        "unexpected patient death",
        flag("unexpected_patient_death"),
        {"critical-unexpected-patient-death"},
        Urgency.IMMEDIATE,
        2,
        opened=1,
    ),
    Row(
        "co-worker illness/injury/death",
        flag("co_worker_illness_injury_or_death"),
        {"critical-co-worker-illness-injury-or-death"},
        Urgency.IMMEDIATE,
        3,
        opened=1,
    ),
    Row("disaster", flag("internal_or_external_disaster"), {"critical-disaster"}, Urgency.IMMEDIATE, 2, opened=1),
    Row("profound emotion", flag("profound_emotion"), {"critical-profound-emotion"}, Urgency.WITHIN_HOURS, 2, opened=1),
    # harm levels
    Row("harm death", incident(harm_level="death"), {"harm-death"}, Urgency.IMMEDIATE, 2, opened=1),
    Row(
        "child death is tier 3",
        incident(harm_level="death", patient_age_group="child"),
        {"harm-death", "harm-child-death"},
        Urgency.IMMEDIATE,
        3,
        opened=1,
    ),
    Row("severe harm", incident(harm_level="severe"), {"harm-severe"}, Urgency.WITHIN_HOURS, 2, opened=1),
    Row(
        "moderate harm incident",
        incident(harm_level="moderate"),
        {"harm-moderate-incident"},
        Urgency.WITHIN_DAYS,
        1,
        opened=1,
    ),
    Row("moderate near miss does not fire", incident(harm_level="moderate", event_class="near_miss"), set(), None),
    Row(
        "unrated harmful incident",
        incident(harm_level="unknown"),
        {"harm-unrated-incident"},
        Urgency.WITHIN_DAYS,
        1,
        opened=1,
    ),
    Row("no harm near miss: no rule fired", incident(harm_level="no_harm", event_class="near_miss"), set(), None),
    # other work-related stress
    Row(
        "assault",
        flag("assault_harassment_or_violence"),
        {"stress-assault-harassment-violence"},
        Urgency.WITHIN_HOURS,
        2,
        opened=1,
    ),
    Row(
        "workplace conflict",
        flag("workplace_conflict"),
        {"stress-workplace-conflict"},
        Urgency.WITHIN_DAYS,
        1,
        opened=1,
    ),
    Row(
        "named in lawsuit",
        flag("named_in_complaint_or_lawsuit"),
        {"stress-named-in-complaint-or-lawsuit"},
        Urgency.WITHIN_DAYS,
        2,
        opened=1,
    ),
    # huddles
    Row(
        "huddle out of the ordinary",
        incident(source_kind="huddle", huddle_call="morning", harm_level="no_harm", event_class="near_miss"),
        {"huddle-out-of-the-ordinary"},
        Urgency.WITHIN_HOURS,
        1,
        opened=1,
    ),
    # combined: most urgent wins
    Row(
        "most urgent of several",
        incident(harm_level="moderate", cis_flags=frozenset({"suicide_of_colleague"})),
        {"harm-moderate-incident", "icisf-suicide-of-colleague"},
        Urgency.IMMEDIATE,
        3,
        opened=1,
    ),
    # group rule
    Row(
        "more than 5 staff -> one group case",
        incident(harm_level="severe", staff=people(6)),
        {"harm-severe", "group-intervention"},
        Urgency.WITHIN_HOURS,
        2,
        Mode.GROUP,
        opened=1,
    ),
    Row(
        "exactly 5 staff stay individual",
        incident(harm_level="severe", staff=people(5)),
        {"harm-severe"},
        Urgency.WITHIN_HOURS,
        2,
        Mode.INDIVIDUAL,
        opened=5,
    ),
    Row(
        "reported team size over 5 -> group",
        incident(harm_level="severe", staff=people(2), team_size=8),
        {"harm-severe", "group-intervention"},
        Urgency.WITHIN_HOURS,
        2,
        Mode.GROUP,
        opened=1,
    ),
    Row(
        "several units -> group",
        incident(harm_level="severe", staff=people(2), other_units=frozenset({"ED"})),
        {"harm-severe", "group-intervention"},
        Urgency.WITHIN_HOURS,
        2,
        Mode.GROUP,
        opened=1,
    ),
    Row(
        "group hint on a colleague's suicide",
        incident(cis_flags=frozenset({"suicide_of_colleague"}), staff=people(3)),
        {"icisf-suicide-of-colleague"},
        Urgency.IMMEDIATE,
        3,
        Mode.GROUP,
        opened=1,
    ),
    Row(
        "many staff alone fire nothing",
        incident(harm_level="no_harm", event_class="near_miss", staff=people(9)),
        set(),
        None,
    ),
]


def ctx(**kw: object) -> Context:
    base: dict[str, object] = {"merge_window_hours": 72.0}
    base.update(kw)
    return Context(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("row", TRIGGERS, ids=lambda r: r.name)
def test_trigger(row: Row) -> None:
    ev = evaluate(row.inc, RULES, GROUP)
    assert {h.rule_id for h in ev.hits} == row.fired
    assert ev.urgency == row.urgency
    d = decide(row.inc, ev, ctx())
    opened = [a for a in d.actions if a.kind is ActionKind.OPEN]
    assert len(opened) == row.opened
    if row.fired:
        assert ev.tier == row.tier and d.mode is row.mode
        assert all(a.publish and a.urgency == row.urgency for a in opened)
        covered = {p for a in opened for p in a.people}
        assert covered == {p.pseudonym for p in row.inc.people()}
        assert all(h.reasons for h in ev.hits)
    else:
        assert d.outcome == "no rule fired" and not d.actions


def test_every_cis_trigger_and_icisf_flag_has_a_default_rule() -> None:
    from psp_common.events.vocab import ICISF_TOP9, CisTrigger

    covered = {f for r in RULES.rules for f in r.when.cis_flags_any}
    assert {t.value for t in CisTrigger} <= covered
    assert {t.value for t in ICISF_TOP9} <= covered


def open_case(
    ref: str,
    names: tuple[str, ...],
    *,
    hours_ago: float,
    urgency: Urgency = Urgency.WITHIN_DAYS,
    tier: int = 1,
    mode: Mode = Mode.INDIVIDUAL,
) -> OpenCase:
    """An open case whose incident occurred ``hours_ago`` before NOW (negative: after it)."""
    occurred = NOW - timedelta(hours=hours_ago)
    return OpenCase(
        case_id_for(ref, mode, names[0]),
        ref,
        mode,
        urgency,
        tier,
        names,
        {n: (occurred,) for n in names},
        frozenset({ref}),
    )


P = people(3)
A, B, C = (p.pseudonym for p in P)


@dataclass
class Sup:
    name: str
    inc: Incident
    context: Context
    kinds: dict[str, ActionKind] = field(default_factory=dict)
    published: int = 0
    outcome: str = ""
    urgency: Urgency | None = None


SUPPRESSION = [
    Sup(
        "opted out person is not contacted",
        incident(harm_level="death", staff=P[:2]),
        ctx(opted_out=frozenset({A})),
        {A: ActionKind.SUPPRESS, B: ActionKind.OPEN},
        1,
    ),
    Sup(
        "everyone opted out",
        incident(harm_level="death", staff=P[:1]),
        ctx(opted_out=frozenset({A})),
        {A: ActionKind.SUPPRESS},
        0,
        "suppressed: opted out",
    ),
    Sup(
        "open case of another incident within window -> merge",
        incident(harm_level="severe", staff=P[:1]),
        ctx(open_cases=(open_case("ref_old", (A,), hours_ago=10, urgency=Urgency.IMMEDIATE, tier=2),)),
        {A: ActionKind.MERGE},
        0,
        "merged",
    ),
    Sup(
        "open case older than the window -> new case",
        incident(harm_level="severe", staff=P[:1]),
        ctx(open_cases=(open_case("ref_old", (A,), hours_ago=100),)),
        {A: ActionKind.OPEN},
        1,
    ),
    Sup(
        "open case of an incident that occurred later, within the window -> merge",
        incident(harm_level="severe", staff=P[:1]),
        ctx(open_cases=(open_case("ref_later", (A,), hours_ago=-48, urgency=Urgency.IMMEDIATE, tier=2),)),
        {A: ActionKind.MERGE},
        0,
        "merged",
    ),
    Sup(
        "open case of an incident that occurred 10 days later -> new case",
        incident(harm_level="severe", staff=P[:1]),
        ctx(open_cases=(open_case("ref_later", (A,), hours_ago=-240),)),
        {A: ActionKind.OPEN},
        1,
    ),
    Sup(
        "window is configurable",
        incident(harm_level="severe", staff=P[:1]),
        ctx(merge_window_hours=5.0, open_cases=(open_case("ref_old", (A,), hours_ago=10),)),
        {A: ActionKind.OPEN},
        1,
    ),
    Sup(
        "merge into a less urgent case escalates it",
        incident(harm_level="death", staff=P[:1]),
        ctx(open_cases=(open_case("ref_old", (A,), hours_ago=10),)),
        {A: ActionKind.MERGE},
        1,
        "merged; escalated",
        Urgency.IMMEDIATE,
    ),
    Sup(
        "amended upward escalates the same case",
        incident(harm_level="death", report_version=2, staff=P[:1]),
        ctx(last_version=1, open_cases=(open_case("ref_a", (A,), hours_ago=1),)),
        {},
        1,
        "escalated",
        Urgency.IMMEDIATE,
    ),
    Sup(
        "amended same urgency does nothing",
        incident(harm_level="moderate", report_version=2, staff=P[:1]),
        ctx(last_version=1, open_cases=(open_case("ref_a", (A,), hours_ago=1),)),
        {A: ActionKind.COVERED},
        0,
        "no change: already covered",
    ),
    Sup(
        "amended lower does nothing",
        incident(harm_level="moderate", report_version=2, staff=P[:1]),
        ctx(last_version=1, open_cases=(open_case("ref_a", (A,), hours_ago=1, urgency=Urgency.IMMEDIATE, tier=2),)),
        {A: ActionKind.COVERED},
        0,
    ),
    Sup(
        "amended adds a person not yet covered",
        incident(harm_level="moderate", report_version=2, staff=P[:2]),
        ctx(last_version=1, open_cases=(open_case("ref_a", (A,), hours_ago=1),)),
        {A: ActionKind.COVERED, B: ActionKind.OPEN},
        1,
    ),
    Sup(
        "earlier no-rule decision then upgrade opens",
        incident(harm_level="death", report_version=2, staff=P[:1]),
        ctx(last_version=1),
        {A: ActionKind.OPEN},
        1,
    ),
    Sup(
        "stale or repeated version does nothing",
        incident(harm_level="death", report_version=1, staff=P[:1]),
        ctx(last_version=1),
        {},
        0,
        "no change: version already decided",
    ),
    Sup(
        "group case grows and escalates on amendment",
        incident(harm_level="death", report_version=2, staff=people(7)),
        ctx(
            last_version=1,
            open_cases=(
                open_case(
                    "ref_a",
                    tuple(p.pseudonym for p in people(6)),
                    hours_ago=1,
                    mode=Mode.GROUP,
                    urgency=Urgency.WITHIN_HOURS,
                    tier=2,
                ),
            ),
        ),
        {},
        1,
        "group case updated",
        Urgency.IMMEDIATE,
    ),
    Sup(
        "group amendment with nothing new does nothing",
        incident(harm_level="severe", report_version=2, staff=people(6)),
        ctx(
            last_version=1,
            open_cases=(
                open_case(
                    "ref_a",
                    tuple(p.pseudonym for p in people(6)),
                    hours_ago=1,
                    mode=Mode.GROUP,
                    urgency=Urgency.WITHIN_HOURS,
                    tier=2,
                ),
            ),
        ),
        {},
        0,
        "no change: already covered",
    ),
]


@pytest.mark.parametrize("row", SUPPRESSION, ids=lambda r: r.name)
def test_suppression_and_merging(row: Sup) -> None:
    d = decide(row.inc, evaluate(row.inc, RULES, GROUP), row.context)
    kinds = {p: a.kind for a in d.actions if a.kind is not ActionKind.ESCALATE for p in a.people}
    for person, kind in row.kinds.items():
        assert kinds[person] is kind, person
    pubs = [a for a in d.actions if a.publish]
    assert len(pubs) == row.published
    assert not any(A in a.people for a in pubs if A in row.context.opted_out)
    if row.outcome:
        assert d.outcome == row.outcome
    if row.urgency:
        assert all(a.urgency is row.urgency for a in pubs)
        assert all(a.case_id == row.context.open_cases[0].case_id for a in pubs)


def test_merge_goes_to_the_open_case_nearest_in_event_time_whatever_the_order_of_cases() -> None:
    top = {"urgency": Urgency.IMMEDIATE, "tier": 2}
    far, near = open_case("ref_far", (A,), hours_ago=60, **top), open_case("ref_near", (A,), hours_ago=-5, **top)
    inc = incident(harm_level="severe", staff=P[:1])
    for cases in ((far, near), (near, far)):
        d = decide(inc, evaluate(inc, RULES, GROUP), ctx(open_cases=cases))
        assert [(a.kind, a.case_id) for a in d.actions] == [(ActionKind.MERGE, near.case_id)]


def test_the_merge_window_compares_occurrence_times_never_the_wall_clock() -> None:
    """The same incident and case decide the same whenever they are handled: the context has no 'now'."""
    assert "now" not in {f.name for f in fields(Context)}
    inc = incident(harm_level="severe", staff=P[:1], occurred_at=NOW + timedelta(days=400))
    case = open_case("ref_old", (A,), hours_ago=-400 * 24 + 71, urgency=Urgency.IMMEDIATE, tier=2)  # 71 h before
    d = decide(inc, evaluate(inc, RULES, GROUP), ctx(open_cases=(case,)))
    assert [a.kind for a in d.actions] == [ActionKind.MERGE]


def test_facility_ruleset_from_settings_group_policy_is_used_when_ruleset_has_none() -> None:
    inc = incident(harm_level="severe", staff=people(3))
    assert evaluate(inc, RULES, GroupPolicy(2, 9)).wants_group
    assert not evaluate(inc, RULES, GroupPolicy(3, 9)).wants_group
    own = replace(RULES, group=GroupPolicy(10, 9))
    assert not evaluate(inc, own, GroupPolicy(2, 9)).wants_group
