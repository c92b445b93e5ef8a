"""The CLI's connection: login/whoami/logout with the config file, and failures as one line
with their exit code (a bad token, an unreachable server, a 404, an invalid definition)."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.e2e.cli.conftest import PASSWORD, Account, Server, new_account
from tests.e2e.processes import base_env, free_port


def _one_line_error(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    assert text.count("\n") == 1, text
    assert text.startswith("error: "), text
    return text


def test_login_keeps_a_token_in_a_private_config_file_and_logout_revokes_it(
    server: Server, tmp_path: Path
) -> None:
    """login (password on stdin) saves URL and a new token (mode 0600) that whoami uses;
    logout revokes the token on the server and removes the file."""
    user = new_account(server, tmp_path)
    env = base_env(XDG_CONFIG_HOME=str(tmp_path))
    login = user.run(
        "login", server.url, "--email", user.email, "--password-stdin", env=env, stdin=PASSWORD
    )
    assert login.returncode == 0, login.stderr
    config = tmp_path / "hourglass" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert f'url = "{server.url}"' in text
    assert 'token = "hg_' in text
    token = text.split('token = "')[1].split('"')[0]
    me = user.run("whoami", "--json", env=env)
    assert me.returncode == 0
    assert f'"email": "{user.email}"' in me.stdout.decode()
    with Account(server, user.email, token, tmp_path).http() as http:
        names = [t["name"] for t in http.get("/tokens").json()["tokens"]]
        assert any(name.startswith("hourglass CLI on ") for name in names)
        assert user.run("logout", env=env).returncode == 0
        assert http.get("/users").status_code == 401
    assert not config.exists()
    assert user.run("whoami", env=env).returncode == 4


def test_a_wrong_password_is_one_line_and_saves_nothing(server: Server, tmp_path: Path) -> None:
    """A refused login says why in one line, exits 4 and writes no config file."""
    user = new_account(server, tmp_path)
    env = base_env(XDG_CONFIG_HOME=str(tmp_path))
    login = user.run(
        "login", server.url, "--email", user.email, "--password-stdin", env=env, stdin="wrong!!!"
    )
    assert login.returncode == 4
    assert "invalid email or password" in _one_line_error(login.stderr).lower()
    assert not (tmp_path / "hourglass").exists()


def test_a_bad_token_is_one_line_exit_4(account: Account) -> None:
    """A token the server refuses: one line saying so and how to log in, exit code 4."""
    done = account.run("workflows", "list", env=account.env(HOURGLASS_TOKEN="hg_not_a_token"))
    assert done.returncode == 4
    assert "hourglass login" in _one_line_error(done.stderr)


def test_an_unreachable_server_is_one_line_exit_7(account: Account) -> None:
    """Nothing listening at the URL: one line naming it, exit code 7."""
    url = f"http://127.0.0.1:{free_port()}"
    done = account.run("jobs", "list", "X", env=account.env(HOURGLASS_URL=url))
    assert done.returncode == 7
    assert f"cannot reach {url}" in _one_line_error(done.stderr)


def test_a_missing_job_is_one_line_exit_5(account: Account) -> None:
    """A 404 from the API: its problem detail in one line, exit code 5."""
    done = account.run("logs", "01JGXYZ5V8T3K9Q2M4N6P7R8S0", "01JGXYZ5V8T3K9Q2M4N6P7R8S0")
    assert done.returncode == 5
    assert _one_line_error(done.stderr) == "error: job not found\n"


def test_an_invalid_definition_names_each_field_exit_6(account: Account) -> None:
    """A 400 with field errors: the detail and every field error on one line, exit code 6."""
    done = account.run(
        "workflows",
        "create",
        "--name",
        "x",
        "--every",
        "5m",
        "--endpoint",
        "ftp://x",
        "--cron",
        "* * * * *",
    )
    assert done.returncode == 6
    assert "payload.endpoint" in _one_line_error(done.stderr)


def test_a_config_file_others_can_read_is_refused(account: Account, tmp_path: Path) -> None:
    """A token file readable by the group or others is not used: say so, exit 3."""
    config = tmp_path / "hourglass" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'url = "{account.server.url}"\ntoken = "{account.token}"\n')
    config.chmod(0o644)
    env = base_env(XDG_CONFIG_HOME=str(tmp_path))
    done = account.run("whoami", env=env)
    assert done.returncode == 3
    assert "chmod 600" in _one_line_error(done.stderr)


def test_a_usage_error_exits_3_not_2(account: Account) -> None:
    """A bad option exits 3: 1 and 2 are a followed job's failed and canceled."""
    assert account.run("logs", "--bogus").returncode == 3
    assert account.run("workflows", "list", "--limit", "0").returncode == 3


def test_shell_completion_script_and_answers(account: Account) -> None:
    """`completion bash` prints click's script; the program answers its completion requests."""
    script = account.run("completion", "bash")
    assert script.returncode == 0
    assert b"_HOURGLASS_COMPLETE=bash_complete" in script.stdout
    env = account.env(
        _HOURGLASS_COMPLETE="bash_complete", COMP_WORDS="hourglass wor", COMP_CWORD="1"
    )
    answers = account.run(env=env).stdout.decode().splitlines()
    assert "plain,workflows" in answers
    assert "plain,worker" in answers


def test_a_server_that_is_not_hourglass_is_one_line(account: Account) -> None:
    """HTML, or JSON of another shape, from whatever listens at the URL: one line, exit 7."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = self.path.startswith("/users")
            body = b"<html>hello</html>" if html else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if html else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        env = account.env(HOURGLASS_URL=f"http://127.0.0.1:{other.server_address[1]}")
        whoami = account.run("whoami", env=env)
        listed = account.run("workflows", "list", env=env)
    finally:
        other.shutdown()
        other.server_close()
    assert whoami.returncode == 7
    assert "Hourglass server?" in _one_line_error(whoami.stderr)
    assert listed.returncode == 7
    assert "unexpected failure: KeyError" in _one_line_error(listed.stderr)
