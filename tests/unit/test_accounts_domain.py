"""Account rules, pure: emails, passwords, preferences, tokens, CSRF binding, rate-limit math."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from hourglass.domain import accounts as rules
from hourglass.domain.accounts import ApiToken, NotificationPreference, Session
from hourglass.errors import FieldError, ValidationError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE = timedelta(hours=2)


def _field(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return exc.value.errors[0].field


def test_email_is_trimmed_and_lower_cased() -> None:
    """An email is stored without surrounding spaces and in lower case."""
    assert rules.normalize_email("  Alice@Example.COM \n") == "alice@example.com"


@pytest.mark.parametrize(
    "raw", ["", "   ", "alice", "alice@", "@example.com", "alice@example", "a b@example.com"]
)
def test_invalid_emails_are_refused_on_the_email_field(raw: str) -> None:
    """Anything without one @, a local part and a dotted domain is refused, naming `email`."""
    with pytest.raises(ValidationError) as exc:
        rules.normalize_email(raw)
    assert _field(exc) == "email"


def test_an_email_of_254_characters_is_accepted() -> None:
    """254 characters is the longest email allowed."""
    email = "a" * (254 - len("@example.com")) + "@example.com"
    assert rules.normalize_email(email) == email


def test_an_email_of_255_characters_is_refused() -> None:
    """One character over 254 is refused."""
    with pytest.raises(ValidationError) as exc:
        rules.normalize_email("a" * (255 - len("@example.com")) + "@example.com")
    assert "254" in exc.value.errors[0].message


def test_login_email_only_normalises() -> None:
    """The lookup form of an email is trimmed and lower-cased, not checked for its shape."""
    assert rules.login_email("  NOT AN EMAIL ") == "not an email"


BAD_TEXT = ["a\x00b@example.com", "a\ud800@example.com", "a\x01b@example.com", "a\nb@x.com"]


@pytest.mark.parametrize("raw", BAD_TEXT)
def test_emails_with_nul_control_characters_or_lone_surrogates_are_refused(raw: str) -> None:
    """No account can have such an email: sign-up refuses it naming `email`."""
    with pytest.raises(ValidationError) as exc:
        rules.normalize_email(raw)
    assert _field(exc) == "email"


@pytest.mark.parametrize("raw", BAD_TEXT)
def test_login_lookups_refuse_text_no_account_can_have(raw: str) -> None:
    """A login with such an email is refused naming `email` before it reaches the store."""
    with pytest.raises(ValidationError) as exc:
        rules.login_email(raw)
    assert _field(exc) == "email"
    with pytest.raises(ValidationError):
        rules.login_limit_keys(raw, "127.0.0.1")


@pytest.mark.parametrize("password", ["correct horse\x00", "correct horse\ud800"])
def test_passwords_with_nul_or_lone_surrogates_are_refused(password: str) -> None:
    """A password must be text argon2 can hash the same way every time: no NUL, valid Unicode."""
    problem = rules.password_problem(password, "new_password")
    assert problem is not None
    assert problem.field == "new_password"


def test_a_non_ascii_password_is_fine() -> None:
    """Any valid Unicode password of the right length is accepted."""
    assert rules.password_problem("pässwörd-😀") is None


@pytest.mark.parametrize("length", [8, 128])
def test_passwords_of_8_to_128_characters_are_accepted(length: int) -> None:
    """The password bounds are inclusive."""
    assert rules.password_problem("p" * length) is None


@pytest.mark.parametrize(("length", "word"), [(7, "least"), (129, "most")])
def test_passwords_outside_the_bounds_are_refused(length: int, word: str) -> None:
    """7 and 129 characters are refused with a message stating the bound."""
    problem = rules.password_problem("p" * length)
    assert problem is not None
    assert problem.field == "password"
    assert word in problem.message


def test_password_check_names_the_given_field() -> None:
    """The same rule reports under the field it was asked about (e.g. `new_password`)."""
    with pytest.raises(ValidationError) as exc:
        rules.check_password("short", "new_password")
    assert exc.value.errors == [FieldError("new_password", "must be at least 8 characters")]


@pytest.mark.parametrize("value", ["ALL", "ALERTS", "NONE"])
def test_every_notification_preference_parses(value: str) -> None:
    """ALL, ALERTS and NONE are the preferences."""
    assert rules.parse_preference(value) is NotificationPreference(value)


@pytest.mark.parametrize("value", ["all", "SOME", ""])
def test_unknown_preferences_are_refused_naming_the_field(value: str) -> None:
    """Preferences are case-sensitive and closed; the error names `notification_preference`."""
    with pytest.raises(ValidationError) as exc:
        rules.parse_preference(value)
    assert _field(exc) == "notification_preference"


def test_token_name_is_trimmed() -> None:
    """A token name keeps no surrounding spaces."""
    assert rules.token_name("  ci deploy ") == "ci deploy"


@pytest.mark.parametrize("raw", ["", "   ", "n" * 101])
def test_token_names_must_have_1_to_100_characters(raw: str) -> None:
    """Blank or over-long token names are refused naming `name`."""
    with pytest.raises(ValidationError) as exc:
        rules.token_name(raw)
    assert _field(exc) == "name"


@pytest.mark.parametrize("raw", ["ci\x00", "ci\ud800", "c\ti", "c\x1bi"])
def test_token_names_with_control_characters_or_lone_surrogates_are_refused(raw: str) -> None:
    """A token name with NUL, a control character or a lone surrogate is refused on `name`."""
    with pytest.raises(ValidationError) as exc:
        rules.token_name(raw)
    assert _field(exc) == "name"


def test_a_token_without_lifetime_never_expires() -> None:
    """No `expires_in_days` means no expiry."""
    assert rules.token_expiry(NOW, None) is None


@pytest.mark.parametrize("days", [1, 3650])
def test_token_expiry_is_days_after_creation(days: int) -> None:
    """A token expires exactly `expires_in_days` days after it was made."""
    assert rules.token_expiry(NOW, days) == NOW + timedelta(days=days)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_token_lifetimes_outside_1_to_3650_days_are_refused(days: int) -> None:
    """Zero, negative and over-ten-year lifetimes are refused naming `expires_in_days`."""
    with pytest.raises(ValidationError) as exc:
        rules.token_expiry(NOW, days)
    assert _field(exc) == "expires_in_days"


def test_token_hash_is_hex_sha256() -> None:
    """What is stored of a token is its SHA-256 in hex."""
    assert rules.token_hash("secret") == hashlib.sha256(b"secret").hexdigest()


def test_csrf_token_is_stable_per_session() -> None:
    """The same session token always yields the same CSRF token."""
    assert rules.csrf_token_for("session-a") == rules.csrf_token_for("session-a")


def test_csrf_tokens_differ_between_sessions() -> None:
    """Another session's CSRF token is never valid for this one."""
    assert rules.csrf_token_for("session-a") != rules.csrf_token_for("session-b")


def test_csrf_token_reveals_nothing_of_the_session_token() -> None:
    """The readable CSRF token is neither the session token nor its stored hash."""
    csrf = rules.csrf_token_for("session-a")
    assert "session-a" not in csrf
    assert csrf != rules.token_hash("session-a")


def test_login_limit_keys_are_the_email_and_the_address() -> None:
    """One attempt counts against its (normalised) email and its client address."""
    keys = rules.login_limit_keys(" Alice@Example.com ", "10.0.0.1")
    assert keys == [f"email:{rules.token_hash('alice@example.com')}", "addr:10.0.0.1"]


def test_login_limit_keys_are_bounded_whatever_the_input() -> None:
    """A megabyte of email still makes a short key (the store's column is 300 characters)."""
    keys = rules.login_limit_keys("x" * 1_000_000, "y" * 1000)
    assert all(len(key) <= 300 for key in keys)


def test_retry_after_is_when_the_limiting_failure_leaves_the_window() -> None:
    """Retry-After counts to the moment the limiting failure is a full window old."""
    failed_at = NOW - timedelta(minutes=5)
    assert rules.retry_after_seconds(failed_at, timedelta(minutes=15), NOW) == 600


def test_retry_after_rounds_up() -> None:
    """A fraction of a second left is still one more second to wait."""
    failed_at = NOW - timedelta(seconds=899, microseconds=500_000)
    assert rules.retry_after_seconds(failed_at, timedelta(minutes=15), NOW) == 1


def test_retry_after_is_at_least_one_second() -> None:
    """Retry-After is never zero or negative."""
    assert rules.retry_after_seconds(NOW - timedelta(hours=1), timedelta(minutes=15), NOW) == 1


def _session(last_seen: datetime, expires: datetime) -> Session:
    return Session("h", "u", NOW - timedelta(days=1), last_seen, expires)


def test_a_recently_used_session_is_valid() -> None:
    """A session used within the idle window and before its absolute expiry is valid."""
    assert _session(NOW - timedelta(minutes=5), NOW + timedelta(days=1)).is_valid(NOW, IDLE)


def test_a_session_idle_for_the_whole_window_is_invalid() -> None:
    """Idle expiry is exclusive: exactly `idle` after the last use the session is gone."""
    assert not _session(NOW - IDLE, NOW + timedelta(days=1)).is_valid(NOW, IDLE)


def test_a_session_past_its_absolute_expiry_is_invalid_however_fresh() -> None:
    """Activity never extends a session past its absolute lifetime."""
    assert not _session(NOW, NOW).is_valid(NOW, IDLE)


def test_a_token_without_expiry_is_always_valid() -> None:
    """A token made without a lifetime stays valid until revoked."""
    token = ApiToken("t", "u", "n", NOW, None, None)
    assert token.is_valid(NOW + timedelta(days=10_000))


def test_a_token_is_invalid_from_its_expiry_on() -> None:
    """A token stops working at its expiry instant."""
    token = ApiToken("t", "u", "n", NOW, NOW + timedelta(days=1), None)
    assert token.is_valid(NOW + timedelta(days=1) - timedelta(microseconds=1))
    assert not token.is_valid(NOW + timedelta(days=1))


def test_a_session_is_stamped_at_most_once_a_minute() -> None:
    """With the default two-hour idle window, a use 59 s after the last stamp writes nothing."""
    two_hours = timedelta(hours=2)
    assert not rules.session_needs_touch(NOW - timedelta(seconds=59), NOW, two_hours)
    assert rules.session_needs_touch(NOW - timedelta(seconds=60), NOW, two_hours)


def test_a_short_idle_window_is_stamped_every_tenth_of_it() -> None:
    """With a 60 s idle window the stamp is renewed after 6 s, so use keeps the session alive."""
    minute = timedelta(seconds=60)
    assert not rules.session_needs_touch(NOW - timedelta(seconds=5), NOW, minute)
    assert rules.session_needs_touch(NOW - timedelta(seconds=6), NOW, minute)


def test_an_email_over_the_limit_with_surrounding_blanks_is_refused() -> None:
    """The schema's `maxLength` counts what was sent, surrounding blanks included: a 254-char
    address with blanks around it is refused, one that fits with its blanks is taken."""
    longest = "a" * (rules.EMAIL_MAX - len("@example.io")) + "@example.io"
    with pytest.raises(ValidationError, match="at most 254"):
        rules.normalize_email("\t\n " + longest)
    fits = longest[3:]
    assert rules.normalize_email(" " + fits + "\n ") == fits
