"""Principals and roles from one reference file, and the pure role -> ACL mapping (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.principals import Grant, PrincipalsError, grants, principals, province_principal, super_users
from schemas.reference import provinces
from schemas.topics import TopicNames

NAMES = TopicNames("cshub")
APP = "cshub-worker"


def test_every_province_of_the_provinces_file_has_a_principal() -> None:
    everyone = principals()
    codes = {p.province for p in everyone.values() if p.role == "province"}
    assert codes == set(provinces())
    assert len(codes) == 31
    assert everyone["province-320000"].name_zh == "江苏省报送系统"


def test_a_new_reporting_unit_gets_an_identity_without_code_changes(tmp_path: Path) -> None:
    units = tmp_path / "provinces.csv"
    units.write_text("code,name_zh,name_en\n320000,江苏省,Jiangsu\n660000,新疆生产建设兵团,XPCC\n", encoding="utf-8")
    everyone = principals(provinces_file=units)
    assert {p.name for p in everyone.values() if p.role == "province"} == {"province-320000", "province-660000"}
    assert Grant("topic", "prefixed", "cshub.in.660000.", "WRITE") in grants(everyone["province-660000"], NAMES, APP)


def test_super_users_are_the_admin_broker_and_controller_only() -> None:
    assert super_users(principals()) == ["cshub-admin", "cshub-broker", "cshub-controller"]


def test_a_province_writes_only_its_own_prefix_and_reads_only_its_own_feedback() -> None:
    acls = grants(principals()["province-320000"], NAMES, APP)
    writes = {g.name for g in acls if g.operation == "WRITE"}
    reads = {(g.resource, g.name) for g in acls if g.operation == "READ"}
    assert writes == {"cshub.in.320000."}
    assert all(g.pattern == "literal" for g in acls if g.resource == "topic" and g.operation == "READ")
    assert reads == {("topic", "cshub.feedback.320000"), ("topic", "cshub.receipts.320000"), ("topic", "cshub.schemas"),
                     ("group", "province-320000.")}
    assert not any(g.operation == "CREATE" for g in acls)


def test_prefixes_end_with_the_separator() -> None:
    """`cshub.in.32` would also match cshub.in.320000 and cshub.in.321234: prefixes must end with '.'."""
    for principal in principals().values():
        for g in grants(principal, NAMES, APP):
            if g.pattern == "prefixed":
                assert g.name.endswith((".", "-")), g


def test_ministries_gateway_and_auditor_never_write_or_create() -> None:
    for principal in principals().values():
        if principal.role in ("ministry", "gateway", "auditor"):
            ops = {g.operation for g in grants(principal, NAMES, APP)}
            assert ops == {"READ"}, principal
    ministry = grants(principals()["ministry-mca"], NAMES, APP)
    assert {g.name for g in ministry} == {"cshub.national.", "cshub.notifications", "cshub.schemas"}
    auditor = grants(principals()["auditor-cnao"], NAMES, APP)
    assert auditor == [Grant("topic", "prefixed", "cshub.", "READ")]


def test_worker_creates_only_faust_internal_topics_and_joins_only_its_group() -> None:
    acls = grants(principals()["hub-worker"], NAMES, APP)
    assert {g.name for g in acls if g.operation == "CREATE"} == {"cshub-worker-"}
    assert [g for g in acls if g.resource == "group"] == [Grant("group", "literal", APP, "READ"),
                                                          Grant("group", "prefixed", f"{APP}-", "READ")]
    assert Grant("topic", "prefixed", "cshub.in.", "READ") in acls
    assert not any(g.operation == "WRITE" and g.name.startswith("cshub.in.") for g in acls)


def test_grants_follow_the_topic_root() -> None:
    acls = grants(principals()["province-110000"], TopicNames("t-abc"), "t-abc-app")
    assert Grant("topic", "prefixed", "t-abc.in.110000.", "WRITE") in acls
    assert {g.name for g in grants(principals()["auditor-cnao"], TopicNames("t-abc"), "x")} == {"t-abc."}


def test_super_users_get_no_acls() -> None:
    for name in ("cshub-admin", "cshub-broker", "cshub-controller"):
        assert grants(principals()[name], NAMES, APP) == []


def test_province_helper_matches_the_file() -> None:
    assert province_principal("320000") in principals()


@pytest.mark.parametrize(("rows", "message"), [
    ("Hub Worker,worker,a,b\n", "lower-case letters"),
    ("x,wizard,a,b\n", "role 'wizard'"),
    ("province-32,province,a,b\n", "expanded over the provinces file"),
    ("hub-worker,worker,a,b\nhub-worker,worker,a,b\n", "appears twice"),
])
def test_a_broken_principals_file_is_refused_with_its_row(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "principals.csv"
    path.write_text("principal,role,name_zh,name_en\n" + rows, encoding="utf-8")
    with pytest.raises(PrincipalsError, match=message) as info:
        principals(path)
    assert str(path) in str(info.value)


def test_each_singleton_role_is_required(tmp_path: Path) -> None:
    path = tmp_path / "principals.csv"
    path.write_text("principal,role,name_zh,name_en\nhub-worker,worker,a,b\n", encoding="utf-8")
    with pytest.raises(PrincipalsError, match="exactly one principal with role admin"):
        principals(path)


def _covers(grant: Grant, topic: str) -> bool:
    return topic == grant.name if grant.pattern == "literal" else topic.startswith(grant.name)


def test_the_worker_may_use_every_topic_of_the_plan_and_only_the_admin_creates_the_hub_topics() -> None:
    """A topic added to the plan without a worker ACL would make `cshub worker` try to create it (and be refused)."""
    from schemas.topics import TopicPlan

    plan = TopicPlan(NAMES, tuple(provinces()), app_id=APP)
    worker = grants(principals()["hub-worker"], NAMES, APP)
    notary_topics = {s.name for s in plan.notary_specs()}  # the worker only sees them (the plan check)
    for spec in plan.specs():
        ops = {g.operation for g in worker if g.resource == "topic" and _covers(g, spec.name)}
        assert ops & ({"DESCRIBE"} if spec.name in notary_topics else {"READ", "WRITE"}), \
            f"hub-worker cannot even see {spec.name}"
        assert "DESCRIBE_CONFIGS" in ops, f"hub-worker cannot check the configs of {spec.name}"
        assert ("CREATE" in ops) == spec.name.startswith(f"{APP}-"), spec.name


def test_the_gateway_also_reads_what_its_history_needs_a_ministry_does_not() -> None:
    gateway = {g.name for g in grants(principals()["gateway"], NAMES, APP)}
    ministry = {g.name for g in grants(principals()["ministry-mca"], NAMES, APP)}
    assert gateway - ministry == {"cshub.validated.", "cshub.rejected"}


def test_the_notary_is_the_one_writer_of_the_log_and_receipts_and_reads_no_inbound_record() -> None:
    acls = grants(principals()["hub-notary"], NAMES, APP)
    writes = {(g.pattern, g.name) for g in acls if g.resource == "topic" and g.operation == "WRITE"}
    assert writes == {("literal", "cshub.log"), ("literal", "cshub.checkpoints"), ("prefixed", "cshub.receipts.")}
    reads = {g.name for g in acls if g.resource == "topic" and g.operation == "READ"}
    assert reads == {"cshub.verdicts", "cshub.national.", "cshub.log", "cshub.checkpoints"}
    assert Grant("transactional_id", "literal", "cshub.notary", "WRITE") in acls
    assert Grant("group", "literal", "cshub.notary", "READ") in acls
    for name, principal in principals().items():  # nobody else writes evidence
        if name != "hub-notary" and not principal.is_super:
            assert not any(g.operation == "WRITE" and g.name.startswith(("cshub.log", "cshub.checkpoints",
                                                                          "cshub.receipts"))
                           for g in grants(principal, NAMES, APP)), name
