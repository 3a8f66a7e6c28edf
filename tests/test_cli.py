import io
import subprocess
import sys

import pytest
from intent_mediator import RoleLMs, cli


@pytest.mark.parametrize("command", [[], ["chat"]])
def test_help_for_every_command(command):
    out = subprocess.run(
        [sys.executable, "-m", "intent_mediator.cli", *command, "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "usage: intent-mediator" in out.stdout


def test_chat_loop_shows_mediated_requests_and_resets(monkeypatch, tmp_path, engine):
    engine.on(role="mediator", reply=lambda call: {"request": " + ".join(call.user_turns())})
    engine.on(role="assistant", reply=lambda call: f"ok({call.last_user})")
    monkeypatch.setattr(cli, "roles_from_args", lambda args, roles: RoleLMs.scripted(engine))
    rules = tmp_path / "rules.txt"
    rules.write_text("1. Keep numbers.\n\n2) Ignore guesses.\n")
    args = cli.build_parser().parse_args(["chat", "--show-request", "--guidelines", str(rules)])
    stdout = io.StringIO()
    cli.cmd_chat(args, stdin=io.StringIO("sum a list\nonly evens\n/reset\nhello\n/quit\nnever read\n"), stdout=stdout)
    lines = stdout.getvalue().splitlines()
    assert "[mediated request] sum a list + only evens" in lines
    assert "[mediated request] hello" in lines  # the reset dropped the earlier turns
    assert not any("never read" in line for line in lines)
    system = engine.requests_for("mediator")[0].messages[0]["content"]
    assert "1. Keep numbers." in system and "2. Ignore guesses." in system


def test_bad_model_flag_exits_2_with_message(capsys):
    assert cli.main(["chat", "--assistant", "nope/x"]) == 2
    assert "unknown model string 'nope/x'" in capsys.readouterr().err
