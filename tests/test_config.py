import pytest

from gateway.config import Settings, load_settings, settings_from_mapping
from gateway.errors import ConfigError


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr("gateway.config.DEFAULT_CONFIG_PATH", tmp_path / "none.toml")  # whatever this machine has
    settings = load_settings(None, environ={})
    assert settings == Settings()
    assert settings.messaging.max_parts == 10


def test_file_and_environment_overrides(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nport = 9000\n[database]\nurl = "sqlite:///x.db"\n'
                    '[[modems]]\nname = "m1"\nport = "/dev/ttyUSB0"\npin = "1234"\n')
    settings = load_settings(path, environ={"SMSGW_PORT": "9100", "SMSGW_DATABASE_URL": "sqlite:///y.db"})
    assert settings.server.port == 9100
    assert settings.database.url == "sqlite:///y.db"
    assert settings.modems[0].name == "m1" and settings.modems[0].pin == "1234"
    assert settings.modems[0].baudrate == 115200


def test_config_env_variable_names_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[messaging]\nmax_parts = 3\n")
    assert load_settings(None, environ={"SMSGW_CONFIG": str(path)}).messaging.max_parts == 3


@pytest.mark.parametrize("data, field", [
    ({"server": {"prot": 1}}, "server.prot"),
    ({"serverz": {}}, "serverz"),
    ({"server": {"port": "eighty"}}, "server.port"),
    ({"modems": [{"name": "a"}]}, None),
    ({"modems": [{"name": "a", "port": "/x"}, {"name": "a", "port": "/y"}]}, "modems"),
    ({"messaging": {"default_region": "UK"}}, "messaging.default_region"),  # GB: UK is no ISO 3166 code
    ({"messaging": {"default_region": "gb"}}, "messaging.default_region"),
])
def test_bad_config_is_refused(data, field):
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data, {})
    if field:
        assert info.value.field == field


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[server\n")
    with pytest.raises(ConfigError):
        load_settings(path, environ={})


def test_upstreams_are_read_and_share_one_namespace_with_modems():
    settings = settings_from_mapping({
        "modems": [{"name": "modem1", "port": "/dev/ttyUSB0"}],
        "upstreams": [{"name": "backup", "kind": "twilio", "url": "https://api.twilio.com", "account_sid": "AC1",
                       "auth_token": "t", "from": "+447700900001", "cost": 5, "priority": "high"}]})
    [upstream] = settings.upstreams
    assert (upstream.sender, upstream.use, upstream.max_priority, upstream.due_after_s) == (
        "+447700900001", "fallback", 0, 10.0)
    assert upstream.as_modem().port == "https://api.twilio.com"  # no credentials where the port shows
    with pytest.raises(ConfigError, match="names must be unique"):
        settings_from_mapping({"modems": [{"name": "x", "port": "/dev/ttyUSB0"}],
                               "upstreams": [{"name": "x", "kind": "http", "url": "http://127.0.0.1/"}]})
    with pytest.raises(ConfigError, match="array of tables"):
        settings_from_mapping({"upstreams": {"name": "x"}})


@pytest.mark.parametrize("canary", [{"echo_number": "07700900123"}, {"quiet_hours": "22-07"}])
def test_a_wrong_canary_is_refused_at_start(canary):
    with pytest.raises(ConfigError, match="canary"):
        settings_from_mapping({"canary": canary})
