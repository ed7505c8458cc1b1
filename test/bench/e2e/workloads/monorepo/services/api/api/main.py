from common import VERSION
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="api", version=VERSION)


class Job(BaseModel):
    name: str
    payload: dict


@app.post("/jobs")
def submit(job: Job) -> dict:
    return {"queued": job.name}


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True, "version": VERSION}
