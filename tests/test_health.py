import pytest


@pytest.mark.django_db
def test_healthz_reports_database_channel_layer_and_broker(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert "broker" in body["checks"]
