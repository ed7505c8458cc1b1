from sqlalchemy import Column, DateTime, Float, Integer, String, create_engine, func
from sqlalchemy.orm import DeclarativeBase, sessionmaker

engine = create_engine("sqlite:///:memory:")
Session = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    customer = Column(String(64), nullable=False, index=True)
    amount = Column(Float, nullable=False)
    created_at = Column(DateTime, server_default=func.now())


Base.metadata.create_all(engine)
