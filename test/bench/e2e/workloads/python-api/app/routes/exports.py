import io

import boto3
import yaml
from fastapi import APIRouter
from jinja2 import Template

router = APIRouter(prefix="/exports")
REPORT = Template("# Orders\n{% for k, v in stats.items() %}- {{ k }}: {{ v }}\n{% endfor %}")


@router.get("/report")
def report(bucket: str | None = None) -> dict:
    body = REPORT.render(stats={"service": "orders"})
    if bucket:
        boto3.client("s3").upload_fileobj(io.BytesIO(body.encode()), bucket, "report.md")
    return {"report": body, "config": yaml.safe_dump({"bucket": bucket})}
