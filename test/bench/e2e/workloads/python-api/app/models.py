from pydantic import BaseModel, Field


class OrderIn(BaseModel):
    customer: str = Field(min_length=1, max_length=64)
    amount: float = Field(gt=0)


class OrderOut(OrderIn):
    id: int


class Stats(BaseModel):
    count: int
    total: float
    mean: float
    p90: float
