"""Workflow rules: payloads of each kind, durations, secrets, create/update bodies, what an update
changes, and the list filters."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hourglass.domain.jobs import BuildStatus, Kind
from hourglass.domain.payloads import (
    check_payload,
    decode_payload,
    mask_secrets,
    parse_duration,
    restore_secrets,
)
from hourglass.domain.workflows import (
    LIST_LIMIT_DEFAULT,
    ListParams,
    Workflow,
    WorkflowFilter,
    apply_update,
    new_workflow,
    parse_list_params,
    spec_for_create,
    spec_for_update,
)
from hourglass.errors import ValidationError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2026, 1, 2, tzinfo=UTC)
HB: dict[str, Any] = {"endpoint": "https://example.com/health"}


def fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e.field for e in exc.value.errors]


def create_body(kind: str = "HEARTBEAT", payload: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": "check",
        "kind": kind,
        "payload": json.dumps(HB if payload is None else payload),
        "interval": 5,
        **extra,
    }


def make(kind: str = "HEARTBEAT", payload: Any = None, **extra: Any) -> Workflow:
    spec = spec_for_create(
        create_body(kind, payload, **extra), allow_command=True, default_log_retention_days=30
    )
    return new_workflow("01JGXYZ5V8T3K9Q2M4N6P7R8S0", "user", spec, NOW)


# --- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1h30m15s", 5415)]
)
def test_durations_parse_to_seconds(text: str, seconds: int) -> None:
    """Durations are hours, minutes and seconds in that order."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "-5s", "5x", "1m1h", "1.5h", "5 m", "9" * 40 + "s"])
def test_malformed_durations_are_refused(text: str) -> None:
    """Anything but `<n>h<n>m<n>s` (each part optional, in order) is not a duration."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("kind", "payload", "limit"),
    [
        ("HEARTBEAT", HB, "5m"),
        ("CONTAINER", {"image": "a"}, "24h"),
        ("COMMAND", {"cmd": ["a"]}, "24h"),
    ],
)
def test_timeout_has_a_maximum_per_kind(kind: str, payload: dict[str, Any], limit: str) -> None:
    """A timeout up to the kind's maximum is accepted; one second more is refused."""
    seconds = parse_duration(limit)
    assert check_payload(Kind(kind), {**payload, "timeout": limit})["timeout"] == limit
    with pytest.raises(ValidationError, match=f"at most {limit}") as exc:
        check_payload(Kind(kind), {**payload, "timeout": f"{seconds + 1}s"})
    assert fields(exc) == ["payload.timeout"]


def test_zero_timeout_is_refused() -> None:
    """A timeout must be at least one second."""
    with pytest.raises(ValidationError, match="at least 1s"):
        check_payload(Kind.HEARTBEAT, {**HB, "timeout": "0s"})


# --- payloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "defaults"),
    [
        ("HEARTBEAT", HB, {"method": "GET", "expected_status_code": 200, "timeout": "10s"}),
        ("CONTAINER", {"image": "alpine"}, {"timeout": "30m"}),
        ("COMMAND", {"cmd": ["true"]}, {"timeout": "30m"}),
    ],
)
def test_documented_defaults_are_filled_in(
    kind: str, payload: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """Each kind's payload gets its documented defaults; other optional fields stay absent."""
    assert check_payload(Kind(kind), payload) == {**payload, **defaults}


def test_null_optional_fields_count_as_absent() -> None:
    """`"headers": null` is the same as leaving headers out."""
    assert check_payload(Kind.HEARTBEAT, {**HB, "headers": None}) == check_payload(
        Kind.HEARTBEAT, HB
    )


FULL_PAYLOADS: dict[str, dict[str, Any]] = {
    "HEARTBEAT": {
        "endpoint": "http://10.0.0.1:8080/x?y=1",
        "method": "HEAD",
        "expected_status_code": 204,
        "headers": {"X-One": "1", "X-Many": ["a", "b"]},
        "timeout": "1m30s",
    },
    "CONTAINER": {
        "image": "ghcr.io/acme/tool@sha256:abc",
        "cmd": [],
        "env": {"A": "1"},
        "secrets": {"B": "2"},
        "timeout": "2h",
        "cpus": 2,
        "memory": "1g",
    },
    "COMMAND": {
        "cmd": ["sh", "-c", "echo hi"],
        "env": {},
        "secrets": {},
        "working_dir": "/srv",
        "timeout": "45s",
    },
}


@pytest.mark.parametrize("kind", list(FULL_PAYLOADS))
def test_full_payloads_of_each_kind_are_accepted(kind: str) -> None:
    """Every documented field of every kind is accepted and kept exactly as given."""
    assert check_payload(Kind(kind), FULL_PAYLOADS[kind]) == FULL_PAYLOADS[kind]


def test_values_that_need_normalizing_are_stored_normalized() -> None:
    """A lower-case method is stored upper-case; padded durations and sizes are trimmed."""
    heartbeat = check_payload(Kind.HEARTBEAT, {**HB, "method": "head", "timeout": " 5m "})
    assert (heartbeat["method"], heartbeat["timeout"]) == ("HEAD", "5m")
    container = check_payload(Kind.CONTAINER, {"image": "a", "memory": " 64MiB "})
    assert container["memory"] == "64MiB"


@pytest.mark.parametrize("text", ["\u0663m", "1\u0660s", "\uff15m", "\u09e8h"])
def test_durations_with_non_ascii_digits_are_refused(text: str) -> None:
    """Only ASCII digits count: Arabic-Indic, fullwidth or Bengali digits are not a duration."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
    with pytest.raises(ValidationError) as exc:
        check_payload(Kind.HEARTBEAT, {**HB, "timeout": text})
    assert fields(exc) == ["payload.timeout"]


def test_memory_with_non_ascii_digits_is_refused() -> None:
    """A memory size in non-ASCII digits ("\u0665\u0661\u0662m") is refused."""
    with pytest.raises(ValidationError) as exc:
        check_payload(Kind.CONTAINER, {"image": "a", "memory": "\u0665\u0661\u0662m"})
    assert fields(exc) == ["payload.memory"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (r'{"endpoint": "https://x\ud800.com"}', "payload.endpoint"),
        (r'{"endpoint": "https://x.com", "headers": {"X-A": "\udfff"}}', "payload.headers.X-A"),
        (
            r'{"endpoint": "https://x.com", "headers": {"X-A": ["ok", "\u0000"]}}',
            "payload.headers.X-A[1]",
        ),
        (r'{"endpoint": "https://x.com", "\ud800": 1}', r"payload.\ud800"),
        (r'{"endpoint": "https://x.com", "a\u0000": 1}', r"payload.a\x00"),
    ],
)
def test_strings_with_nul_or_lone_surrogates_are_refused_anywhere(raw: str, field: str) -> None:
    """NUL or a lone surrogate in any string of a payload, keys included, is 400 naming it."""
    with pytest.raises(ValidationError) as exc:
        decode_payload(raw)
    assert fields(exc) == [field]


def test_env_values_with_lone_surrogates_are_refused() -> None:
    """An env value holding a lone surrogate is refused, naming the variable."""
    raw = r'{"cmd": ["ls"], "env": {"HOME": "/h\ud800"}}'
    with pytest.raises(ValidationError) as exc:
        decode_payload(raw)
    assert fields(exc) == ["payload.env.HOME"]


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("HEARTBEAT", {}, "payload.endpoint"),
        ("HEARTBEAT", {"endpoint": "example.com"}, "payload.endpoint"),
        ("HEARTBEAT", {"endpoint": "https://"}, "payload.endpoint"),
        ("HEARTBEAT", {"endpoint": "https://exa mple.com"}, "payload.endpoint"),
        ("HEARTBEAT", {"endpoint": "javascript:alert(1)"}, "payload.endpoint"),
        ("HEARTBEAT", {"endpoint": "https://x/" + "a" * 2048}, "payload.endpoint"),
        ("HEARTBEAT", {**HB, "method": "PUT"}, "payload.method"),
        ("HEARTBEAT", {**HB, "expected_status_code": 600}, "payload.expected_status_code"),
        ("HEARTBEAT", {**HB, "expected_status_code": True}, "payload.expected_status_code"),
        ("HEARTBEAT", {**HB, "expected_status_code": 200.0}, "payload.expected_status_code"),
        ("HEARTBEAT", {**HB, "headers": ["X-A: 1"]}, "payload.headers"),
        ("HEARTBEAT", {**HB, "headers": {"X(A)": "1"}}, "payload.headers.X(A)"),
        ("HEARTBEAT", {**HB, "headers": {"X-A": "1\n2"}}, "payload.headers.X-A"),
        ("HEARTBEAT", {**HB, "headers": {"X-A": [1]}}, "payload.headers.X-A[0]"),
        ("HEARTBEAT", {**HB, "image": "alpine"}, "payload.image"),
        ("CONTAINER", {}, "payload.image"),
        ("CONTAINER", {"image": ""}, "payload.image"),
        ("CONTAINER", {"image": "a b"}, "payload.image"),
        ("CONTAINER", {"image": "a", "cmd": ["echo", None]}, "payload.cmd[1]"),
        ("CONTAINER", {"image": "a", "cpus": -1}, "payload.cpus"),
        ("CONTAINER", {"image": "a", "cpus": 1e9}, "payload.cpus"),
        ("CONTAINER", {"image": "a", "cpus": True}, "payload.cpus"),
        ("CONTAINER", {"image": "a", "memory": 512}, "payload.memory"),
        ("CONTAINER", {"image": "a", "memory": "512q"}, "payload.memory"),
        ("CONTAINER", {"image": "a", "memory": "99999999999999t"}, "payload.memory"),
        ("CONTAINER", {"image": "a", "env": {"A=B": "1"}}, "payload.env.A=B"),
        ("CONTAINER", {"image": "a", "env": {"": "1"}}, "payload.env."),
        ("CONTAINER", {"image": "a", "secrets": {"S": 1}}, "payload.secrets.S"),
        ("CONTAINER", {"image": "a", "working_dir": "/"}, "payload.working_dir"),
        ("COMMAND", {}, "payload.cmd"),
        ("COMMAND", {"cmd": "ls -l"}, "payload.cmd"),
        ("COMMAND", {"cmd": []}, "payload.cmd"),
        ("COMMAND", {"cmd": [" "]}, "payload.cmd[0]"),
        ("COMMAND", {"cmd": ["ls", 1]}, "payload.cmd[1]"),
        ("COMMAND", {"cmd": ["ls", "a\x00b"]}, "payload.cmd[1]"),
        ("COMMAND", {"cmd": ["ls"], "working_dir": ""}, "payload.working_dir"),
        ("COMMAND", {"cmd": ["ls"], "env": {"A": "\x00"}}, "payload.env.A"),
        ("COMMAND", {"cmd": ["ls"], "image": "a"}, "payload.image"),
    ],
)
def test_invalid_payload_field_is_named(kind: str, payload: dict[str, Any], field: str) -> None:
    """Each payload rule of each kind reports the exact path of the offending field."""
    with pytest.raises(ValidationError) as exc:
        check_payload(Kind(kind), payload)
    assert fields(exc) == [field]


def test_method_is_case_insensitive_and_stored_upper_case() -> None:
    """`"post"` is accepted and stored as `"POST"`."""
    assert check_payload(Kind.HEARTBEAT, {**HB, "method": "post"})["method"] == "POST"


@pytest.mark.parametrize(
    "raw", [None, 5, {}, "", "nope", "[]", '"s"', '{"a": NaN}', '{"a": Infinity}', "[" * 10**5]
)
def test_payload_must_be_a_string_holding_a_json_object(raw: Any) -> None:
    """Anything but a string decoding to a JSON object is refused on `payload`."""
    with pytest.raises(ValidationError) as exc:
        decode_payload(raw)
    assert fields(exc) == ["payload"]


def test_secrets_are_masked_and_nothing_else_is() -> None:
    """Masking replaces every secret value with *** and leaves env and the rest alone."""
    payload = {"cmd": ["x"], "env": {"A": "1"}, "secrets": {"B": "2", "C": "3"}}
    assert mask_secrets(payload) == {
        "cmd": ["x"],
        "env": {"A": "1"},
        "secrets": {"B": "***", "C": "***"},
    }
    assert payload["secrets"] == {"B": "2", "C": "3"}


def test_masked_secrets_are_restored_from_the_stored_payload() -> None:
    """*** keeps the stored value of that secret; a new value replaces it; a dropped key is gone."""
    stored = {"secrets": {"A": "old-a", "B": "old-b", "C": "old-c"}}
    sent = {"secrets": {"A": "***", "B": "new-b"}}
    assert restore_secrets(sent, stored)["secrets"] == {"A": "old-a", "B": "new-b"}


def test_mask_without_a_stored_secret_is_refused() -> None:
    """*** for a secret that was never stored is a 400 naming it (never stored literally)."""
    with pytest.raises(ValidationError) as exc:
        restore_secrets({"secrets": {"NEW": "***"}}, {"secrets": {"OLD": "x"}})
    assert fields(exc) == ["payload.secrets.NEW"]


# --- create and update bodies --------------------------------------------------------------------


def test_create_defaults() -> None:
    """A minimal create body: 3 failures allowed, retention on, server default days."""
    spec = spec_for_create(create_body(), allow_command=False, default_log_retention_days=14)
    assert spec.max_consecutive_job_failures_allowed == 3
    assert spec.log_retention is True
    assert spec.log_retention_days == 14
    assert spec.name == "check"


@pytest.mark.parametrize("name", ["a\x00b", "a\ud800", "tab\there", "bell\x07", "del\x7f"])
def test_names_with_control_characters_or_lone_surrogates_are_refused(name: str) -> None:
    """A workflow name with NUL, another control character or a lone surrogate is refused."""
    with pytest.raises(ValidationError) as exc:
        spec_for_create(create_body(name=name), allow_command=True, default_log_retention_days=30)
    assert fields(exc) == ["name"]


def test_name_is_trimmed() -> None:
    """Surrounding whitespace is not part of a name."""
    body = create_body(name="  nightly  ")
    assert spec_for_create(body, allow_command=True, default_log_retention_days=1).name == "nightly"


def test_command_kind_needs_the_server_setting() -> None:
    """COMMAND is refused on `kind` unless allowed; the others never are."""
    body = create_body("COMMAND", {"cmd": ["true"]})
    with pytest.raises(ValidationError, match="disabled") as exc:
        spec_for_create(body, allow_command=False, default_log_retention_days=30)
    assert fields(exc) == ["kind"]
    assert spec_for_create(body, allow_command=True, default_log_retention_days=30)


def test_every_problem_is_reported() -> None:
    """Problems in several fields come back together."""
    body = {"name": "", "kind": "NOPE", "payload": "{", "interval": 0, "log_retention": 1}
    with pytest.raises(ValidationError) as exc:
        spec_for_create(body, allow_command=True, default_log_retention_days=30)
    assert fields(exc) == ["name", "kind", "payload", "interval", "log_retention"]


def test_retention_days_null_means_forever() -> None:
    """An explicit null for log_retention_days keeps logs forever, overriding the default."""
    body = create_body(log_retention_days=None)
    spec = spec_for_create(body, allow_command=True, default_log_retention_days=30)
    assert spec.log_retention_days is None


def test_update_keeps_kind_and_retention_when_left_out() -> None:
    """On update, absent kind and retention fields keep the workflow's values."""
    current = make("CONTAINER", {"image": "a"}, log_retention=False, log_retention_days=7)
    body = {"name": "n", "payload": json.dumps({"image": "b"}), "cron": "0 * * * *"}
    spec = spec_for_update(body, current, allow_command=True)
    assert spec.kind is Kind.CONTAINER
    assert (spec.log_retention, spec.log_retention_days) == (False, 7)
    assert spec.max_consecutive_job_failures_allowed == 3


def test_update_of_a_command_workflow_needs_the_setting() -> None:
    """A COMMAND workflow cannot be updated while the server refuses COMMAND."""
    current = make("COMMAND", {"cmd": ["ls"]})
    body = {"name": "n", "payload": json.dumps({"cmd": ["ls"]}), "interval": 5}
    with pytest.raises(ValidationError) as exc:
        spec_for_update(body, current, allow_command=False)
    assert fields(exc) == ["kind"]


# --- what an update does -------------------------------------------------------------------------


def test_new_workflow_starts_queued_at_generation_one() -> None:
    """A new workflow: build QUEUED, generation 1, no failures, active, not scheduled."""
    workflow = make()
    assert workflow.build_status is BuildStatus.QUEUED
    assert (workflow.generation, workflow.consecutive_job_failures_count) == (1, 0)
    assert workflow.terminated_at is None
    assert workflow.next_run_at is None


def _replace(workflow: Workflow, **changes: Any) -> Workflow:
    return dataclasses.replace(workflow, **changes)


def test_update_without_payload_change_keeps_the_build() -> None:
    """Same payload (even spelled differently): same generation and build status."""
    current = _replace(make(), build_status=BuildStatus.COMPLETED, next_run_at=NOW)
    body = create_body(payload={"timeout": "10s", "endpoint": HB["endpoint"]}, name="renamed")
    updated, change = apply_update(
        current, spec_for_update(body, current, allow_command=True), LATER
    )
    assert not change.payload_changed
    assert not change.schedule_changed
    assert (updated.generation, updated.build_status) == (1, BuildStatus.COMPLETED)
    assert updated.next_run_at == NOW
    assert (updated.name, updated.updated_at) == ("renamed", LATER)


def test_payload_change_starts_a_new_generation() -> None:
    """A changed payload bumps the generation and queues a new build."""
    current = _replace(make(), build_status=BuildStatus.FAILED, build_reason="boom")
    body = create_body(payload={"endpoint": "https://example.org/"})
    updated, change = apply_update(
        current, spec_for_update(body, current, allow_command=True), LATER
    )
    assert change.payload_changed
    assert (updated.generation, updated.build_status, updated.build_reason) == (
        2,
        BuildStatus.QUEUED,
        None,
    )


def test_kind_change_starts_a_new_generation() -> None:
    """Changing the kind is a payload change."""
    current = make()
    body = create_body("CONTAINER", {"image": "alpine"})
    _, change = apply_update(current, spec_for_update(body, current, allow_command=True), LATER)
    assert change.payload_changed


def test_schedule_change_clears_the_next_run() -> None:
    """A new schedule leaves the next run for the scheduler to compute."""
    current = _replace(make(), next_run_at=NOW)
    body = create_body(interval=10)
    updated, change = apply_update(
        current, spec_for_update(body, current, allow_command=True), LATER
    )
    assert change.schedule_changed
    assert not change.payload_changed
    assert updated.next_run_at is None


def test_update_reactivates_and_resets_failures() -> None:
    """Any update re-activates a terminated workflow and resets its failure count."""
    current = _replace(make(), terminated_at=NOW, consecutive_job_failures_count=3, next_run_at=NOW)
    updated, change = apply_update(
        current, spec_for_update(create_body(), current, allow_command=True), LATER
    )
    assert change.reactivated
    assert updated.terminated_at is None
    assert updated.consecutive_job_failures_count == 0
    assert updated.next_run_at is None


def test_public_payload_masks_secrets_but_storage_keeps_them() -> None:
    """The API view of a payload hides secrets; the stored form keeps them."""
    workflow = make("COMMAND", {"cmd": ["x"], "secrets": {"K": "v"}})
    assert json.loads(workflow.public_payload)["secrets"] == {"K": "***"}
    assert json.loads(workflow.payload_json)["secrets"] == {"K": "v"}


# --- list parameters -----------------------------------------------------------------------------


def test_list_defaults() -> None:
    """No parameters: no filters and the default page size."""
    assert parse_list_params() == (WorkflowFilter(), LIST_LIMIT_DEFAULT)


def test_list_parameters_are_parsed() -> None:
    """Every filter is parsed from its query-string form."""
    found, limit = parse_list_params(
        ListParams(
            limit="1000",
            query="50%_off",
            kind="CONTAINER",
            build_status="FAILED",
            terminated="false",
            interval_min="5",
            interval_max="60",
        )
    )
    assert limit == 1000
    assert found == WorkflowFilter("50%_off", Kind.CONTAINER, BuildStatus.FAILED, False, 5, 60)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"kind": "heartbeat"}, "kind"),
        ({"build_status": "DONE"}, "build_status"),
        ({"terminated": "yes"}, "terminated"),
        ({"interval_min": "1.5"}, "interval_min"),
        ({"interval_max": "9" * 5000}, "interval_max"),
        ({"interval_min": "10", "interval_max": "5"}, "interval_min"),
        ({"query": "q" * 201}, "query"),
        ({"query": "a\x00"}, "query"),
        ({"query": "\ud800"}, "query"),
        ({"query": "line\nbreak"}, "query"),
    ],
)
def test_bad_list_parameters_are_named(params: dict[str, str], field: str) -> None:
    """Each bad list parameter is a 400 naming it."""
    with pytest.raises(ValidationError) as exc:
        parse_list_params(ListParams(**params))
    assert fields(exc) == [field]
