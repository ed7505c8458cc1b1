from common.db import engine

TABLES = ["jobs"]
