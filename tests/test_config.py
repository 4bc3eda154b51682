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
