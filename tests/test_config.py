"""Settings: DELPHI_ variables; a bad one stops start-up with one readable line."""

import subprocess
from pathlib import Path

import pytest

from app.config import PLACEHOLDER_SECRET, SettingsError, load_settings

DELPHI = str(Path(__file__).parent.parent / ".venv" / "bin" / "delphi")


def test_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("DELPHI_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./delphi.db" and settings.default_language == "fr"
    monkeypatch.setenv("DELPHI_BASE_URL", "https://delphi.example.org/")
    monkeypatch.setenv("DELPHI_DATABASE_URL", "postgresql://u@db/delphi")
    settings = load_settings()
    assert settings.base_url == "https://delphi.example.org"
    assert settings.database_url == "postgresql+psycopg://u@db/delphi" and not settings.is_sqlite


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"environment": "production"}, "DELPHI_SECRET_KEY"),
        ({"environment": "test", "secret_key": PLACEHOLDER_SECRET}, "DELPHI_SECRET_KEY"),
        ({"base_url": "delphi.example.org"}, "DELPHI_BASE_URL"),
        ({"database_url": "mysql://x"}, "DELPHI_DATABASE_URL"),
        ({"smtp_port": 70000}, "DELPHI_SMTP_PORT"),
        ({"default_language": "de"}, "DELPHI_DEFAULT_LANGUAGE"),
    ],
)
def test_bad_settings_are_one_readable_line(overrides, message):
    with pytest.raises(SettingsError) as info:
        load_settings(**overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_command_stops_with_one_line_and_no_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DELPHI_SMTP_PORT": "twenty-five", "HOME": str(tmp_path)}
    done = subprocess.run([DELPHI, "migrate"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "DELPHI_SMTP_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_app_handles_as_many_requests_at_once_as_configured(tmp_path):
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.migrate import upgrade

    async def threads() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    url = f"sqlite:///{tmp_path}/threads.db"
    upgrade(url)
    settings = load_settings(database_url=url, request_threads=3, run_sender_in_server=False)
    with TestClient(create_app(settings)) as client:
        assert client.portal.call(threads) == 3
        assert client.get("/health").json()["status"] == "ok"
    with pytest.raises(SettingsError, match="DELPHI_REQUEST_THREADS"):
        load_settings(request_threads=0)
