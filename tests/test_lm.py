import pytest
from intent_mediator import ModelConfigError, RoleLMs, build_lm


@pytest.mark.parametrize("model", ["foo/bar", "gpt4-but-no-provider", "", "openai/"])
def test_unknown_model_string_raises_one_clear_error(model):
    with pytest.raises(ModelConfigError):
        build_lm(model)


def test_api_base_selects_litellm_engine_so_json_mode_survives():
    lm = build_lm("openai/my-local", api_base="http://127.0.0.1:9/v1")
    assert lm.engine == "litellm" and lm.kwargs["api_base"] == "http://127.0.0.1:9/v1"
    assert build_lm("openai/gpt-4o-mini").engine == "auto"


def test_embedded_refuses_endpoints():
    with pytest.raises(ModelConfigError, match="in-process"):
        build_lm("embedded", api_base="http://127.0.0.1:9")
    with pytest.raises(ModelConfigError, match="unknown embedded model"):
        build_lm("embedded/no-such-model")


def test_roles_resolve_flags_then_env_then_default():
    environ = {
        "INTENT_MEDIATOR_MODEL": "openai/gpt-4o-mini",
        "INTENT_MEDIATOR_JUDGE_MODEL": "anthropic/claude-3-5-haiku-latest",
    }
    roles = RoleLMs.from_models({"mediator": "ollama_chat/llama3"}, environ=environ, api_base="http://127.0.0.1:9/v1")
    assert roles.models() == {
        "assistant": "openai/gpt-4o-mini",
        "mediator": "ollama_chat/llama3",
        "user": "openai/gpt-4o-mini",
        "judge": "anthropic/claude-3-5-haiku-latest",
        "refiner": "openai/gpt-4o-mini",
    }
    assert roles.assistant is roles.user  # one client per distinct model string
    assert roles.assistant.kwargs.get("api_base") == "http://127.0.0.1:9/v1"
    assert "api_base" not in roles.judge.kwargs  # only openai/... roles point at the compatible server


def test_roles_reject_unknown_role_and_missing_lm(engine):
    with pytest.raises(ModelConfigError, match="unknown role"):
        RoleLMs.from_models({"critic": "openai/gpt-4o-mini"})
    with pytest.raises(ModelConfigError, match="no LM is configured for the judge role"):
        RoleLMs(assistant=engine.lm()).get("judge")
    assert RoleLMs.scripted(engine).get("refiner").model == "scripted/refiner"


def test_per_role_temperatures():
    roles = RoleLMs.from_models({}, default="openai/gpt-4o-mini", temperature=0.7, temperatures={"mediator": 0.0})
    assert roles.assistant.kwargs["temperature"] == 0.7 and roles.mediator.kwargs["temperature"] == 0.0
    assert roles.assistant is roles.user and roles.mediator is not roles.assistant
    with pytest.raises(ModelConfigError, match="unknown role"):
        RoleLMs.from_models({}, default="openai/gpt-4o-mini", temperatures={"critic": 0.0})


def test_role_temperature_flag(capsys):
    from intent_mediator import cli

    with pytest.raises(SystemExit) as refused:  # argparse's own check of the flag
        cli.main(["chat", "--assistant", "openai/x", "--role-temperature", "mediator=zero"])
    assert refused.value.code == 2
    assert "--role-temperature: 'mediator=zero': expected ROLE=NUMBER" in capsys.readouterr().err
