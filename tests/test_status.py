"""The API is mounted, documented, and says who it is."""

from __future__ import annotations

import pytest
from django.test import Client

import emgsonar


@pytest.mark.django_db
def test_status_and_docs(client: Client) -> None:
    response = client.get("/api/status/")
    assert response.status_code == 200
    assert response.json() == {"name": "emgsonar", "version": emgsonar.__version__}
    assert client.get("/api/docs").status_code == 200
    schema = client.get("/api/openapi.json").json()
    assert "/api/status/" in schema["paths"]
    assert "/api/references/" in schema["paths"]
