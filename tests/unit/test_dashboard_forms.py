"""The workflow form: from what was typed to the API body, and API errors back to fields."""

from __future__ import annotations

import json

import pytest
from starlette.datastructures import ImmutableMultiDict

from hourglass.domain.jobs import Kind
from hourglass.errors import ValidationError
from hourglass.web.dashboard.forms import WorkflowForm, field_id, label


def submitted(kind: Kind, *pairs: tuple[str, str]) -> WorkflowForm:
    return WorkflowForm.from_form(kind, ImmutableMultiDict(list(pairs)))


def test_command_form_becomes_the_api_body() -> None:
    """Rows become argv and env; numbers are numbers; empty optional inputs are left out."""
    form = submitted(
        Kind.COMMAND,
        ("name", "hello"),
        ("schedule", "interval"),
        ("interval", "5"),
        ("cmd", "echo"),
        ("cmd", ""),
        ("cmd", "hi"),
        ("env_name", "A"),
        ("env_value", "1"),
        ("env_name", ""),
        ("env_value", ""),
        ("max_failures", "3"),
        ("retention_days", ""),
        ("keep_logs", "on"),
        ("timeout", ""),
        ("working_dir", ""),
    )
    body = form.to_body(with_kind=True)
    assert json.loads(body.pop("payload")) == {"cmd": ["echo", "hi"], "env": {"A": "1"}}
    assert body == {
        "name": "hello",
        "kind": "COMMAND",
        "interval": 5,
        "max_consecutive_job_failures_allowed": 3,
        "log_retention": True,
        "log_retention_days": None,
    }


def test_text_where_a_number_belongs_is_sent_as_typed() -> None:
    """ "abc" for the interval reaches the API as "abc", so its message names the interval."""
    form = submitted(Kind.COMMAND, ("interval", "abc"), ("cmd", "true"))
    assert form.to_body(with_kind=False)["interval"] == "abc"


def test_cron_choice_sends_cron_only() -> None:
    """Choosing cron sends `cron` and no `interval`."""
    body = submitted(
        Kind.COMMAND, ("schedule", "cron"), ("cron", "0 2 * * *"), ("interval", "5")
    ).to_body(with_kind=False)
    assert (body["cron"], "interval" in body) == ("0 2 * * *", False)


def test_header_given_on_two_rows_is_a_list() -> None:
    """Two rows with one header name become a list of values."""
    form = submitted(
        Kind.HEARTBEAT,
        ("endpoint", "https://x.test/"),
        ("header_name", "X-A"),
        ("header_value", "1"),
        ("header_name", "X-A"),
        ("header_value", "2"),
    )
    assert form.payload()["headers"] == {"X-A": ["1", "2"]}


def test_a_variable_given_twice_is_refused_on_its_field() -> None:
    """The same env name on two rows is an error naming it (a map cannot hold both)."""
    form = submitted(
        Kind.COMMAND,
        ("cmd", "true"),
        ("env_name", "A"),
        ("env_value", "1"),
        ("env_name", "A"),
        ("env_value", "2"),
    )
    with pytest.raises(ValidationError) as caught:
        form.to_body(with_kind=False)
    assert caught.value.errors[0].field == "payload.env.A"


def test_secret_mask_round_trips() -> None:
    """A stored workflow's form reads *** for secrets, and sends *** back (kept by the API)."""
    form = submitted(
        Kind.COMMAND, ("cmd", "true"), ("secret_name", "TOKEN"), ("secret_value", "***")
    )
    assert form.payload()["secrets"] == {"TOKEN": "***"}


@pytest.mark.parametrize(
    ("path", "element"),
    [
        ("name", "f-name"),
        ("interval", "f-interval"),
        ("log_retention_days", "f-retention_days"),
        ("payload.endpoint", "f-endpoint"),
        ("payload.cmd", "f-cmd"),
        ("payload.cmd[1]", "f-cmd-1"),
        ("payload.env.B", "f-env-1"),
        ("payload.env.Z", "f-env"),
        ("payload.headers.X[0]", "f-headers-0"),
        ("payload", "f-form"),
        ("kind", "f-form"),
    ],
)
def test_api_error_paths_land_on_their_element(path: str, element: str) -> None:
    """Each API error path names the input (or row) it belongs to."""
    form = WorkflowForm(Kind.COMMAND, env=[("A", "1"), ("B", "2")], headers=[("X", "1")])
    assert field_id(path, form) == element


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("payload.endpoint", "URL to check"),
        ("payload.cmd[1]", "Command argument 2"),
        ("payload.env.HOME", "Environment HOME"),
        ("interval", "Interval"),
        ("payload.unknown", "payload.unknown"),
    ],
)
def test_error_summary_names_fields_as_the_form_does(path: str, words: str) -> None:
    """The list of problems above the form names each field by its label."""
    assert label(path) == words
