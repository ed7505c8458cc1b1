import os

import yaml


def load(path: str | None = None) -> dict:
    path = path or os.environ.get("APP_CONFIG", "/etc/app.yaml")
    if not os.path.exists(path):
        return {"database_url": "sqlite:///:memory:"}
    with open(path) as f:
        return yaml.safe_load(f)
