from sqlalchemy import create_engine

from app import __version__
from app.main import create_app
from tests.conftest import settings_for


def test_health_reports_ok_and_the_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "version": __version__}


def test_health_is_503_and_names_no_host_when_the_database_is_unreachable(tmp_path, caplog):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings_for(url), engine=engine, run_sender=False)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body == {"status": "error", "database": "unavailable", "version": __version__}
    assert "127.0.0.1" not in response.text and "nobody" not in response.text
    assert "database is unavailable" in caplog.text  # the reason is in the server's log


def test_api_docs_are_served_from_vendored_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace('lang="en"', "")  # nothing from another host
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "Delphi" and "/api/studies" in schema["paths"]
