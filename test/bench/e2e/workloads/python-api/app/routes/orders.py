import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException

from ..db import Order, Session
from ..models import OrderIn, OrderOut, Stats

router = APIRouter(prefix="/orders")


@router.post("", response_model=OrderOut)
def create(order: OrderIn) -> OrderOut:
    with Session() as s:
        row = Order(customer=order.customer, amount=order.amount)
        s.add(row)
        s.commit()
        return OrderOut(id=row.id, customer=row.customer, amount=row.amount)


@router.get("/stats", response_model=Stats)
def stats() -> Stats:
    with Session() as s:
        rows = s.query(Order.customer, Order.amount).all()
    if not rows:
        raise HTTPException(404, "no orders yet")
    df = pd.DataFrame(rows, columns=["customer", "amount"])
    return Stats(
        count=len(df),
        total=float(df.amount.sum()),
        mean=float(df.amount.mean()),
        p90=float(np.percentile(df.amount, 90)),
    )
