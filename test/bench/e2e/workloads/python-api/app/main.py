from fastapi import FastAPI

from .routes import exports, orders
from .version import VERSION

app = FastAPI(title="orders", version=VERSION)
app.include_router(orders.router)
app.include_router(exports.router)


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True, "version": VERSION}
